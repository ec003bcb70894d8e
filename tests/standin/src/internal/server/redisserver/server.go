// Package redisserver is the plain Redis-protocol listener, reduced to what a
// probe needs: PING (+PONG, or its argument back), QUIT, and NOAUTH for the rest,
// which is what the server answers to commands before AUTH.
package redisserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
)

// Server accepts connections on one address.
type Server struct {
	addr  string
	log   *slog.Logger
	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	stop  bool // Shutdown ran (perhaps before the listener was up)
	wg    sync.WaitGroup
}

// New returns a server for addr; Start listens.
func New(addr string, log *slog.Logger) *Server {
	return &Server{addr: addr, log: log, conns: map[net.Conn]struct{}{}}
}

// Start listens in the background. As in the server, a listen error is only
// logged: the process goes on without Redis.
func (s *Server) Start() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.log.Info("starting plain redis server", "address", s.addr)
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			s.log.Error("plain redis server error", "error", err)
			return
		}
		s.mu.Lock()
		s.ln = ln
		stopped := s.stop
		s.mu.Unlock()
		if stopped {
			_ = ln.Close()
			return
		}
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[conn] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go s.serve(conn)
		}
	}()
}

// Shutdown closes the listener and the connections and waits for them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stop = true
	if s.ln != nil {
		_ = s.ln.Close()
	}
	for conn := range s.conns {
		_ = conn.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) serve(conn net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		_ = conn.Close()
	}()
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	for {
		args, err := readCommand(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				fmt.Fprintf(w, "-ERR %v\r\n", err)
				_ = w.Flush()
			}
			return
		}
		if len(args) == 0 {
			continue
		}
		switch strings.ToUpper(args[0]) {
		case "PING":
			if len(args) > 1 {
				fmt.Fprintf(w, "$%d\r\n%s\r\n", len(args[1]), args[1])
			} else {
				w.WriteString("+PONG\r\n")
			}
		case "QUIT":
			w.WriteString("+OK\r\n")
			_ = w.Flush()
			return
		default:
			w.WriteString("-NOAUTH Authentication required\r\n")
		}
		if err := w.Flush(); err != nil {
			return
		}
	}
}

// readCommand reads a RESP array of bulk strings, or an inline command line.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "*") {
		return strings.Fields(line), nil
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 || n > 1024 {
		return nil, errors.New("Protocol error: invalid multibulk length")
	}
	args := make([]string, 0, n)
	for i := 0; i < n; i++ {
		header, err := readLine(r)
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimPrefix(header, "$"))
		if !strings.HasPrefix(header, "$") || err != nil || size < 0 || size > 1<<20 {
			return nil, errors.New("Protocol error: invalid bulk length")
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args = append(args, string(buf[:size]))
	}
	return args, nil
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
