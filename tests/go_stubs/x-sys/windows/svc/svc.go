// Package svc is a stand-in of golang.org/x/sys/windows/svc for type-checking
// the generated Windows service adapter on Linux, where Debian's x/sys lacks
// windows/ and no module can be downloaded. It declares, with the same names,
// types and values, only what the adapter uses, as x/sys declares them in
// windows/svc/service.go and windows/svc/security.go; its functions do nothing.
package svc

// State describes service execution state.
type State uint32

const (
	Stopped      = State(1) // SERVICE_STOPPED
	StartPending = State(2) // SERVICE_START_PENDING
	StopPending  = State(3) // SERVICE_STOP_PENDING
	Running      = State(4) // SERVICE_RUNNING
)

// Cmd is a service state change request.
type Cmd uint32

const (
	Stop        = Cmd(1) // SERVICE_CONTROL_STOP
	Interrogate = Cmd(4) // SERVICE_CONTROL_INTERROGATE
	Shutdown    = Cmd(5) // SERVICE_CONTROL_SHUTDOWN
)

// Accepted describes the commands a service accepts.
type Accepted uint32

const (
	AcceptStop     = Accepted(1) // SERVICE_ACCEPT_STOP
	AcceptShutdown = Accepted(4) // SERVICE_ACCEPT_SHUTDOWN
)

// Status combines State and Accepted commands.
type Status struct {
	State      State
	Accepts    Accepted
	CheckPoint uint32
	WaitHint   uint32
	ProcessId  uint32
}

// ChangeRequest is sent to the service Handler.
type ChangeRequest struct {
	Cmd           Cmd
	EventType     uint32
	EventData     uintptr
	CurrentStatus Status
	Context       uintptr
}

// Handler is what a Windows service implements.
type Handler interface {
	Execute(args []string, r <-chan ChangeRequest, s chan<- Status) (svcSpecificEC bool, exitCode uint32)
}

// Run executes service name by calling the handler.
func Run(name string, handler Handler) error { return nil }

// IsWindowsService reports whether the process runs as a Windows service.
func IsWindowsService() (bool, error) { return false, nil }
