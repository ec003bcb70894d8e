// Package buildinfo has the version variables of tokmesh-go's package of the same
// name. As there, the server does not read them: its version is main.version
// (-ldflags "-X main.version=..."), so stamping these changes nothing it prints.
package buildinfo

// Stamped with -ldflags -X; unused by tokmesh-server.
var (
	Version   = "dev"
	Commit    = "unknown"
	BuildTime = "unknown"
	GoVersion = "unknown"
)
