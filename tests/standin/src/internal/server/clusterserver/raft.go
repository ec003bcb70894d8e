package clusterserver

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb"
)

// raftNode is Raft as the server sets it up: a TCP transport on the Raft address
// (which it also advertises, so 0.0.0.0 is refused), BoltDB log and stable stores
// and a file snapshot store in the Raft data directory, leadership changes on a
// channel.
type raftNode struct {
	raft      *raft.Raft
	transport *raft.NetworkTransport
	logStore  *raftboltdb.BoltStore
	stable    *raftboltdb.BoltStore
	leaderCh  chan bool
	log       *slog.Logger
}

func newRaftNode(cfg Config, fsm *membersFSM) (*raftNode, error) {
	if err := os.MkdirAll(cfg.RaftDataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = &raftLogger{Logger: hclog.NewNullLogger(), log: cfg.Logger}
	// The server's timings.
	rc.HeartbeatTimeout = time.Second
	rc.ElectionTimeout = time.Second
	rc.CommitTimeout = 50 * time.Millisecond
	rc.LeaderLeaseTimeout = 500 * time.Millisecond

	advertise, err := net.ResolveTCPAddr("tcp", cfg.RaftBindAddr)
	if err != nil {
		return nil, fmt.Errorf("resolve bind addr: %w", err)
	}
	transport, err := raft.NewTCPTransport(cfg.RaftBindAddr, advertise, 3, 10*time.Second, os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("create transport: %w", err)
	}
	logStore, err := raftboltdb.NewBoltStore(filepath.Join(cfg.RaftDataDir, "raft-log.db"))
	if err != nil {
		transport.Close()
		return nil, fmt.Errorf("create log store: %w", err)
	}
	stable, err := raftboltdb.NewBoltStore(filepath.Join(cfg.RaftDataDir, "raft-stable.db"))
	if err != nil {
		logStore.Close()
		transport.Close()
		return nil, fmt.Errorf("create stable store: %w", err)
	}
	snapshots, err := raft.NewFileSnapshotStore(cfg.RaftDataDir, 3, os.Stderr)
	if err != nil {
		stable.Close()
		logStore.Close()
		transport.Close()
		return nil, fmt.Errorf("create snapshot store: %w", err)
	}
	// Raft blocks on this channel: buffered as the server's.
	leaderCh := make(chan bool, 10)
	rc.NotifyCh = leaderCh
	r, err := raft.NewRaft(rc, fsm, logStore, stable, snapshots, transport)
	if err != nil {
		stable.Close()
		logStore.Close()
		transport.Close()
		return nil, fmt.Errorf("create raft: %w", err)
	}
	n := &raftNode{raft: r, transport: transport, logStore: logStore, stable: stable,
		leaderCh: leaderCh, log: cfg.Logger}

	if cfg.Bootstrap {
		// On a store that already has state this fails with raft's
		// "bootstrap only works on new clusters", and so does the server.
		boot := raft.Configuration{Servers: []raft.Server{
			{ID: rc.LocalID, Address: transport.LocalAddr()},
		}}
		if err := r.BootstrapCluster(boot).Error(); err != nil {
			n.close()
			return nil, fmt.Errorf("bootstrap cluster: %w", err)
		}
		cfg.Logger.Info("raft cluster bootstrapped", "node_id", cfg.NodeID, "addr", cfg.RaftBindAddr)
	}
	cfg.Logger.Info("raft node created", "node_id", cfg.NodeID, "bind_addr", cfg.RaftBindAddr,
		"bootstrap", cfg.Bootstrap)
	return n, nil
}

func (n *raftNode) isLeader() bool { return n.raft.State() == raft.Leader }

func (n *raftNode) leader() (addr, id string) {
	a, i := n.raft.LeaderWithID()
	return string(a), string(i)
}

func (n *raftNode) addVoter(id, addr string) error {
	if err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, membershipTimeout).Error(); err != nil {
		return fmt.Errorf("add voter: %w", err)
	}
	return nil
}

func (n *raftNode) removeServer(id string) error {
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, membershipTimeout).Error(); err != nil {
		return fmt.Errorf("remove server: %w", err)
	}
	return nil
}

