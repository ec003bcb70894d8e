//go:build windows

package servicelog

import (
	"os"

	"golang.org/x/sys/windows"
)

// setStdHandles makes f the process's standard output and error handles.
func setStdHandles(f *os.File) error {
	handle := windows.Handle(f.Fd())
	if err := windows.SetStdHandle(windows.STD_OUTPUT_HANDLE, handle); err != nil {
		return err
	}
	return windows.SetStdHandle(windows.STD_ERROR_HANDLE, handle)
}
