//go:build !windows

// Signals are sent to the test process itself, which Windows cannot do.

package shutdown

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serveUntilStopped blocks like ListenAndServe until the returned stop is called.
func serveUntilStopped() (serve func() error, running <-chan struct{}, stop func(context.Context) error) {
	started, stopped := make(chan struct{}), make(chan struct{})
	var once sync.Once
	serve = func() error { close(started); <-stopped; return http.ErrServerClosed }
	stop = func(context.Context) error { once.Do(func() { close(stopped) }); return nil }
	return serve, started, stop
}

func TestSIGTERMStartsTheShutdown(t *testing.T) {
	s, out := quiet(time.Second)
	serve, running, stop := serveUntilStopped()
	s.RegisterHook("http", stop)
	go func() {
		<-running // Serve listens for signals before it starts serve
		_ = syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	}()
	if code := s.Serve(serve); code != ExitClean {
		t.Fatalf("exit code %d, want %d", code, ExitClean)
	}
	if !strings.Contains(out.String(), "shutdown: terminated: running 1 hook(s)") {
		t.Fatalf("log does not say SIGTERM started it:\n%s", out)
	}
}

func TestSecondSignalForcesTheExit(t *testing.T) {
	s, _ := quiet(10 * time.Second)
	exited := make(chan int, 1)
	s.exit = func(code int) { exited <- code }
	serve, running, stop := serveUntilStopped()
	release := make(chan struct{})
	defer close(release)
	s.RegisterHook("http", stop)
	s.RegisterHook("wal", func(context.Context) error { <-release; return nil })
	go func() {
		<-running
		_ = syscall.Kill(syscall.Getpid(), syscall.SIGINT)
		time.Sleep(200 * time.Millisecond)
		_ = syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	}()
	go s.Serve(serve)
	select {
	case code := <-exited:
		if code != ExitForced {
			t.Fatalf("exit code %d, want %d", code, ExitForced)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a second signal did not force the exit")
	}
}
