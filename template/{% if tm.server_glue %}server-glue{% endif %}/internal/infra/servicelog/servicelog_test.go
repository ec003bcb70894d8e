package servicelog

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestOpenCreatesTheFolderAndMarksTheStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "server.log")
	f, err := Open(path, 100, 3)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "hello")
	f.Close()
	got := read(t, path)
	if !strings.HasPrefix(got, "---- ") || !strings.HasSuffix(got, "its output follows\nhello\n") {
		t.Fatalf("log holds %q", got)
	}
}

func TestABelowTheLimitLogIsAppendedTo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	write(t, path, "earlier run\n")
	f, err := Open(path, 1<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := read(t, path); !strings.HasPrefix(got, "earlier run\n---- ") {
		t.Fatalf("log holds %q", got)
	}
	if exists(path + ".1") {
		t.Fatal("a log below the limit was rotated")
	}
}

func TestALogAtTheLimitIsRotatedKeepingGenerations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	write(t, path, "current: at the limit")
	for n, text := range []string{"", "one", "two", "three"} {
		if n > 0 {
			write(t, generation(path, n), text)
		}
	}
	f, err := Open(path, int64(len("current: at the limit")), 3)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for n, want := range map[int]string{1: "current: at the limit", 2: "one", 3: "two"} {
		if got := read(t, generation(path, n)); got != want {
			t.Fatalf("%s holds %q, want %q", generation(path, n), got, want)
		}
	}
	if exists(generation(path, 4)) {
		t.Fatal("a fourth generation was kept")
	}
	if got := read(t, path); !strings.HasPrefix(got, "---- ") {
		t.Fatalf("the new log holds %q", got)
	}
}

func TestRotationWithGapsInTheGenerations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	write(t, path, "0123456789")
	write(t, generation(path, 2), "two")
	f, err := Open(path, 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if read(t, generation(path, 1)) != "0123456789" || read(t, generation(path, 3)) != "two" || exists(generation(path, 2)) {
		t.Fatal("generations not shifted by one")
	}
}

func TestRedirectSendsStdoutStderrAndTheLoggerToTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	f, err := Open(path, 1<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := os.Stdout, os.Stderr
	t.Cleanup(func() {
		os.Stdout, os.Stderr = stdout, stderr
		log.SetOutput(stderr)
		f.Close()
	})
	if err := Redirect(f); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(os.Stdout, "to stdout")
	fmt.Fprintln(os.Stderr, "to stderr")
	log.Print("to the logger")
	got := read(t, path)
	for _, want := range []string{"to stdout\n", "to stderr\n", "to the logger\n"} {
		if !strings.Contains(got, want) {
			t.Fatalf("log holds %q, not %q", got, want)
		}
	}
}
