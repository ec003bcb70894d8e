// A test double of tokmesh-server (yndnr/tokmesh-go at 56d6f54) for
// tokmesh-deploy's tests: the same command line, configuration, listeners, data
// layout, cluster formation, signals, exit codes and log lines as the server's
// main.go, without sessions. It departs on purpose in a few places, each marked
// "stand-in": it refuses configuration keys the server would ignore, it has test
// routes under /standin/, and it can be built (or told by STANDIN_FAIL_MODE) to
// fail.
//
// As in the server, main's own lines go to stdout as JSON (log.format "text" for
// text); the components (storage, Redis, cluster, Raft) log through Go's default
// slog logger, i.e. text lines on stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/yndnr/tokmesh-go/internal/infra/confloader"
	"github.com/yndnr/tokmesh-go/internal/infra/shutdown"
	"github.com/yndnr/tokmesh-go/internal/server/clusterserver"
	"github.com/yndnr/tokmesh-go/internal/server/config"
	"github.com/yndnr/tokmesh-go/internal/server/httpserver/handler"
	"github.com/yndnr/tokmesh-go/internal/server/redisserver"
	"github.com/yndnr/tokmesh-go/internal/storage"
)

// Build information, set via ldflags (-X main.version=... and so on), as the server's.
var (
	version   = "dev"
	commit    = "unknown"
	buildTime = "unknown"
)

// failMode (stand-in): "exit" fails at start, "never-ready" makes /ready answer
// 503 for ever, "crash-after-ready" exits 2 three seconds after it starts serving. Set with -ldflags "-X main.failMode=..." or, for an image, the
// environment variable STANDIN_FAIL_MODE. Empty: behave.
var failMode = ""

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	configFile := flag.String("config", "", "Path to configuration file")
	showVersion := flag.Bool("version", false, "Show version information")
	flag.Parse()
	if *showVersion {
		fmt.Printf("tokmesh-server %s (commit: %s, built: %s)\n", version, commit, buildTime)
		return nil
	}
	if mode := os.Getenv("STANDIN_FAIL_MODE"); mode != "" {
		failMode = mode
	}
	if failMode == "exit" {
		return errors.New("stand-in built to fail at start (fail mode \"exit\")")
	}

	cfg := config.Default()
	if err := confloader.Load(*configFile, cfg); err != nil {
		return fmt.Errorf("load config: %w", err)
	}
	if err := config.Verify(cfg); err != nil {
		return fmt.Errorf("load config: invalid configuration: %w", err)
	}
	log := newLogger(cfg.Log)
	components := slog.Default() // text on stderr, as the server's components
	log.Info("starting tokmesh-server", "version", version, "commit", commit, "config", *configFile)

	store, err := storage.New(cfg.Storage.DataDir, components)
	if err != nil {
		return fmt.Errorf("init storage: %w", err)
	}
	if err := store.Recover(); err != nil {
		return fmt.Errorf("storage recovery: %w", err)
	}
	components.Info("services initialized", "session_service", "ready", "token_service", "ready",
		"auth_service", "ready")

	httpServer := &http.Server{
		Addr: cfg.Server.HTTP.Addr,
		Handler: handler.New(handler.Hooks{
			NeverReady:           failMode == "never-ready",
			HoldNextStorageClose: store.HoldNextClose,
			Version:              version,
		}),
	}
	var redis *redisserver.Server
	if cfg.Server.Redis.Enabled {
		redis = redisserver.New(cfg.Server.Redis.Addr, components)
	}

	ctx := context.Background()
	var cluster *clusterserver.Server
	if cfg.Cluster.NodeID != "" {
		log.Info("initializing cluster mode", "node_id", cfg.Cluster.NodeID)
		cluster, err = clusterserver.NewServer(clusterserver.Config{
			NodeID:            cfg.Cluster.NodeID,
			RaftBindAddr:      cfg.Cluster.RaftAddr,
			GossipBindAddr:    cfg.Cluster.GossipAddr,
			GossipBindPort:    cfg.Cluster.GossipPort,
			Bootstrap:         cfg.Cluster.Bootstrap,
			SeedNodes:         cfg.Cluster.Seeds,
			RaftDataDir:       cfg.Cluster.DataDir,
			ReplicationFactor: cfg.Cluster.ReplicationFactor,
			Logger:            components,
		})
		if err != nil {
			return fmt.Errorf("create cluster server: %w", err)
		}
		if err := cluster.Start(ctx); err != nil {
			return fmt.Errorf("start cluster server: %w", err)
		}
		log.Info("cluster server started", "node_id", cfg.Cluster.NodeID, "raft_addr", cfg.Cluster.RaftAddr,
			"gossip_addr", cfg.Cluster.GossipAddr, "gossip_port", cfg.Cluster.GossipPort)
	}

	// The server's order: hooks run in reverse, so storage closes first, then
	// HTTP drains, then Redis, then the cluster leaves.
	stop := shutdown.NewHandler(30 * time.Second)
	if cluster != nil {
		stop.OnShutdown(func(ctx context.Context) error {
			log.Info("shutting down cluster server")
			return cluster.Stop(ctx)
		})
	}
	if redis != nil {
		stop.OnShutdown(func(ctx context.Context) error {
			log.Info("shutting down Redis server")
			return redis.Shutdown(ctx)
		})
	}
	stop.OnShutdown(func(ctx context.Context) error {
		log.Info("shutting down HTTP server")
		return httpServer.Shutdown(ctx)
	})
	stop.OnShutdown(func(ctx context.Context) error {
		log.Info("shutting down storage engine")
		return store.Close()
	})

	if redis != nil {
		redis.Start()
		log.Info("Redis server listening", "addr", cfg.Server.Redis.Addr)
	}
	// HTTP last. A listen error is only logged: the process stays up without HTTP.
	go func() {
		log.Info("HTTP server listening", "addr", cfg.Server.HTTP.Addr)
		var err error
		if cfg.Server.HTTP.TLSCertFile != "" && cfg.Server.HTTP.TLSKeyFile != "" {
			err = httpServer.ListenAndServeTLS(cfg.Server.HTTP.TLSCertFile, cfg.Server.HTTP.TLSKeyFile)
		} else {
			err = httpServer.ListenAndServe()
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server error", "error", err)
		}
	}()

	log.Info("server started, press Ctrl+C to stop")
	if failMode == "crash-after-ready" {
		go func() {
			time.Sleep(3 * time.Second)
			log.Error("stand-in crashes after it was ready (fail mode \"crash-after-ready\")")
			os.Exit(2)
		}()
	}
	if err := stop.Wait(); err != nil {
		log.Error("shutdown error", "error", err)
		return err
	}
	log.Info("server stopped gracefully")
	return nil
}

// newLogger is the server's logger: JSON on stdout ("text"/"console": text), at
// log.level (debug, info, warn/warning, error; anything else is info).
func newLogger(c config.LogSection) *slog.Logger {
	level := slog.LevelInfo
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(c.Format) {
	case "text", "console":
		return slog.New(slog.NewTextHandler(os.Stdout, opts))
	default:
		return slog.New(slog.NewJSONHandler(os.Stdout, opts))
	}
}
