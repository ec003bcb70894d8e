//go:build !windows

// Signals are sent to the test process itself, which Windows cannot do.

package shutdown

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// signalWhenWaiting sends sig once Wait listens (Wait gives no sign of it, so give it time).
func signalWhenWaiting(t *testing.T, sig syscall.Signal) {
	t.Helper()
	time.Sleep(100 * time.Millisecond)
	if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
		t.Fatal(err)
	}
}

func TestGlueSIGTERMAndSIGINTRunTheHooksInReverseOrder(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			h := NewHandler(time.Second)
			var r recorder
			h.OnShutdown(r.hook("http", nil))
			h.OnShutdown(r.hook("storage", nil))
			errCh := waitAsync(h)
			signalWhenWaiting(t, sig)
			if err := result(t, errCh); err != nil {
				t.Fatalf("Wait = %v", err)
			}
			if got := r.got(); !equal(got, []string{"storage", "http"}) {
				t.Fatalf("hooks ran as %v", got)
			}
			<-h.Done()
		})
	}
}

func TestGlueASecondSignalWhileTheHooksRunIsIgnored(t *testing.T) {
	h := NewHandler(5 * time.Second)
	var calls atomic.Int32
	running, release := make(chan struct{}), make(chan struct{})
	h.OnShutdown(func(context.Context) error {
		calls.Add(1)
		close(running)
		<-release
		return nil
	})
	errCh := waitAsync(h)
	signalWhenWaiting(t, syscall.SIGINT)
	<-running
	// As in tokmesh-go: the second signal neither kills the process nor runs
	// the hooks again; the shutdown goes on.
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	select {
	case <-errCh:
		t.Fatal("Wait returned before the hook did")
	default:
	}
	close(release)
	if err := result(t, errCh); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the hook ran %d times", n)
	}
}

func TestGlueASignalUnderAServiceManagerTellsItTheStopWasNotAsked(t *testing.T) {
	h, f := managed(time.Second)
	var r recorder
	h.OnShutdown(r.hook("storage", nil))
	errCh := waitAsync(h)
	signalWhenWaiting(t, syscall.SIGTERM)
	if err := result(t, errCh); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if got := f.recorded(); !equal(got, []string{"started", "stopping", "finished"}) {
		t.Fatalf("the manager was told %v, want started, stopping, finished", got)
	}
	if got := r.got(); !equal(got, []string{"storage"}) {
		t.Fatalf("hooks ran as %v", got)
	}
}
