package sudo_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/spawn/sudo"
)

// standIn writes a stand-in for sudo that prints its prompt token (its
// third argument) on stderr and then runs body: for the failures real sudo
// cannot be made to show on demand. It also records what it read.
func standIn(t *testing.T, body string) (path, readFile string) {
	return standInPrompt(t, true, body)
}

func standInPrompt(t *testing.T, prompt bool, body string) (path, readFile string) {
	t.Helper()
	dir := t.TempDir()
	readFile = filepath.Join(dir, "read")
	path = filepath.Join(dir, "sudo")
	script := "#!/bin/sh\n"
	if prompt {
		script += "printf '%s' \"$3\" >&2\n"
	}
	script += strings.ReplaceAll(body, "READ", readFile) + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, readFile
}

func startErr(t *testing.T, tgt runner.Target, timeout time.Duration) error {
	t.Helper()
	r, err := tgt.Runner(runner.Command{Argv: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err = r.Start(ctx)
	if err == nil {
		_ = r.Wait(ctx)
		t.Fatal("started")
	}
	return err
}

// TestSudo_HungToolTimesOut: a tool that takes the password and never
// answers is killed when the start's context ends: ErrAuthTimeout, with
// the context's error, and nothing left running.
func TestSudo_HungToolTimesOut(t *testing.T) {
	path, read := standIn(t, `read -r pw; echo "$pw" >READ; exec sleep 100`)
	tgt := mustSudo(t, &sudo.Host{}, sudo.Options{Auth: sudo.Auth{Path: path, Password: sudo.StaticPassword("pw")}})
	begin := time.Now()
	err := startErr(t, tgt, time.Second)
	if !errors.Is(err, sudo.ErrAuthTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Fatalf("returned after %v", d)
	}
	if b, _ := os.ReadFile(read); string(b) != "pw\n" {
		t.Fatalf("the tool read %q", b)
	}
}

// TestSudo_PasswordCallbackFails: the callback's error is kept, typed.
func TestSudo_PasswordCallbackFails(t *testing.T) {
	path, _ := standIn(t, `exec sleep 100`)
	vault := errors.New("vault sealed")
	tgt := mustSudo(t, &sudo.Host{}, sudo.Options{Auth: sudo.Auth{Path: path,
		Password: func(context.Context) ([]byte, error) { return nil, vault }}})
	err := startErr(t, tgt, 10*time.Second)
	if !errors.Is(err, sudo.ErrPasswordRequired) || !errors.Is(err, vault) {
		t.Fatalf("err = %v", err)
	}
}

// TestSudo_PasswordWithLineBreakNotSent: a password the tool would cut
// at a line break is refused before anything is written.
func TestSudo_PasswordWithLineBreakNotSent(t *testing.T) {
	path, read := standIn(t, `read -r pw; echo "$pw" >READ; exec sleep 100`)
	tgt := mustSudo(t, &sudo.Host{}, sudo.Options{Auth: sudo.Auth{Path: path, Password: sudo.StaticPassword("first\nsecond")}})
	err := startErr(t, tgt, 10*time.Second)
	if !errors.Is(err, sudo.ErrPasswordRequired) {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(read); len(b) != 0 {
		t.Fatalf("the tool read %q", b)
	}
}

// TestSudo_TooMuchOutputBeforeTheCommand: a tool or login shell that
// prints without end before the command runs is refused, bounded.
func TestSudo_TooMuchOutputBeforeTheCommand(t *testing.T) {
	path, _ := standInPrompt(t, false, `exec yes noise`)
	tgt := mustSudo(t, &sudo.Host{}, sudo.Options{Auth: sudo.Auth{Path: path}})
	if err := startErr(t, tgt, 10*time.Second); !errors.Is(err, sudo.ErrRefused) {
		t.Fatalf("err = %v", err)
	}
}

// TestSudo_BadOptions: options that would reach sudo's command line as
// flags are refused.
func TestSudo_BadOptions(t *testing.T) {
	for _, o := range []sudo.Options{{User: "-s"}, {Group: "-x"}, {PreserveEnv: []string{"A,B"}}, {PreserveEnv: []string{""}}} {
		if _, err := sudo.Sudo(&sudo.Host{}, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if _, err := sudo.Sudo(nil, sudo.Options{}); err == nil {
		t.Error("nil inner accepted")
	}
	if _, err := sudo.Su(&sudo.Host{}, sudo.SuOptions{User: "-c"}); err == nil {
		t.Error("su user -c accepted")
	}
}

// TestDoas_HungToolTimesOut: a doas that turns the terminal's echo off
// (a prompt) and never reads is killed at the deadline: the prompt is
// seen through the pty, the password written once, ErrAuthTimeout.
func TestDoas_HungToolTimesOut(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "doas")
	script := "#!/bin/sh\nstty -echo </dev/tty\nprintf 'Passwort: ' >/dev/tty\nexec sleep 100\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	tgt := mustTTY(t)(sudo.Doas(&sudo.Host{}, sudo.DoasOptions{Auth: sudo.Auth{Path: path, Password: countingPassword("pw", &calls)}}))
	err := startErr(t, tgt, 2*time.Second)
	var ae *sudo.AuthError
	if !errors.Is(err, sudo.ErrAuthTimeout) || !errors.As(err, &ae) || ae.Prompts != 1 || calls.Load() != 1 {
		t.Fatalf("err = %v (%+v), password asked %d times", err, ae, calls.Load())
	}
}
