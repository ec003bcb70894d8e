package servicecontrol

import (
	"sync"
	"testing"
	"time"
)

const (
	startHint = 60 * time.Second
	drain     = 30 * time.Second
	margin    = 5 * time.Second
)

var t0 = time.Date(2025, 12, 23, 0, 0, 0, 0, time.UTC)

func testConfig() Config { return Config{StartWaitHint: startHint, StopMargin: margin} }

func running(t *testing.T) *Machine {
	t.Helper()
	m := NewMachine(testConfig(), t0)
	if _, send := m.Started(drain); !send {
		t.Fatal("Started did not report Running")
	}
	return m
}

func TestMachineStartsPendingAcceptingNothing(t *testing.T) {
	s := NewMachine(testConfig(), t0).Status()
	want := Status{State: StartPending, CheckPoint: 1, WaitHint: startHint}
	if s != want {
		t.Fatalf("first status %+v, want %+v", s, want)
	}
}

func TestStartedReportsRunningAcceptingEveryStop(t *testing.T) {
	m := NewMachine(testConfig(), t0)
	s, send := m.Started(drain)
	if !send || s != (Status{State: Running, Accepts: AcceptStop | AcceptShutdown | AcceptPreShutdown}) {
		t.Fatalf("Started = %+v, %v", s, send)
	}
	if _, send := m.Started(drain); send {
		t.Fatal("a second Started reported again")
	}
}

func TestStopShutdownAndPreShutdownStopARunningService(t *testing.T) {
	for _, c := range []Command{Stop, Shutdown, PreShutdown} {
		t.Run(c.String(), func(t *testing.T) {
			m := running(t)
			s, send, stop := m.Command(c, t0)
			want := Status{State: StopPending, CheckPoint: 1, WaitHint: drain + margin}
			if !send || !stop || s != want {
				t.Fatalf("Command(%v) = %+v, %v, %v; want %+v, true, true", c, s, send, stop, want)
			}
			if !m.StopAsked() {
				t.Fatal("the stop is not recorded as asked by the manager")
			}
			// StopPending accepts nothing: a repeated stop changes nothing.
			for _, again := range []Command{Stop, Shutdown, PreShutdown} {
				if _, send, stop := m.Command(again, t0); send || stop {
					t.Fatalf("%v while stopping: send %v, stop %v", again, send, stop)
				}
			}
			if f := m.Finished(); f != (Status{State: Stopped, ExitCode: ExitClean}) {
				t.Fatalf("Finished = %+v, want Stopped with exit code 0", f)
			}
		})
	}
}

func TestStopWhileStartingIsNotTaken(t *testing.T) {
	m := NewMachine(testConfig(), t0)
	for _, c := range []Command{Stop, Shutdown, PreShutdown} {
		if s, send, stop := m.Command(c, t0); send || stop || s.State != StartPending {
			t.Fatalf("%v while starting: %+v, send %v, stop %v", c, s, send, stop)
		}
	}
}

func TestInterrogateRepeatsTheCurrentStatusInEveryState(t *testing.T) {
	m := NewMachine(testConfig(), t0)
	check := func(state State) {
		t.Helper()
		s, send, stop := m.Command(Interrogate, t0)
		if !send || stop || s != m.Status() || s.State != state {
			t.Fatalf("Interrogate = %+v, %v, %v in %v", s, send, stop, state)
		}
	}
	check(StartPending)
	m.Started(drain)
	check(Running)
	m.Command(Stop, t0)
	check(StopPending)
}

func TestAStopTheManagerDidNotAskForExitsNonZero(t *testing.T) {
	m := running(t)
	s, send := m.Stopping(t0)
	if !send || s != (Status{State: StopPending, CheckPoint: 1, WaitHint: drain + margin}) {
		t.Fatalf("Stopping = %+v, %v", s, send)
	}
	if _, send, stop := m.Command(Stop, t0); send || stop {
		t.Fatal("a Stop after a signal started the shutdown was taken")
	}
	if f := m.Finished(); f.State != Stopped || f.ExitCode != ExitFailed {
		t.Fatalf("Finished = %+v, want Stopped with exit code %d", f, ExitFailed)
	}
}

// The SCM counts any exit code but 0 as a failure, which the recovery actions act on
// (failureflag 1): a stop it asked for must end with 0, one it did not with another.
func TestExitCodesAsTheSCMReadsThem(t *testing.T) {
	if ExitClean != 0 || ExitFailed == 0 {
		t.Fatalf("ExitClean %d, ExitFailed %d: want 0 and not 0", ExitClean, ExitFailed)
	}
}

func TestTicksShowProgressUntilTheWaitHintHasPassed(t *testing.T) {
	m := NewMachine(testConfig(), t0)
	if s, send := m.Tick(t0.Add(time.Second)); !send || s.CheckPoint != 2 {
		t.Fatalf("tick while starting: %+v, %v", s, send)
	}
	if _, send := m.Tick(t0.Add(startHint)); send {
		t.Fatal("a start past its wait hint still shows progress")
	}
	m.Started(drain)
	if _, send := m.Tick(t0.Add(time.Second)); send {
		t.Fatal("a tick while running reported")
	}
	stopAt := t0.Add(time.Hour)
	m.Command(Stop, stopAt)
	for i := uint32(2); i <= 4; i++ {
		if s, send := m.Tick(stopAt.Add(time.Duration(i) * time.Second)); !send || s.CheckPoint != i || s.State != StopPending {
			t.Fatalf("tick %d while stopping: %+v, %v", i, s, send)
		}
	}
	if _, send := m.Tick(stopAt.Add(drain + margin)); send {
		t.Fatal("a stop past its wait hint still shows progress")
	}
}

