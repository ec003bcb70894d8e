// A stand-in of tokmesh-cli, so that builds of both commands work: it only knows
// --version (and -v, version); anything else fails with exit 1, as an unknown
// command of the real CLI does.
package main

import (
	"fmt"
	"os"

	"github.com/yndnr/tokmesh-go/internal/cli/command"
)

func main() {
	if len(os.Args) == 2 {
		switch os.Args[1] {
		case "--version", "-version", "-v", "version":
			fmt.Println(command.VersionLine())
			return
		}
	}
	fmt.Fprintln(os.Stderr, "error: the tokmesh-cli stand-in only prints its version (--version)")
	os.Exit(1)
}
