package main

import (
	"bufio"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// The Mitogen peer runs in Python, since Mitogen is a Python library. The
// harness starts mitogen/mitobench.py once per Mitogen system and drives it
// a round at a time over a line protocol on its stdin and stdout (described
// in the script); the script times each operation itself, so the protocol
// costs nothing in the figures. The plan and the statistics are the
// harness's, as for every system.

//go:embed mitogen/*.py
var mitogenScripts embed.FS

// mitogenTarget says where the Mitogen contexts run.
type mitogenTarget struct {
	Via      string `json:"via"` // "local", "ssh" or "docker"
	Python   string `json:"python"`
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	User     string `json:"user,omitempty"`
	Identity string `json:"identity,omitempty"`
	// Container is the container of Via "docker".
	Container string `json:"container,omitempty"`
}

// probeMitogen returns the Python and Mitogen versions, or a skip error
// when the interpreter or the package is missing.
func probeMitogen(ctx context.Context, python string) (string, error) {
	if _, err := os.Stat(python); err != nil {
		return "", skipf("%s not found (bench/setup.sh installs python3-mitogen)", python)
	}
	out, err := exec.CommandContext(ctx, python, "-c",
		"import sys, mitogen; print('Python %d.%d.%d' % sys.version_info[:3], 'mitogen %d.%d.%d' % mitogen.__version__)").Output()
	if err != nil {
		return "", skipf("python3-mitogen is not installed for %s (bench/setup.sh installs it)", python)
	}
	return strings.TrimSpace(string(out)), nil
}

// mitogenContender is a running mitobench.py.
type mitogenContender struct {
	dir    string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	tail   func() string // the script's last stderr lines, once it has exited

	mu     sync.Mutex
	closed bool
}

var _ contender = (*mitogenContender)(nil)

// startMitogen writes the embedded scripts to a temporary directory and
// starts the driver for target.
func startMitogen(python string, target mitogenTarget) (*mitogenContender, error) {
	dir, err := os.MkdirTemp("", "spindle-bench-mitogen-")
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"mitobench.py", "mitochild.py"} {
		src, err := mitogenScripts.ReadFile("mitogen/" + name)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), src, 0o644)
		}
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	target.Python = python
	arg, _ := json.Marshal(target)
	m := &mitogenContender{dir: dir, cmd: exec.Command(python, filepath.Join(dir, "mitobench.py"), string(arg))}
	m.cmd.Dir = dir
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if m.stdin, err = m.cmd.StdinPipe(); err == nil {
		var out io.ReadCloser
		if out, err = m.cmd.StdoutPipe(); err == nil {
			m.stdout = bufio.NewReaderSize(out, 1<<20)
			var errPipe io.ReadCloser
			if errPipe, err = m.cmd.StderrPipe(); err == nil {
				m.tail = keepTail(errPipe, 20)
				err = m.cmd.Start()
			}
		}
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start mitobench.py: %w", err)
	}
	return m, nil
}

type mitogenAnswer struct {
	Samples []float64 `json:"samples"`
	Seconds float64   `json:"seconds"`
	Error   string    `json:"error"`
}

// do sends one request and reads its answer. The script times the work
// itself; ctx only bounds the wait (on expiry the script is killed).
func (m *mitogenContender) do(ctx context.Context, op string, n int) (mitogenAnswer, error) {
	var a mitogenAnswer
	req, _ := json.Marshal(map[string]any{"op": op, "n": n})
	stop := context.AfterFunc(ctx, func() { _ = m.cmd.Process.Kill() })
	defer stop()
	if _, err := m.stdin.Write(append(req, '\n')); err != nil {
		return a, m.died(err)
	}
	line, err := m.stdout.ReadBytes('\n')
	if err != nil {
		return a, m.died(err)
	}
	if err := json.Unmarshal(line, &a); err != nil {
		return a, fmt.Errorf("mitobench.py answered %q: %w", line, err)
	}
	if a.Error != "" {
		return a, fmt.Errorf("mitogen %s: %s", op, a.Error)
	}
	return a, nil
}

// died explains a broken pipe to the script with its exit status and the
// last lines it wrote to stderr.
func (m *mitogenContender) died(err error) error {
	_ = m.cmd.Process.Kill()
	tail := m.tail()
	werr := m.cmd.Wait()
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return fmt.Errorf("mitobench.py: %v (%v)%s", err, werr, tail)
}

func (m *mitogenContender) spawnRound(ctx context.Context, n int) ([]float64, error) {
	a, err := m.do(ctx, "spawn", n)
	return a.Samples, err
}

func (m *mitogenContender) spawnBatchRound(ctx context.Context, n int) (float64, error) {
	a, err := m.do(ctx, "spawn_batch", n)
	return a.Seconds, err
}

func (m *mitogenContender) open(ctx context.Context) error {
	_, err := m.do(ctx, "open", 0)
	return err
}

func (m *mitogenContender) pingPongRound(context.Context, int) ([]float64, error) {
	return nil, errors.New("mitogen: no actor ping-pong")
}

func (m *mitogenContender) rttRound(ctx context.Context, n int) ([]float64, error) {
	a, err := m.do(ctx, "rtt", n)
	return a.Samples, err
}

func (m *mitogenContender) oneWayRound(ctx context.Context, n int) (Rate, error) {
	a, err := m.do(ctx, "oneway", n)
	return Rate{N: n, Seconds: a.Seconds}, err
}

func (m *mitogenContender) bulkRound(ctx context.Context, n int) ([]float64, error) {
	a, err := m.do(ctx, "bulk", n)
	return a.Samples, err
}

// close asks the script to stop its contexts and exit.
func (m *mitogenContender) close() error {
	m.mu.Lock()
	closed := m.closed
	m.closed = true
	m.mu.Unlock()
	defer os.RemoveAll(m.dir)
	if closed {
		return nil
	}
	_, _ = m.stdin.Write([]byte(`{"op": "close"}` + "\n"))
	_ = m.stdin.Close()
	tail := m.tail()
	if err := m.cmd.Wait(); err != nil {
		return fmt.Errorf("mitobench.py: %w%s", err, tail)
	}
	return nil
}

// keepTail keeps the last n lines of r; the returned function waits for
// the end of r and returns them (formatted for an error message).
func keepTail(r io.Reader, n int) func() string {
	var last []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if last = append(last, sc.Text()); len(last) > n {
				last = last[1:]
			}
		}
	}()
	return func() string {
		<-done
		if len(last) == 0 {
			return ""
		}
		return "; stderr:\n" + strings.Join(last, "\n")
	}
}

// skipError is the reason a system did not run: a missing peer or
// facility, never a failure.
type skipError struct{ reason string }

func (e *skipError) Error() string { return e.reason }

func skipf(format string, args ...any) error { return &skipError{fmt.Sprintf(format, args...)} }

func isSkip(err error) (string, bool) {
	var s *skipError
	if errors.As(err, &s) {
		return s.reason, true
	}
	return "", false
}