// apply commits one membership record.
func (n *raftNode) apply(rec memberRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := n.raft.Apply(data, 5*time.Second).Error(); err != nil {
		return fmt.Errorf("raft apply: raft apply: %w", err)
	}
	return nil
}

// close stops Raft, then the stores and transport. leaderCh stays open (the
// watcher stops on Server.stopCh): closing it could race Raft's last send.
func (n *raftNode) close() {
	n.log.Info("shutting down raft node")
	if err := n.raft.Shutdown().Error(); err != nil {
		n.log.Error("raft shutdown failed", "error", err)
	}
	if err := n.stable.Close(); err != nil {
		n.log.Error("close stable store failed", "error", err)
	}
	if err := n.logStore.Close(); err != nil {
		n.log.Error("close log store failed", "error", err)
	}
	if err := n.transport.Close(); err != nil {
		n.log.Error("close transport failed", "error", err)
	}
	n.log.Info("raft node shutdown complete")
}

// memberRecord is the one kind of Raft log entry the stand-in writes: a member
// joined (Addr set) or left. The server's FSM also keeps shards; not this one.
type memberRecord struct {
	Op     string `json:"op"` // "join" or "leave"
	NodeID string `json:"node_id"`
	Addr   string `json:"addr,omitempty"`
}

// membersFSM is the replicated member list (node id -> Raft address).
type membersFSM struct {
	mu      sync.Mutex
	members map[string]string
	log     *slog.Logger
}

func (f *membersFSM) Apply(entry *raft.Log) any {
	var rec memberRecord
	if err := json.Unmarshal(entry.Data, &rec); err != nil {
		panic(fmt.Sprintf("FSM.Apply: unmarshal failed at index=%d: %v", entry.Index, err))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if rec.Op == "join" {
		f.members[rec.NodeID] = rec.Addr
		f.log.Info("member joined", "node_id", rec.NodeID, "addr", rec.Addr)
	} else {
		delete(f.members, rec.NodeID)
		f.log.Info("member left", "node_id", rec.NodeID)
	}
	return nil
}

func (f *membersFSM) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.members)
}

func (f *membersFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, err := json.Marshal(f.members)
	return membersSnapshot(data), err
}

func (f *membersFSM) Restore(r io.ReadCloser) error {
	defer r.Close()
	members := map[string]string{}
	if err := json.NewDecoder(r).Decode(&members); err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	f.mu.Lock()
	f.members = members
	f.mu.Unlock()
	f.log.Info("fsm state restored from snapshot", "member_count", len(members))
	return nil
}

type membersSnapshot []byte

func (s membersSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s membersSnapshot) Release() {}

// raftLogger hands Raft's log lines to slog, as the server's adapter does (so they
// read the same: "entering leader state", ...). The embedded null logger supplies
// the methods Raft does not log through.
type raftLogger struct {
	hclog.Logger
	log *slog.Logger
}

func (l *raftLogger) Log(level hclog.Level, msg string, args ...any) {
	switch level {
	case hclog.Trace, hclog.Debug:
		l.log.Debug(msg, args...)
	case hclog.Warn:
		l.log.Warn(msg, args...)
	case hclog.Error:
		l.log.Error(msg, args...)
	default:
		l.log.Info(msg, args...)
	}
}

func (l *raftLogger) Trace(msg string, args ...any)  { l.log.Debug(msg, args...) }
func (l *raftLogger) Debug(msg string, args ...any)  { l.log.Debug(msg, args...) }
func (l *raftLogger) Info(msg string, args ...any)   { l.log.Info(msg, args...) }
func (l *raftLogger) Warn(msg string, args ...any)   { l.log.Warn(msg, args...) }
func (l *raftLogger) Error(msg string, args ...any)  { l.log.Error(msg, args...) }
func (l *raftLogger) IsTrace() bool                  { return false }
func (l *raftLogger) IsDebug() bool                  { return false }
func (l *raftLogger) IsInfo() bool                   { return true }
func (l *raftLogger) IsWarn() bool                   { return true }
func (l *raftLogger) IsError() bool                  { return true }
func (l *raftLogger) GetLevel() hclog.Level          { return hclog.Info }
func (l *raftLogger) With(...any) hclog.Logger       { return l }
func (l *raftLogger) Named(string) hclog.Logger      { return l }
func (l *raftLogger) ResetNamed(string) hclog.Logger { return l }
