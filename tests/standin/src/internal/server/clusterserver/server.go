// Package clusterserver forms the cluster as tokmesh-go's does, membership only:
// Raft (hashicorp/raft, BoltDB stores) holds who the voters are; gossip
// (hashicorp/memberlist) finds the nodes; the Raft leader alone turns a gossip
// join into AddVoter and a gossip leave into RemoveServer. The server's shard map,
// rebalancing and replication monitor are left out. Log messages are the server's,
// so tests can watch either binary for the same lines.
package clusterserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	clusterv1 "github.com/yndnr/tokmesh-go/api/proto/v1"
)

// tokmesh-go's cluster server speaks generated protobuf types; this one only needs them
// to exist, so that a build without `go generate ./api/proto/v1` fails as the server's does.
var _ = clusterv1.File_cluster_proto

// membershipTimeout bounds AddVoter and RemoveServer (the server's default).
const membershipTimeout = 10 * time.Second

// Config is what main passes from the cluster.* keys.
type Config struct {
	NodeID            string
	RaftBindAddr      string // cluster.raft_addr: bound and advertised
	GossipBindAddr    string // cluster.gossip_addr
	GossipBindPort    int    // cluster.gossip_port
	Bootstrap         bool
	SeedNodes         []string // gossip addresses
	RaftDataDir       string   // cluster.data_dir
	ReplicationFactor int
	Logger            *slog.Logger
}

// validate makes the server's checks, with its messages.
func (c *Config) validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("node_id is required")
	case c.RaftBindAddr == "":
		return errors.New("raft_bind_addr is required")
	case c.GossipBindAddr == "":
		return errors.New("gossip_bind_addr is required")
	case c.GossipBindPort == 0:
		return errors.New("gossip_bind_port is required")
	case c.RaftDataDir == "":
		return errors.New("raft_data_dir is required")
	case c.Bootstrap && len(c.SeedNodes) > 0:
		return errors.New("bootstrap mode should not specify seed_nodes (mutually exclusive)")
	case c.ReplicationFactor > 7:
		return fmt.Errorf("replication_factor must be 1-7, got %d (higher values may impact performance)", c.ReplicationFactor)
	}
	if c.ReplicationFactor < 1 {
		c.ReplicationFactor = 1
	}
	return nil
}

// Server is one cluster node.
type Server struct {
	cfg       Config
	log       *slog.Logger
	fsm       *membersFSM
	raft      *raftNode
	discovery *discovery

	mu       sync.Mutex
	isLeader bool // as the leader monitor last saw it: what membership changes check

	stopOnce sync.Once
	stopCh   chan struct{}
	doneCh   chan struct{}
}

// NewServer checks the configuration; Start brings the node up.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	cfg.Logger.Info("cluster server created", "node_id", cfg.NodeID, "raft_addr", cfg.RaftBindAddr,
		"gossip_addr", cfg.GossipBindAddr)
	return &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		fsm:    &membersFSM{members: map[string]string{}, log: cfg.Logger},
		stopCh: make(chan struct{}),
		doneCh: make(chan struct{}),
	}, nil
}

// Start opens Raft, then gossip (joining the seeds), and, on the bootstrap node,
// waits up to 10 s for a leader, as the server does before it serves HTTP.
func (s *Server) Start(ctx context.Context) error {
	s.log.Info("starting cluster server", "node_id", s.cfg.NodeID)
	node, err := newRaftNode(s.cfg, s.fsm)
	if err != nil {
		return fmt.Errorf("create raft node: %w", err)
	}
	s.raft = node
	d, err := newDiscovery(s.cfg, s.onJoin, s.onLeave)
	if err != nil {
		node.close()
		return fmt.Errorf("create discovery: %w", err)
	}
	s.discovery = d
	go s.watchLeadership()
	if s.cfg.Bootstrap {
		if err := s.waitForLeader(ctx, 10*time.Second); err != nil {
			s.log.Warn("leader election timeout", "error", err)
		}
	}
	s.log.Info("cluster server started", "node_id", s.cfg.NodeID, "is_leader", s.raft.isLeader())
	return nil
}

func (s *Server) waitForLeader(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return errors.New("timeout waiting for leader election")
		case <-tick.C:
			if addr, id := s.raft.leader(); addr != "" {
				s.log.Info("leader elected", "leader_id", id, "leader_addr", addr)
				return nil
			}
		}
	}
}

func (s *Server) leader() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isLeader
}

