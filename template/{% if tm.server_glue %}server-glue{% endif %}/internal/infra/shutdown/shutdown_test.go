package shutdown

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// quiet returns a Shutdown whose log goes to the returned buffer.
func quiet(timeout time.Duration) (*Shutdown, *syncBuffer) {
	s := New(timeout)
	out := &syncBuffer{}
	s.logger = log.New(out, "", 0)
	return s, out
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestHooksRunInRegistrationOrder(t *testing.T) {
	s, _ := quiet(time.Second)
	var order []string
	for _, name := range []string{"http", "wal", "snapshot"} {
		name := name
		s.RegisterHook(name, func(context.Context) error { order = append(order, name); return nil })
	}
	if err := s.Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := strings.Join(order, ","); got != "http,wal,snapshot" {
		t.Fatalf("hooks ran as %s", got)
	}
}

func TestHooksShareOneDeadline(t *testing.T) {
	s, _ := quiet(300 * time.Millisecond)
	var deadlines []time.Time
	for i := 0; i < 2; i++ {
		s.RegisterHook("step", func(ctx context.Context) error {
			d, _ := ctx.Deadline()
			deadlines = append(deadlines, d)
			return nil
		})
	}
	if err := s.Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(deadlines) != 2 || !deadlines[0].Equal(deadlines[1]) {
		t.Fatalf("deadlines %v, want one shared", deadlines)
	}
}

func TestFailedHookIsReportedAndLaterHooksStillRun(t *testing.T) {
	s, out := quiet(time.Second)
	flushed := false
	s.RegisterHook("http", func(context.Context) error { return errors.New("listener already closed") })
	s.RegisterHook("wal", func(context.Context) error { flushed = true; return nil })
	err := s.Run()
	var hookErr *HookError
	if !errors.As(err, &hookErr) || hookErr.Hook != "http" || hookErr.CutOff {
		t.Fatalf("Run = %v, want the http hook's failure", err)
	}
	if !flushed {
		t.Fatal("the wal hook did not run after the http hook failed")
	}
	if ExitCode(err) != ExitFailed {
		t.Fatalf("exit code %d, want %d", ExitCode(err), ExitFailed)
	}
	if !strings.Contains(out.String(), `hook "http" failed`) {
		t.Fatalf("log does not name the failed hook:\n%s", out)
	}
}

func TestHookPastTheDeadlineIsCutOffAndNamed(t *testing.T) {
	s, out := quiet(100 * time.Millisecond)
	release := make(chan struct{})
	defer close(release)
	later := false
	s.RegisterHook("http", func(context.Context) error { return nil })
	s.RegisterHook("wal", func(context.Context) error { <-release; return nil }) // ignores ctx
	s.RegisterHook("snapshot", func(context.Context) error { later = true; return nil })

	started := time.Now()
	err := s.Run()
	took := time.Since(started)

	var hookErr *HookError
	if !errors.As(err, &hookErr) || hookErr.Hook != "wal" || !hookErr.CutOff {
		t.Fatalf("Run = %v, want the wal hook cut off", err)
	}
	if took > time.Second {
		t.Fatalf("Run returned after %v: the deadline did not force it", took)
	}
	if later {
		t.Fatal("a hook after the one cut off still ran")
	}
	if ExitCode(err) != ExitForced {
		t.Fatalf("exit code %d, want %d", ExitCode(err), ExitForced)
	}
	if !strings.Contains(out.String(), `hook "wal" cut off`) {
		t.Fatalf("log does not name the hook cut off:\n%s", out)
	}
}

func TestHookThatHonoursTheDeadlineIsCutOffToo(t *testing.T) {
	s, _ := quiet(50 * time.Millisecond)
	s.RegisterHook("http", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	if code := ExitCode(s.Run()); code != ExitForced {
		t.Fatalf("exit code %d, want %d", code, ExitForced)
	}
}

func TestNoHooksExitsClean(t *testing.T) {
	s, _ := quiet(time.Second)
	if code := ExitCode(s.Run()); code != ExitClean {
		t.Fatalf("exit code %d, want %d", code, ExitClean)
	}
}

func TestDefaultTimeoutIsTheRenderedOne(t *testing.T) {
	if got := New(0).Timeout(); got != DefaultTimeout {
		t.Fatalf("New(0).Timeout() = %v, want %v", got, DefaultTimeout)
	}
}

// server is an HTTP server on a loopback port with a handler that takes its time.
func server(t *testing.T, hold time.Duration, finished *time.Time, mu *sync.Mutex) (*http.Server, net.Listener) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(hold)
		mu.Lock()
		*finished = time.Now()
		mu.Unlock()
		_, _ = io.WriteString(w, "done")
	})}
	return srv, listener
}

func TestTriggerDrainsTheRequestInFlightBeforeTheWALIsFlushed(t *testing.T) {
	var mu sync.Mutex
	var answered, flushStarted time.Time
	srv, listener := server(t, 300*time.Millisecond, &answered, &mu)
	s, _ := quiet(5 * time.Second)
	s.RegisterHook("http", srv.Shutdown)
	s.RegisterHook("wal", func(context.Context) error {
		mu.Lock()
		flushStarted = time.Now()
		mu.Unlock()
		return nil
	})

	reply := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + listener.Addr().String() + "/slow")
		if err != nil {
			reply <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		reply <- string(body)
	}()
	go func() {
		time.Sleep(100 * time.Millisecond) // the request is in flight
		s.Trigger("test")
	}()

	code := s.Serve(func() error { return srv.Serve(listener) })
	if code != ExitClean {
		t.Fatalf("exit code %d, want %d", code, ExitClean)
	}
	if got := <-reply; got != "done" {
		t.Fatalf("the request in flight got %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if flushStarted.Before(answered) {
		t.Fatal("the WAL flush started before the request in flight was answered")
	}
}

func TestServerStoppingOnItsOwnStillRunsTheHooksAndExitsNonZero(t *testing.T) {
	s, out := quiet(time.Second)
	flushed := false
	s.RegisterHook("wal", func(context.Context) error { flushed = true; return nil })
	code := s.Serve(func() error { return errors.New("listen tcp: address already in use") })
	if code != ExitFailed {
		t.Fatalf("exit code %d, want %d", code, ExitFailed)
	}
	if !flushed {
		t.Fatal("the WAL was not flushed after the server stopped on its own")
	}
	if !strings.Contains(out.String(), "address already in use") {
		t.Fatalf("log does not say why the server stopped:\n%s", out)
	}
}
