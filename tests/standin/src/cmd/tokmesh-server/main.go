// A test double of tokmesh-server that keeps its deployment contract: --config PATH;
// /health and /ready on the configured HTTP address; SIGHUP reloads (counted);
// SIGTERM drains in-flight requests, flushes (a marker in the WAL dir) and exits 0;
// with TOKMESH_CLUSTER_ENABLED=true it opens the cluster port, and /peers dials each
// of TOKMESH_CLUSTER_PEERS;
// it writes under the WAL and snapshot dirs. /write?path=P reports whether the
// process may create P, so tests can see the sandbox from inside the service.
// Stdlib only, plus the server glue that the template renders into src/
// (internal/infra/shutdown, cmd/tokmesh-server/service_*.go): the tests build it
// inside a rendered tree, on the rendered glue.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/yndnr/tokmesh-go/internal/infra/buildinfo"
	"github.com/yndnr/tokmesh-go/internal/infra/shutdown"
)

// How a test binary fails: "exit" at start, or "never-ready" (/ready answers 503).
// Set at build time (-ldflags -X main.failMode=...) or, for an image, by the
// environment variable STANDIN_FAIL_MODE.
var failMode = ""

type config struct {
	HTTPAddress     string
	WALDir          string
	SnapshotDir     string
	ShutdownTimeout time.Duration
	ClusterEnabled  bool
	ClusterAddress  string
	ClusterPeers    []string
}

// readConfig pulls the few keys the stand-in needs out of the generated YAML
// (a parser would need a module from outside the standard library), then applies
// the TOKMESH_* environment overrides the deployments use.
func readConfig(path string) (config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return config{}, err
	}
	text := string(data)
	find := func(pattern string) string {
		m := regexp.MustCompile(pattern).FindStringSubmatch(text)
		if m == nil {
			return ""
		}
		return m[1]
	}
	c := config{
		HTTPAddress: find(`(?s)http:\s*\n\s*enabled: true\s*\n\s*address: "([^"]+)"`),
		WALDir:      find(`(?s)wal:\s*\n\s*dir: "([^"]+)"`),
		SnapshotDir: find(`(?s)snapshot:\s*\n\s*dir: "([^"]+)"`),
	}
	c.ShutdownTimeout, err = time.ParseDuration(find(`shutdown_timeout: "([^"]+)"`))
	if err != nil {
		return config{}, fmt.Errorf("shutdown_timeout: %w", err)
	}
	if v := os.Getenv("TOKMESH_STORAGE_WAL_DIR"); v != "" {
		c.WALDir = v
	}
	if v := os.Getenv("TOKMESH_STORAGE_SNAPSHOT_DIR"); v != "" {
		c.SnapshotDir = v
	}
	c.ClusterAddress = find(`(?s)cluster:\s*\n\s*enabled: \w+\s*\n\s*address: "([^"]+)"`)
	c.ClusterEnabled = os.Getenv("TOKMESH_CLUSTER_ENABLED") == "true"
	if v := os.Getenv("TOKMESH_CLUSTER_PEERS"); v != "" {
		c.ClusterPeers = strings.Split(v, ",")
	}
	if c.HTTPAddress == "" || c.WALDir == "" || c.SnapshotDir == "" {
		return config{}, errors.New("config lacks the http address, wal dir or snapshot dir")
	}
	return c, nil
}

func main() {
	configPath := flag.String("config", "/etc/tokmesh-server/config.yaml", "config file")
	flag.Parse()
	log.SetFlags(0)

	if v := os.Getenv("STANDIN_FAIL_MODE"); v != "" {
		failMode = v
	}
	version := buildinfo.Version
	if failMode == "exit" {
		log.Fatalf("standin %s: built to fail at start", version)
	}
	cfg, err := readConfig(*configPath)
	if err != nil {
		log.Fatalf("standin: config %s: %v", *configPath, err)
	}
	for _, dir := range []string{cfg.WALDir, cfg.SnapshotDir} {
		// PID and start time: in a container the PID is 1 at every start.
		marker := filepath.Join(dir, fmt.Sprintf("standin-%d-%d", os.Getpid(), time.Now().UnixNano()))
		if err := os.WriteFile(marker, []byte("written by the tokmesh-server stand-in\n"), 0o600); err != nil {
			log.Fatalf("standin: cannot write under %s: %v", dir, err)
		}
	}

	var reloads, inFlight, holdFlushMillis atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"status": "ok", "pid": os.Getpid(), "uid": os.Getuid(), "reloads": reloads.Load(),
			"version": version,
		})
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		if failMode == "never-ready" {
			http.Error(w, "never ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Query().Get("path")
		err := os.WriteFile(path, []byte("probe\n"), 0o600)
		if err == nil {
			_ = os.Remove(path)
			fmt.Fprintln(w, "allowed")
			return
		}
		fmt.Fprintf(w, "refused: %v\n", err)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprintln(w, "done")
	})
	// /peers dials every peer's cluster port and says which answered (clustering on).
	mux.HandleFunc("/peers", func(w http.ResponseWriter, r *http.Request) {
		reached := map[string]string{}
		for _, peer := range cfg.ClusterPeers {
			conn, err := net.DialTimeout("tcp", peer, 2*time.Second)
			if err != nil {
				reached[peer] = err.Error()
				continue
			}
			_ = conn.Close()
			reached[peer] = "ok"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(reached)
	})
	// /hold-wal-flush?ms=N makes the next shutdown's WAL flush take N ms and ignore
	// its deadline, so tests can see a hook cut off.
	mux.HandleFunc("/hold-wal-flush", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		holdFlushMillis.Store(int64(ms))
		fmt.Fprintf(w, "wal flush will take %d ms\n", ms)
	})
	server := &http.Server{Addr: cfg.HTTPAddress, Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	go func() {
		for range reload {
			if _, err := readConfig(*configPath); err != nil {
				log.Printf("standin: reload failed: %v", err)
				continue
			}
			log.Printf("standin: reloaded config (reload %d)", reloads.Add(1))
		}
	}()

	// What the tree's README asks of tokmesh-go's main: the server glue's shutdown
	// hooks, in order, and runService.
	sd := shutdown.New(cfg.ShutdownTimeout)
	sd.RegisterHook("http", func(ctx context.Context) error {
		log.Printf("standin: draining %d in-flight request(s)", inFlight.Load())
		return server.Shutdown(ctx)
	})
	sd.RegisterHook("wal", func(ctx context.Context) error {
		time.Sleep(time.Duration(holdFlushMillis.Load()) * time.Millisecond)
		marker := filepath.Join(cfg.WALDir, fmt.Sprintf("flushed-%d-%d", os.Getpid(), time.Now().UnixNano()))
		return os.WriteFile(marker, []byte("wal flushed on shutdown\n"), 0o600)
	})
	if cfg.ClusterEnabled {
		// The cluster port accepts and closes: enough for peers to see it open.
		cluster, err := net.Listen("tcp", cfg.ClusterAddress)
		if err != nil {
			log.Fatalf("standin: cluster address %s: %v", cfg.ClusterAddress, err)
		}
		go func() {
			for {
				conn, err := cluster.Accept()
				if err != nil {
					return
				}
				_ = conn.Close()
			}
		}()
		log.Printf("standin: cluster port %s, %d peer(s)", cfg.ClusterAddress, len(cfg.ClusterPeers))
	}
	log.Printf("standin: listening on %s (pid %d, uid %d)", cfg.HTTPAddress, os.Getpid(), os.Getuid())
	os.Exit(runService(sd, server.ListenAndServe))
}
