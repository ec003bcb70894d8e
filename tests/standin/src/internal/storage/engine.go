// Package storage lays out the server's data directory and keeps its WAL files
// as the server does, without sessions: <data_dir>/data/wal/wal-NNNNNNNN.log and
// <data_dir>/data/snapshots/, folders 0750, files 0600.
//
// A WAL segment is the magic "TOKMWAL\x01", then records (the stand-in writes
// none), then, once closed, a SHA-256 of everything before it. Like the server, a
// start opens a new segment after a closed one and appends to one left open (a
// process that died); closing writes the checksum. So a clean stop turns an 8-byte
// segment into a 40-byte one, and each clean restart adds a segment.
package storage

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

const (
	walMagic    = "TOKMWAL\x01"
	checksumLen = sha256.Size
	dirPerm     = 0o750
	filePerm    = 0o600
)

// Engine owns the open WAL segment.
type Engine struct {
	walDir, snapDir string
	file            *os.File
	sum             hash.Hash
	log             *slog.Logger
	holdClose       atomic.Int64 // ms the next Close waits first (a test hook)
}

// New creates the layout under dataDir and opens the WAL segment to write.
func New(dataDir string, log *slog.Logger) (*Engine, error) {
	if dataDir == "" {
		return nil, errors.New("storage: data_dir is required")
	}
	e := &Engine{
		walDir:  filepath.Join(dataDir, "data", "wal"),
		snapDir: filepath.Join(dataDir, "data", "snapshots"),
		log:     log,
	}
	if err := os.MkdirAll(e.walDir, dirPerm); err != nil {
		return nil, fmt.Errorf("storage: create wal writer: wal: create dir: %w", err)
	}
	if err := e.openSegment(); err != nil {
		return nil, fmt.Errorf("storage: create wal writer: %w", err)
	}
	if err := os.MkdirAll(e.snapDir, dirPerm); err != nil {
		_ = e.file.Close()
		return nil, fmt.Errorf("storage: create snapshot manager: create dir: %w", err)
	}
	return e, nil
}

// openSegment appends to the newest segment when it was left open, else starts
// the next one.
func (e *Engine) openSegment() error {
	entries, err := os.ReadDir(e.walDir)
	if err != nil {
		return fmt.Errorf("wal: read dir: %w", err)
	}
	var ids []uint64
	for _, entry := range entries {
		var id uint64
		name := entry.Name()
		if entry.IsDir() || !strings.HasPrefix(name, "wal-") || !strings.HasSuffix(name, ".log") {
			continue
		}
		if _, err := fmt.Sscanf(name, "wal-%d.log", &id); err == nil {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	next := uint64(1)
	if len(ids) > 0 {
		last := ids[len(ids)-1]
		data, err := os.ReadFile(segmentPath(e.walDir, last))
		if err != nil {
			return fmt.Errorf("wal: open latest: %w", err)
		}
		if !closedSegment(data) {
			return e.reopen(segmentPath(e.walDir, last), data)
		}
		next = last + 1
	}
	f, err := os.OpenFile(segmentPath(e.walDir, next), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, filePerm)
	if err != nil {
		return fmt.Errorf("wal: open segment: %w", err)
	}
	e.file, e.sum = f, sha256.New()
	return e.write([]byte(walMagic))
}

// reopen continues a segment a killed process left without its checksum.
func (e *Engine) reopen(path string, data []byte) error {
	if len(data) < len(walMagic) || string(data[:len(walMagic)]) != walMagic {
		return errors.New("wal: invalid magic bytes")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, filePerm)
	if err != nil {
		return fmt.Errorf("wal: open existing segment: %w", err)
	}
	e.file, e.sum = f, sha256.New()
	e.sum.Write(data)
	return nil
}

// closedSegment tells whether data ends with the SHA-256 of what precedes it.
func closedSegment(data []byte) bool {
	if len(data) < len(walMagic)+checksumLen {
		return false
	}
	body := data[:len(data)-checksumLen]
	sum := sha256.Sum256(body)
	return bytes.Equal(sum[:], data[len(data)-checksumLen:])
}

func segmentPath(dir string, id uint64) string {
	return filepath.Join(dir, fmt.Sprintf("wal-%08d.log", id))
}

func (e *Engine) write(p []byte) error {
	if _, err := e.file.Write(p); err != nil {
		return fmt.Errorf("wal: write: %w", err)
	}
	e.sum.Write(p)
	return nil
}

// Recover logs what the server logs when it finds nothing to replay. The stand-in
// keeps no sessions, so there is nothing to read back.
func (e *Engine) Recover() error {
	start := time.Now()
	e.log.Info("storage recovery started")
	snaps, _ := filepath.Glob(filepath.Join(e.snapDir, "*.snap"))
	if len(snaps) == 0 {
		e.log.Info("no snapshot found, starting with empty store")
	} else {
		e.log.Info("snapshot loaded", "path", snaps[len(snaps)-1], "session_count", 0)
	}
	e.log.Info("recovery completed", "elapsed", time.Since(start), "session_count", 0)
	return nil
}

// HoldNextClose makes Close wait d before it flushes, whatever the shutdown
// deadline: for tests of a stop hook that overruns.
func (e *Engine) HoldNextClose(d time.Duration) { e.holdClose.Store(int64(d)) }

// Close finishes the segment: its checksum, fsync, close.
func (e *Engine) Close() error {
	e.log.Info("shutting down storage engine")
	time.Sleep(time.Duration(e.holdClose.Load()))
	sum := e.sum.Sum(nil)
	if _, err := e.file.Write(sum); err != nil {
		e.log.Error("close wal failed", "error", err)
		return fmt.Errorf("wal: write checksum: %w", err)
	}
	if err := e.file.Sync(); err != nil {
		e.log.Error("close wal failed", "error", err)
		return fmt.Errorf("wal: sync: %w", err)
	}
	if err := e.file.Close(); err != nil {
		e.log.Error("close wal failed", "error", err)
		return fmt.Errorf("wal: close: %w", err)
	}
	e.log.Info("storage engine shutdown complete")
	return nil
}