// onJoin: the leader adds the new member as a voter, then records it. Joins seen
// by a follower, or before any leader exists, are dropped (as in the server).
func (s *Server) onJoin(nodeID, raftAddr string) {
	s.log.Info("discovery: node joined", "node_id", nodeID, "raft_addr", raftAddr)
	if !s.leader() {
		s.log.Debug("ignoring join - not leader", "node_id", nodeID)
		return
	}
	if err := s.raft.addVoter(nodeID, raftAddr); err != nil {
		s.log.Error("failed to add voter - aborting join", "node_id", nodeID, "raft_addr", raftAddr, "error", err)
		return
	}
	if err := s.raft.apply(memberRecord{Op: "join", NodeID: nodeID, Addr: raftAddr}); err != nil {
		s.log.Error("failed to apply member join - rolling back raft membership", "node_id", nodeID, "error", err)
		if rollbackErr := s.raft.removeServer(nodeID); rollbackErr != nil {
			s.log.Error("CRITICAL: failed to rollback raft membership after FSM failure",
				"node_id", nodeID, "rollback_error", rollbackErr, "original_error", err)
		}
		return
	}
	s.log.Info("member join applied", "node_id", nodeID, "addr", raftAddr)
	s.log.Info("node join completed successfully", "node_id", nodeID, "raft_addr", raftAddr)
	s.checkParity()
}

// onLeave: the leader removes the member from Raft, then records it. The leader
// sees its own leave when it stops, and so removes itself, as the server does.
func (s *Server) onLeave(nodeID string) {
	s.log.Info("discovery: node left", "node_id", nodeID)
	if !s.leader() {
		s.log.Debug("ignoring leave - not leader", "node_id", nodeID)
		return
	}
	if err := s.raft.removeServer(nodeID); err != nil {
		s.log.Error("failed to remove server - aborting leave", "node_id", nodeID, "error", err)
		return
	}
	if err := s.raft.apply(memberRecord{Op: "leave", NodeID: nodeID}); err != nil {
		s.log.Error("failed to apply member leave - FSM inconsistent with Raft", "node_id", nodeID, "error", err,
			"action", "FSM will eventually sync via snapshot")
		return
	}
	s.log.Info("member leave applied", "node_id", nodeID)
	s.log.Info("node leave completed successfully", "node_id", nodeID)
	s.checkParity()
}

// watchLeadership follows Raft's leadership notifications.
func (s *Server) watchLeadership() {
	defer close(s.doneCh)
	for {
		select {
		case leads := <-s.raft.leaderCh:
			s.leadershipChanged(leads)
		case <-s.stopCh:
			s.log.Info("leader monitor loop exiting")
			return
		}
	}
}

func (s *Server) leadershipChanged(leads bool) {
	s.mu.Lock()
	was := s.isLeader
	s.isLeader = leads
	s.mu.Unlock()
	switch {
	case leads && !was:
		s.log.Info("became leader", "node_id", s.cfg.NodeID)
		s.log.Info("leader transition complete", "node_id", s.cfg.NodeID, "member_count", s.fsm.count())
		s.checkParity()
	case !leads && was:
		_, id := s.raft.leader()
		s.log.Info("lost leadership", "node_id", s.cfg.NodeID)
		s.log.Info("follower transition complete", "node_id", s.cfg.NodeID, "new_leader", id)
	}
}

// checkParity warns, as the server, when the recorded members are even in number.
// (The server's record omits the bootstrap node itself, so it warns at 3 nodes.)
func (s *Server) checkParity() {
	n := s.fsm.count()
	if n > 0 && n%2 == 0 {
		s.log.Warn("cluster has even number of nodes - network partition may cause quorum loss",
			"node_count", n, "recommendation", "use odd numbers (3, 5, 7) for better fault tolerance",
			"health", "DEGRADED")
	}
}

// Stop leaves gossip (the leader then removes this node from Raft), stops Raft,
// and waits for the leadership watcher.
func (s *Server) Stop(ctx context.Context) error {
	s.log.Info("stopping cluster server", "node_id", s.cfg.NodeID)
	stopped := false
	s.stopOnce.Do(func() { close(s.stopCh); stopped = true })
	if !stopped {
		return nil
	}
	s.discovery.leave()
	s.raft.close()
	select {
	case <-s.doneCh:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Second):
		s.log.Warn("monitor loop did not exit in time")
	}
	s.log.Info("cluster server stopped")
	return nil
}
