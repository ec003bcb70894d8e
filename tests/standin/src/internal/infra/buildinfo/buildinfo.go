// Package buildinfo holds the version the build stamps, as tokmesh-go's does:
// -ldflags "-X github.com/yndnr/tokmesh-go/internal/infra/buildinfo.Version=...".
package buildinfo

// Version is the stamped version ("dev" when unstamped).
var Version = "dev"
