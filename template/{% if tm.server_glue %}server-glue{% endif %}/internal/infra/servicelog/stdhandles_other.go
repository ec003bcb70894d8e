//go:build !windows

package servicelog

import "os"

// setStdHandles: only a Windows service runs without a console; elsewhere os.Stdout
// and os.Stderr are all the redirect needs.
func setStdHandles(*os.File) error { return nil }
