package clusterserver

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"

	"github.com/hashicorp/memberlist"
)

// nodeMeta is what each node gossips about itself: the server's metadata, same
// JSON, so peers learn the Raft address to add as a voter.
type nodeMeta struct {
	RaftAddr  string `json:"raft_addr"`
	ClusterID string `json:"cluster_id"`
}

// discovery is memberlist (TCP and UDP on the gossip address and port) with the
// server's callbacks. As in the server, the callbacks are attached only after the
// memberlist is created and the seeds joined: members seen before (itself, the
// seeds) are logged as "node joined" and nothing else.
type discovery struct {
	list    *memberlist.Memberlist
	log     *slog.Logger
	enabled atomic.Bool
	onJoin  func(nodeID, raftAddr string)
	onLeave func(nodeID string)
}

func newDiscovery(cfg Config, onJoin func(string, string), onLeave func(string)) (*discovery, error) {
	d := &discovery{log: cfg.Logger, onJoin: onJoin, onLeave: onLeave}
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.NodeID
	mc.BindAddr = cfg.GossipBindAddr
	mc.BindPort = cfg.GossipBindPort
	mc.Delegate = metaDelegate(nodeMeta{RaftAddr: cfg.RaftBindAddr})
	mc.Events = d
	mc.LogOutput = debugWriter{cfg.Logger}
	list, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("create memberlist: %w", err)
	}
	d.list = list
	if len(cfg.SeedNodes) > 0 {
		n, err := list.Join(cfg.SeedNodes)
		if err != nil {
			_ = list.Shutdown()
			return nil, fmt.Errorf("join seed nodes: %w", err)
		}
		cfg.Logger.Info("joined cluster", "node_id", cfg.NodeID, "seed_nodes", cfg.SeedNodes, "joined_count", n)
	} else {
		cfg.Logger.Info("started discovery (bootstrap mode)", "node_id", cfg.NodeID)
	}
	d.enabled.Store(true)
	return d, nil
}

// NotifyJoin (memberlist.EventDelegate) passes on the member's Raft address.
func (d *discovery) NotifyJoin(node *memberlist.Node) {
	gossipAddr := net.JoinHostPort(node.Addr.String(), strconv.Itoa(int(node.Port)))
	var meta nodeMeta
	if len(node.Meta) > 0 {
		if err := json.Unmarshal(node.Meta, &meta); err != nil {
			d.log.Error("failed to parse node metadata", "node_id", node.Name, "error", err)
			return
		}
	}
	if meta.RaftAddr == "" {
		d.log.Warn("node joined without Raft metadata, using gossip address",
			"node_id", node.Name, "gossip_addr", gossipAddr)
		meta.RaftAddr = gossipAddr
	}
	d.log.Info("node joined", "node_id", node.Name, "cluster_id", meta.ClusterID,
		"gossip_addr", gossipAddr, "raft_addr", meta.RaftAddr)
	if d.enabled.Load() {
		d.onJoin(node.Name, meta.RaftAddr)
	}
}

// NotifyLeave is called for a member that left or was declared dead, this node
// included when it leaves.
func (d *discovery) NotifyLeave(node *memberlist.Node) {
	d.log.Info("node left", "node_id", node.Name, "addr", node.Addr.String())
	if d.enabled.Load() {
		d.onLeave(node.Name)
	}
}

// NotifyUpdate: metadata never changes here.
func (d *discovery) NotifyUpdate(node *memberlist.Node) {
	d.log.Debug("node updated", "node_id", node.Name, "addr", node.Addr.String())
}

// leave broadcasts this node's departure without waiting for it (timeout 0, as
// the server), then stops memberlist.
func (d *discovery) leave() {
	if err := d.list.Leave(0); err != nil {
		d.log.Error("failed to leave cluster", "error", err)
		d.log.Error("discovery leave failed", "error", err)
	} else {
		d.log.Info("left cluster")
	}
	if err := d.list.Shutdown(); err != nil {
		d.log.Error("discovery shutdown failed", "error", fmt.Errorf("shutdown memberlist: %w", err))
		return
	}
	d.log.Info("discovery shutdown complete")
}

// metaDelegate gossips the node's metadata and nothing else.
type metaDelegate nodeMeta

func (m metaDelegate) NodeMeta(limit int) []byte {
	data, _ := json.Marshal(nodeMeta(m))
	if len(data) > limit {
		return data[:limit]
	}
	return data
}

func (metaDelegate) NotifyMsg([]byte)                           {}
func (metaDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (metaDelegate) LocalState(join bool) []byte                { return nil }
func (metaDelegate) MergeRemoteState(buf []byte, join bool)     {}

// debugWriter sends memberlist's own log lines to slog at debug level, as the
// server does (so they are not shown at the default level).
type debugWriter struct{ log *slog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug(string(p))
	return len(p), nil
}
