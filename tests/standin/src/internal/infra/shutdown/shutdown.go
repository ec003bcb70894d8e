// Package shutdown runs the server's stop hooks when SIGINT or SIGTERM arrives.
//
// The stand-in's own version of tokmesh-go's package, with the same exported API
// (NewHandler, OnShutdown, Wait, Done) and behaviour: only SIGINT and SIGTERM are
// caught (SIGHUP keeps Go's default and ends the process), hooks run one after the
// other in reverse order of registration, all under one context that expires after
// the timeout, and Wait returns the last hook error. A hook that ignores its
// context is not cut off. The template's server glue is copied over this file
// (`make glue`), as over the real one, so it is all in shutdown.go.
package shutdown

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Handler collects stop hooks and runs them on the first SIGINT or SIGTERM.
type Handler struct {
	timeout time.Duration
	mu      sync.Mutex
	hooks   []func(context.Context) error
	done    chan struct{}
}

// NewHandler returns a Handler whose hooks share a deadline of timeout.
func NewHandler(timeout time.Duration) *Handler {
	return &Handler{timeout: timeout, done: make(chan struct{})}
}

// OnShutdown registers a hook; the last registered runs first.
func (h *Handler) OnShutdown(hook func(context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hooks = append(h.hooks, hook)
}

// Wait blocks until SIGINT or SIGTERM, runs the hooks and returns the last error
// one of them returned (every hook runs even when an earlier one failed).
func (h *Handler) Wait() error {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	<-signals

	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()

	h.mu.Lock()
	hooks := append([]func(context.Context) error(nil), h.hooks...)
	h.mu.Unlock()

	var lastErr error
	for i := len(hooks) - 1; i >= 0; i-- {
		if err := hooks[i](ctx); err != nil {
			lastErr = err
		}
	}
	close(h.done)
	return lastErr
}

// Done is closed once the hooks have run.
func (h *Handler) Done() <-chan struct{} {
	return h.done
}
