package shutdown

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeManager plays the service manager (the Windows SCM) on every OS.
type fakeManager struct {
	mu       sync.Mutex
	calls    []string
	drain    time.Duration
	stop     chan struct{}
	finished chan struct{}
}

func newFakeManager() *fakeManager {
	return &fakeManager{stop: make(chan struct{}), finished: make(chan struct{})}
}

func (f *fakeManager) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeManager) Started(drain time.Duration) {
	f.mu.Lock()
	f.drain = drain
	f.mu.Unlock()
	f.record("started")
}
func (f *fakeManager) StopRequested() <-chan struct{} { return f.stop }
func (f *fakeManager) Stopping()                      { f.record("stopping") }
func (f *fakeManager) Finished()                      { f.record("finished"); close(f.finished) }

func (f *fakeManager) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// recorder collects the hooks' calls in order.
type recorder struct {
	mu    sync.Mutex
	order []string
}

func (r *recorder) hook(name string, err error) func(context.Context) error {
	return func(context.Context) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.order = append(r.order, name)
		return err
	}
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

// managed returns a Handler that a fake manager started.
func managed(timeout time.Duration) (*Handler, *fakeManager) {
	f := newFakeManager()
	h := NewHandler(timeout)
	h.service = f
	return h, f
}

// waitAsync runs Wait and returns its result's channel.
func waitAsync(h *Handler) <-chan error {
	errCh := make(chan error, 1)
	go func() { errCh <- h.Wait() }()
	return errCh
}

func result(t *testing.T, errCh <-chan error) error {
	t.Helper()
	select {
	case err := <-errCh:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return within 5 s")
		return nil
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGlueNoServiceManagerUnlessOneStartedTheProcess(t *testing.T) {
	if NewHandler(time.Second).service != nil {
		t.Fatal("a Handler outside a service has a service manager")
	}
	f := newFakeManager()
	startedBy = f
	defer func() { startedBy = nil }()
	if h := NewHandler(time.Second); h.service != f {
		t.Fatal("NewHandler did not take the manager that started the process")
	}
}

func TestGlueManagerStopRunsTheHooksInReverseOrder(t *testing.T) {
	h, f := managed(30 * time.Second)
	var r recorder
	for _, name := range []string{"cluster", "redis", "http", "storage"} { // main.go's order
		h.OnShutdown(r.hook(name, nil))
	}
	errCh := waitAsync(h)
	waitFor(t, func() bool { return len(f.recorded()) == 1 }) // Wait reported Running
	f.mu.Lock()
	drain := f.drain
	f.mu.Unlock()
	if drain != 30*time.Second {
		t.Fatalf("Started with drain %v, want the Handler's timeout", drain)
	}
	if len(r.got()) != 0 {
		t.Fatal("hooks ran before the stop")
	}
	close(f.stop)
	if err := result(t, errCh); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if got, want := r.got(), []string{"storage", "http", "redis", "cluster"}; !equal(got, want) {
		t.Fatalf("hooks ran as %v, want %v", got, want)
	}
	if got := f.recorded(); !equal(got, []string{"started", "finished"}) {
		t.Fatalf("the manager was told %v, want started, finished", got)
	}
}

func TestGlueHooksShareOneDeadlineTimeoutAfterTheStop(t *testing.T) {
	h, f := managed(200 * time.Millisecond)
	var deadlines []time.Time
	var errs []error
	var mu sync.Mutex
	record := func(ctx context.Context) error {
		d, _ := ctx.Deadline()
		mu.Lock()
		deadlines = append(deadlines, d)
		errs = append(errs, ctx.Err())
		mu.Unlock()
		return nil
	}
	h.OnShutdown(record) // runs last, after the deadline
	h.OnShutdown(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	h.OnShutdown(record) // runs first
	errCh := waitAsync(h)
	waitFor(t, func() bool { return len(f.recorded()) == 1 })
	stoppedAt := time.Now()
	close(f.stop)
	err := result(t, errCh)
	took := time.Since(stoppedAt)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the hook's context.DeadlineExceeded", err)
	}
	if took < 200*time.Millisecond || took > 2*time.Second {
		t.Fatalf("Wait took %v, want about the 200ms timeout", took)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(deadlines) != 2 || !deadlines[0].Equal(deadlines[1]) {
		t.Fatalf("deadlines %v, want one shared by every hook", deadlines)
	}
	if d := deadlines[0].Sub(stoppedAt); d < 150*time.Millisecond || d > time.Second {
		t.Fatalf("the deadline is %v after the stop, want the 200ms timeout", d)
	}
	if errs[0] != nil || !errors.Is(errs[1], context.DeadlineExceeded) {
		t.Fatalf("contexts' errors %v: the hook after the deadline must still run, with an expired context", errs)
	}
}

func TestGlueWaitReturnsTheLastHookErrorAndRunsEveryHook(t *testing.T) {
	h, f := managed(time.Second)
	first, second := errors.New("registered first"), errors.New("registered second")
	var r recorder
	h.OnShutdown(r.hook("a", first))
	h.OnShutdown(r.hook("b", second))
	h.OnShutdown(r.hook("c", nil))
	errCh := waitAsync(h)
	close(f.stop)
	// Reverse order: c, b (fails), a (fails last): Wait returns a's error.
	if err := result(t, errCh); err != first {
		t.Fatalf("Wait = %v, want %v", err, first)
	}
	if got := r.got(); !equal(got, []string{"c", "b", "a"}) {
		t.Fatalf("hooks ran as %v", got)
	}
	if got := f.recorded(); !equal(got, []string{"started", "finished"}) {
		t.Fatalf("the manager was told %v: a hook's error must not change what it is told", got)
	}
}

func TestGlueDoneClosesAfterTheHooksAndTheManagerWasTold(t *testing.T) {
	h, f := managed(time.Second)
	release := make(chan struct{})
	h.OnShutdown(func(context.Context) error { <-release; return nil })
	errCh := waitAsync(h)
	close(f.stop)
	select {
	case <-h.Done():
		t.Fatal("Done closed while a hook runs")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-h.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done did not close after the hooks")
	}
	select {
	case <-f.finished:
	default:
		t.Fatal("Done closed before the manager was told the hooks are done")
	}
	if err := result(t, errCh); err != nil {
		t.Fatalf("Wait = %v", err)
	}
}

func TestGlueNoHooks(t *testing.T) {
	h, f := managed(time.Second)
	errCh := waitAsync(h)
	close(f.stop)
	if err := result(t, errCh); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	<-h.Done()
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 5 s")
}
