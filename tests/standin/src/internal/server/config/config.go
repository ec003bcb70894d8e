// Package config is the server's configuration: the struct tokmesh-go's server
// unmarshals into (same koanf tags, same defaults) and the same checks after loading.
package config

import (
	"errors"
	"os"
	"time"
)

// ServerConfig mirrors tokmesh-go's internal/server/config.ServerConfig key for key:
// confloader refuses any key that is not one of its fields.
type ServerConfig struct {
	Server   ServerSection   `koanf:"server"`
	Storage  StorageSection  `koanf:"storage"`
	Security SecuritySection `koanf:"security"`
	Cluster  ClusterSection  `koanf:"cluster"`
	Log      LogSection      `koanf:"log"`
}

// ServerSection holds the listeners.
type ServerSection struct {
	HTTP    HTTPConfig    `koanf:"http"`
	Redis   RedisConfig   `koanf:"redis"`
	Cluster ClusterConfig `koanf:"cluster"` // declared by the server, never used
	Local   LocalConfig   `koanf:"local"`   // declared by the server, never used
}

// HTTPConfig: one address; HTTPS on it when both TLS files are set.
type HTTPConfig struct {
	Addr        string `koanf:"addr"`
	TLSCertFile string `koanf:"tls_cert_file"`
	TLSKeyFile  string `koanf:"tls_key_file"`
}

// RedisConfig is the plain Redis-protocol listener.
type RedisConfig struct {
	Enabled bool   `koanf:"enabled"`
	Addr    string `koanf:"addr"`
}

// ClusterConfig (server.cluster) is declared by the server and never used.
type ClusterConfig struct {
	Addr string `koanf:"addr"`
}

// LocalConfig (server.local) is declared by the server and never used.
type LocalConfig struct {
	Path string `koanf:"path"`
}

// StorageSection: the WAL and snapshots live under DataDir/data/.
type StorageSection struct {
	DataDir         string        `koanf:"data_dir"`
	WALSyncInterval time.Duration `koanf:"wal_sync_interval"`
	SnapshotKeep    int           `koanf:"snapshot_keep"`
}

// SecuritySection is declared by the server and never used.
type SecuritySection struct {
	EncryptionKey string `koanf:"encryption_key"`
	TLSCAFile     string `koanf:"tls_ca_file"`
}

// ClusterSection: cluster mode is on exactly when NodeID is set.
type ClusterSection struct {
	NodeID                 string        `koanf:"node_id"`
	RaftAddr               string        `koanf:"raft_addr"`
	GossipAddr             string        `koanf:"gossip_addr"`
	GossipPort             int           `koanf:"gossip_port"`
	Bootstrap              bool          `koanf:"bootstrap"`
	Seeds                  []string      `koanf:"seeds"`
	DataDir                string        `koanf:"data_dir"`
	ReplicationFactor      int           `koanf:"replication_factor"`
	RebalanceMaxRateMBps   int           `koanf:"rebalance_max_rate_mbps"`
	RebalanceMinTTL        time.Duration `koanf:"rebalance_min_ttl"`
	RebalanceConcurrentQty int           `koanf:"rebalance_concurrent_qty"`
}

// LogSection configures the server's own (stdout) logger.
type LogSection struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"`
}

// Default returns the server's defaults (internal/server/config/default.go).
func Default() *ServerConfig {
	return &ServerConfig{
		Server: ServerSection{
			HTTP:    HTTPConfig{Addr: "127.0.0.1:5080"},
			Redis:   RedisConfig{Addr: "127.0.0.1:6379"},
			Cluster: ClusterConfig{Addr: "127.0.0.1:5343"},
			Local:   LocalConfig{Path: "/var/run/tokmesh-server/tokmesh-server.sock"},
		},
		Storage: StorageSection{
			DataDir:         "/var/lib/tokmesh-server/data",
			WALSyncInterval: 100 * time.Millisecond,
			SnapshotKeep:    3,
		},
		Log: LogSection{Level: "info", Format: "json"},
	}
}

// Verify makes the server's checks, in its order: data_dir set, then created
// (0750), then snapshot_keep >= 1.
func Verify(cfg *ServerConfig) error {
	if cfg.Storage.DataDir == "" {
		return errors.New("storage.data_dir is required")
	}
	if err := os.MkdirAll(cfg.Storage.DataDir, 0o750); err != nil {
		return errors.New("cannot create data directory: " + err.Error())
	}
	if cfg.Storage.SnapshotKeep < 1 {
		return errors.New("storage.snapshot_keep must be at least 1")
	}
	return nil
}