// scm plays the Service Control Manager around Service.Execute.
type scm struct {
	commands chan Command
	ticks    chan time.Time
	reports  chan Status
	exit     chan uint32
}

func startSCM(t *testing.T, s *Service) *scm {
	t.Helper()
	m := &scm{commands: make(chan Command), ticks: make(chan time.Time), reports: make(chan Status, 16),
		exit: make(chan uint32, 1)}
	go func() {
		code := s.Execute(m.commands, func(st Status) { m.reports <- st }, m.ticks)
		m.exit <- code
		s.Close() // the dispatcher returned after reporting Stopped
	}()
	return m
}

func (m *scm) next(t *testing.T) Status {
	t.Helper()
	select {
	case s := <-m.reports:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no status report within 5 s")
		return Status{}
	}
}

func (m *scm) exitCode(t *testing.T) uint32 {
	t.Helper()
	select {
	case c := <-m.exit:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("Execute did not return within 5 s")
		return 0
	}
}

func wantState(t *testing.T, s Status, state State) {
	t.Helper()
	if s.State != state {
		t.Fatalf("report %+v, want %v", s, state)
	}
}

func TestServiceStopAskedByTheSCM(t *testing.T) {
	for _, c := range []Command{Stop, Shutdown, PreShutdown} {
		t.Run(c.String(), func(t *testing.T) {
			s := NewService(testConfig())
			m := startSCM(t, s)
			wantState(t, m.next(t), StartPending)
			m.ticks <- time.Now()
			if r := m.next(t); r.State != StartPending || r.CheckPoint != 2 {
				t.Fatalf("tick while starting reported %+v", r)
			}
			s.Started(drain)
			if r := m.next(t); r.State != Running || r.Accepts != AcceptStopping {
				t.Fatalf("after Started: %+v", r)
			}
			select {
			case <-s.StopRequested():
				t.Fatal("stop requested before the SCM asked")
			default:
			}
			m.commands <- c
			if r := m.next(t); r.State != StopPending || r.WaitHint != drain+margin {
				t.Fatalf("after %v: %+v", c, r)
			}
			<-s.StopRequested()
			m.commands <- Interrogate // the hooks run: it is still answered
			wantState(t, m.next(t), StopPending)
			s.Finished()
			if code := m.exitCode(t); code != ExitClean {
				t.Fatalf("exit code %d, want %d", code, ExitClean)
			}
		})
	}
}

func TestServiceStoppedByASignalExitsNonZero(t *testing.T) {
	s := NewService(testConfig())
	m := startSCM(t, s)
	wantState(t, m.next(t), StartPending)
	s.Started(drain)
	wantState(t, m.next(t), Running)
	s.Stopping()
	wantState(t, m.next(t), StopPending)
	s.Finished()
	if code := m.exitCode(t); code != ExitFailed {
		t.Fatalf("exit code %d, want %d", code, ExitFailed)
	}
}

func TestServerMayStartBeforeTheDispatcherConnects(t *testing.T) {
	s := NewService(testConfig())
	s.Started(drain) // Wait called before the SCM called Execute
	m := startSCM(t, s)
	wantState(t, m.next(t), StartPending)
	wantState(t, m.next(t), Running)
	m.commands <- Stop
	wantState(t, m.next(t), StopPending)
	s.Finished()
	if code := m.exitCode(t); code != ExitClean {
		t.Fatalf("exit code %d", code)
	}
}

func TestFinishedWaitsForTheFinalReport(t *testing.T) {
	s := NewService(Config{StartWaitHint: startHint, StopMargin: margin, FinishWait: 5 * time.Second})
	m := &scm{commands: make(chan Command), ticks: make(chan time.Time), reports: make(chan Status, 16)}
	var mu sync.Mutex
	closedAt := time.Time{}
	go func() {
		s.Execute(m.commands, func(st Status) { m.reports <- st }, m.ticks)
		time.Sleep(100 * time.Millisecond) // the dispatcher reports Stopped
		mu.Lock()
		closedAt = time.Now()
		mu.Unlock()
		s.Close()
	}()
	s.Started(drain)
	s.Stopping()
	s.Finished()
	mu.Lock()
	defer mu.Unlock()
	if closedAt.IsZero() {
		t.Fatal("Finished returned before the dispatcher took the final report")
	}
}

func TestFinishedDoesNotHangWithoutADispatcher(t *testing.T) {
	s := NewService(Config{FinishWait: 50 * time.Millisecond})
	s.Started(drain)
	started := time.Now()
	s.Finished()
	if took := time.Since(started); took > 2*time.Second {
		t.Fatalf("Finished took %v without a dispatcher", took)
	}
	s.Close()
	s.Close() // the dispatcher's goroutine and a failed Run may both close
}
