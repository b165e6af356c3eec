package main

import (
	"bufio"
	"bytes"
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
)

// The Mitogen peer runs in Python: Go cannot drive Mitogen's API, and a
// call per measurement across a pipe would measure the pipe. The harness
// hands the plan to mitogen/mitobench.py, which does the same warm-up and
// rounds as the Go runner and returns raw times; the statistics are the
// harness's, as for every system.

//go:embed mitogen/*.py
var mitogenScripts embed.FS

// mitogenTarget says where the Mitogen contexts run.
type mitogenTarget struct {
	Via      string `json:"via"` // "local" or "ssh"
	Python   string `json:"python"`
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	User     string `json:"user,omitempty"`
	Identity string `json:"identity,omitempty"`
}

type mitogenRequest struct {
	Plan      Plan            `json:"plan"`
	Target    mitogenTarget   `json:"target"`
	Workloads map[string]bool `json:"workloads"`
}

// probeMitogen returns the Mitogen version, or a skip error when the
// interpreter or the package is missing.
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

// runMitogen runs the Python driver for one target.
func runMitogen(ctx context.Context, python string, target mitogenTarget, w Workloads, p Plan, log func(string, ...any)) (Raw, error) {
	dir, err := os.MkdirTemp("", "spindle-bench-mitogen-")
	if err != nil {
		return Raw{}, err
	}
	defer os.RemoveAll(dir)
	for _, name := range []string{"mitobench.py", "mitochild.py"} {
		src, err := mitogenScripts.ReadFile("mitogen/" + name)
		if err != nil {
			return Raw{}, err
		}
		if err := os.WriteFile(filepath.Join(dir, name), src, 0o644); err != nil {
			return Raw{}, err
		}
	}
	target.Python = python
	req, err := json.Marshal(mitogenRequest{Plan: p, Target: target, Workloads: map[string]bool{
		"spawn": w.Spawn, "spawn10": w.Spawn10, "rtt": w.RTT, "oneway": w.OneWay, "bulk": w.Bulk,
	}})
	if err != nil {
		return Raw{}, err
	}
	cmd := exec.CommandContext(ctx, python, filepath.Join(dir, "mitobench.py"))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(req)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return Raw{}, err
	}
	if err := cmd.Start(); err != nil {
		return Raw{}, err
	}
	tail := relayLines(stderr, log)()
	if err := cmd.Wait(); err != nil {
		return Raw{}, fmt.Errorf("mitobench.py: %w%s", err, tail)
	}
	var raw Raw
	if err := json.Unmarshal(stdout.Bytes(), &raw); err != nil {
		return Raw{}, fmt.Errorf("mitobench.py output: %w", err)
	}
	return raw, nil
}

// relayLines passes the script's progress lines ("mitogen: ...") to log and
// keeps the last other lines for an error message; the returned function
// waits for the end of the stream.
func relayLines(r io.Reader, log func(string, ...any)) func() string {
	var (
		mu   sync.Mutex
		last []string
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			if msg, ok := strings.CutPrefix(line, "mitogen: "); ok {
				log("%s", msg)
				continue
			}
			mu.Lock()
			if last = append(last, line); len(last) > 20 {
				last = last[1:]
			}
			mu.Unlock()
		}
	}()
	return func() string {
		<-done
		mu.Lock()
		defer mu.Unlock()
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
