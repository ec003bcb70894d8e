// Package command holds tokmesh-cli's version variables, where tokmesh-go keeps
// them (-ldflags "-X github.com/yndnr/tokmesh-go/internal/cli/command.Version=...").
package command

import "fmt"

// Build information, set via ldflags.
var (
	Version   = "dev"
	Commit    = "unknown"
	BuildTime = "unknown"
)

// VersionLine is what `tokmesh-cli --version` prints (urfave/cli's format there).
func VersionLine() string {
	return fmt.Sprintf("tokmesh-cli version %s (commit: %s, built: %s)", Version, Commit, BuildTime)
}
