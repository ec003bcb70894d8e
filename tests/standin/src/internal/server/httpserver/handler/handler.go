// Package handler serves the server's HTTP routes: /health and /ready as the
// server answers them, its other routes as 501, and the stand-in's test hooks
// under /standin/ (which the real server does not have).
package handler

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Response is the server's JSON envelope (handler/types.go): same fields, same tags.
type Response struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
	Timestamp int64  `json:"timestamp"`
	Data      any    `json:"data,omitempty"`
	Details   any    `json:"details,omitempty"`
}

// Hooks are what the /standin/ routes act on.
type Hooks struct {
	// NeverReady makes /ready answer 503.
	NeverReady bool
	// HoldNextStorageClose makes the storage hook of the next shutdown take d.
	HoldNextStorageClose func(d time.Duration)
	// Version is what -version prints first (main.version).
	Version string
}

// New returns the server's routes plus the stand-in's hooks. Method-qualified
// patterns, as the server's, so a wrong method gets 405 and an unknown path 404.
func New(hooks Hooks) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, r, http.StatusOK, statusData("healthy"))
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		if hooks.NeverReady {
			// On purpose unlike the server (whose /ready always answers 200): a
			// build that never gets ready, for the rollback tests.
			writeError(w, r, http.StatusServiceUnavailable, "STANDIN-503", "built never to be ready")
			return
		}
		writeJSON(w, r, http.StatusOK, statusData("ready"))
	})
	// The server's other routes (handler.go registerRoutes): present, not implemented.
	for _, route := range []string{
		"GET /sessions", "POST /sessions", "GET /sessions/{id}",
		"POST /sessions/{id}/touch", "POST /sessions/{id}/renew", "POST /sessions/{id}/revoke",
		"POST /users/{user_id}/sessions/revoke", "POST /tokens/validate",
		"GET /admin/v1/status/summary", "POST /admin/v1/gc/trigger",
		"POST /admin/v1/keys", "GET /admin/v1/keys",
		"POST /admin/v1/keys/{key_id}/status", "POST /admin/v1/keys/{key_id}/rotate",
	} {
		mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
			writeError(w, r, http.StatusNotImplemented, "STANDIN-501", "not implemented by the tokmesh-server stand-in")
		})
	}
	registerTestHooks(mux, hooks)
	return mux
}

// registerTestHooks adds the routes tests drive the stand-in with.
func registerTestHooks(mux *http.ServeMux, hooks Hooks) {
	// Which process answers: tests tell a restart (a new pid) and an upgrade (another
	// version) apart, and see the user the service runs as.
	mux.HandleFunc("GET /standin/whoami", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"pid": os.Getpid(), "uid": os.Getuid(), "version": hooks.Version})
	})
	// Whether this process may create (and then removes) the file at path:
	// tests see the service's sandbox from inside it.
	mux.HandleFunc("/standin/write", func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Query().Get("path")
		if err := os.WriteFile(path, []byte("probe\n"), 0o600); err != nil {
			fmt.Fprintf(w, "refused: %v\n", err)
			return
		}
		_ = os.Remove(path)
		fmt.Fprintln(w, "allowed")
	})
	// A request that stays in flight for ms milliseconds, for drain tests.
	mux.HandleFunc("/standin/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(queryInt(r, "ms")) * time.Millisecond)
		fmt.Fprintln(w, "done")
	})
	// The next shutdown's storage hook takes ms milliseconds, past any deadline.
	mux.HandleFunc("/standin/hold-wal-flush", func(w http.ResponseWriter, r *http.Request) {
		ms := queryInt(r, "ms")
		hooks.HoldNextStorageClose(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(w, "wal flush will take %d ms\n", ms)
	})
}

func queryInt(r *http.Request, name string) int {
	n, _ := strconv.Atoi(r.URL.Query().Get(name))
	return n
}

func statusData(status string) map[string]string {
	return map[string]string{"status": status, "time": time.Now().UTC().Format(time.RFC3339)}
}

// writeJSON and writeError set the headers the server sets; the request id is
// only ever the client's X-Request-ID (the server has no middleware in front).
func writeJSON(w http.ResponseWriter, r *http.Request, status int, data any) {
	id := r.Header.Get("X-Request-ID")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-ID", id)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Response{Code: "OK", Message: "Success", RequestID: id,
		Timestamp: time.Now().UnixMilli(), Data: data})
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	id := r.Header.Get("X-Request-ID")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Error-Code", code)
	w.Header().Set("X-Request-ID", id)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Response{Code: code, Message: message, RequestID: id,
		Timestamp: time.Now().UnixMilli()})
}
