package sudo_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/sudotest"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/spawn/sudo"
)

// countingPassword answers pw and counts the calls.
func countingPassword(pw string, calls *atomic.Int32) sudo.Password {
	return func(context.Context) ([]byte, error) {
		calls.Add(1)
		return []byte(pw), nil
	}
}

// never fails the test when a password is asked for.
func never(t *testing.T) sudo.Password {
	return func(context.Context) ([]byte, error) {
		t.Error("the password callback was called although no password is needed")
		return nil, errors.New("no")
	}
}

// probe is the command every test runs: it names the user it runs as,
// then echoes one line of stdin, so both directions of the stream are
// checked after authentication.
var probe = runner.Command{Argv: []string{"sh", "-c", `id -un; id -gn; pwd; printf "env=%s\n" "$SPINDLE_T"; read -r l; echo "got $l"`}}

type result struct {
	user, group, dir, env string
}

// run starts cmd on tgt, talks to the probe, and returns what it said.
func run(t *testing.T, tgt runner.Target, cmd runner.Command) (result, error) {
	t.Helper()
	r, err := tgt.Runner(cmd)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		return result{}, err
	}
	var stderr strings.Builder
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _, _ = io.Copy(&stderr, r.Stderr()) }()
	out := bufio.NewReader(r.Stdout())
	var lines []string
	for i := 0; i < 4; i++ {
		l, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the command's output: %v (so far %q)", err, lines)
		}
		lines = append(lines, strings.TrimSpace(l))
	}
	if _, err := io.WriteString(r.Stdin(), "hello\n"); err != nil {
		t.Fatal(err)
	}
	if l, _ := out.ReadString('\n'); strings.TrimSpace(l) != "got hello" {
		t.Fatalf("echo through the wrapped command: %q", l)
	}
	_ = r.Stdin().Close()
	if err := r.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	wg.Wait()
	if s := stderr.String(); s != "" {
		t.Logf("stderr: %q", s)
	}
	return result{user: lines[0], group: lines[1], dir: lines[2], env: strings.TrimPrefix(lines[3], "env=")}, nil
}

func host(u sudotest.User) *sudo.Host { return &sudo.Host{Credential: u.Credential()} }

func mustSudo(t testing.TB, inner runner.Target, o sudo.Options) *sudo.SudoTarget {
	t.Helper()
	s, err := sudo.Sudo(inner, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSudo_PasswordToRootAndToUser(t *testing.T) {
	u := sudotest.Setup(t)
	for _, to := range []string{"root", u.B.Name} {
		t.Run(to, func(t *testing.T) {
			var calls atomic.Int32
			tgt := mustSudo(t, host(u.A), sudo.Options{User: to, Auth: sudo.Auth{Password: countingPassword(u.A.Password, &calls)}})
			res, err := run(t, tgt, probe)
			if err != nil {
				t.Fatal(err)
			}
			if res.user != to {
				t.Fatalf("runs as %q, want %q", res.user, to)
			}
			if calls.Load() != 1 {
				t.Fatalf("password asked %d times, want 1", calls.Load())
			}
		})
	}
}

func TestSudo_NoPasswordNeeded(t *testing.T) {
	u := sudotest.Setup(t)
	tgt := mustSudo(t, host(u.B), sudo.Options{Auth: sudo.Auth{Password: never(t)}})
	res, err := run(t, tgt, probe)
	if err != nil {
		t.Fatal(err)
	}
	if res.user != "root" {
		t.Fatalf("runs as %q", res.user)
	}
}

// TestSudo_WrongPasswordOneAttempt: a wrong password is a typed error, at
// once (sudo would ask three times), after one attempt.
func TestSudo_WrongPasswordOneAttempt(t *testing.T) {
	u := sudotest.Setup(t)
	var calls atomic.Int32
	tgt := mustSudo(t, host(u.A), sudo.Options{Auth: sudo.Auth{Password: countingPassword("wrong-"+u.A.Password, &calls)}})
	begin := time.Now()
	_, err := run(t, tgt, probe)
	if !errors.Is(err, sudo.ErrBadPassword) {
		t.Fatalf("err = %v, want ErrBadPassword", err)
	}
	var ae *sudo.AuthError
	if !errors.As(err, &ae) || ae.Prompts != 2 || ae.Method != "sudo" {
		t.Fatalf("AuthError = %+v", ae)
	}
	if calls.Load() != 1 {
		t.Fatalf("password asked %d times, want 1", calls.Load())
	}
	if strings.Contains(err.Error(), u.A.Password) {
		t.Fatal("the error holds the password")
	}
	t.Logf("refused after %v: %v", time.Since(begin).Round(time.Millisecond), err)
}

func TestSudo_PasswordRequiredWithoutCallback(t *testing.T) {
	u := sudotest.Setup(t)
	_, err := run(t, mustSudo(t, host(u.A), sudo.Options{}), probe)
	if !errors.Is(err, sudo.ErrPasswordRequired) {
		t.Fatalf("err = %v, want ErrPasswordRequired", err)
	}
}

// TestSudo_NotAllowed: a user without a rule gives the right password and
// is refused by the policy: ErrRefused, not ErrBadPassword.
func TestSudo_NotAllowed(t *testing.T) {
	u := sudotest.Setup(t)
	tgt := mustSudo(t, host(u.C), sudo.Options{Auth: sudo.Auth{Password: sudo.StaticPassword(u.C.Password)}})
	_, err := run(t, tgt, probe)
	if !errors.Is(err, sudo.ErrRefused) || errors.Is(err, sudo.ErrBadPassword) {
		t.Fatalf("err = %v, want ErrRefused", err)
	}
	var ae *sudo.AuthError
	if errors.As(err, &ae) && ae.ExitCode != 1 {
		t.Fatalf("exit code %d, want 1", ae.ExitCode)
	}
}

func TestSudo_ToolMissing(t *testing.T) {
	u := sudotest.Setup(t)
	tgt := mustSudo(t, host(u.A), sudo.Options{Auth: sudo.Auth{Path: "/nonexistent/sudo"}})
	if _, err := run(t, tgt, probe); err == nil {
		t.Fatal("started without a sudo binary")
	}
}

// TestSudo_Options: group, login shell, environment kept, Command.Env and
// Command.Dir reach the command.
func TestSudo_Options(t *testing.T) {
	u := sudotest.Setup(t)
	pw := sudo.Auth{Password: sudo.StaticPassword(u.A.Password)}
	t.Run("group", func(t *testing.T) {
		res, err := run(t, mustSudo(t, host(u.A), sudo.Options{User: u.B.Name, Group: "root", Auth: pw}), probe)
		if err != nil || res.group != "root" {
			t.Fatalf("group %q, err %v", res.group, err)
		}
	})
	t.Run("login", func(t *testing.T) {
		res, err := run(t, mustSudo(t, host(u.A), sudo.Options{User: u.B.Name, Login: true, Auth: pw}), probe)
		if err != nil || res.dir != u.B.Home {
			t.Fatalf("dir %q, want %q; err %v", res.dir, u.B.Home, err)
		}
	})
	t.Run("preserve-env", func(t *testing.T) {
		h := host(u.A)
		h.Env = []string{"SPINDLE_T=kept"}
		res, err := run(t, mustSudo(t, h, sudo.Options{PreserveEnv: []string{"SPINDLE_T"}, Auth: pw}), probe)
		if err != nil || res.env != "kept" {
			t.Fatalf("env %q, err %v", res.env, err)
		}
	})
	t.Run("command-env-dir", func(t *testing.T) {
		cmd := probe
		cmd.Env, cmd.Dir = []string{"SPINDLE_T=set"}, "/tmp"
		res, err := run(t, mustSudo(t, host(u.A), sudo.Options{User: u.B.Name, Auth: pw}), cmd)
		if err != nil || res.env != "set" || res.dir != "/tmp" {
			t.Fatalf("env %q dir %q, err %v", res.env, res.dir, err)
		}
	})
}

// TestSudo_PasswordNeverInProc: while the start runs, no process on the
// machine has the password in its command line or environment.
func TestSudo_PasswordNeverInProc(t *testing.T) {
	u := sudotest.Setup(t)
	stop := make(chan struct{})
	found := make(chan string, 1)
	var scans atomic.Int32
	go func() {
		for {
			select {
			case <-stop:
				close(found)
				return
			default:
			}
			if where := scanProc(u.A.Password); where != "" {
				found <- where
				<-stop
				close(found)
				return
			}
			scans.Add(1)
		}
	}()
	for _, to := range []string{"root", u.B.Name} {
		tgt := mustSudo(t, host(u.A), sudo.Options{User: to, Auth: sudo.Auth{Password: sudo.StaticPassword(u.A.Password)}})
		if _, err := run(t, tgt, probe); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if where, ok := <-found; ok && where != "" {
		t.Fatalf("the password is visible in %s", where)
	}
	if scans.Load() == 0 {
		t.Fatal("/proc was never scanned")
	}
}

// scanProc returns the first /proc/PID/{cmdline,environ} holding s.
func scanProc(s string) string {
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	envs, _ := filepath.Glob("/proc/[0-9]*/environ")
	self := "/proc/" + strconv.Itoa(os.Getpid()) + "/"
	for _, f := range append(files, envs...) {
		if strings.HasPrefix(f, self) {
			continue // the test holds the password itself
		}
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), s) {
			return f
		}
	}
	return ""
}

// TestSudo_KilledToolEndsCommand: kill -9 on sudo (by someone else) leaves
// its command running as root; the wrapper ends the command's stdin, so a
// command that reads it (as a Spindle child reads its link) ends too.
func TestSudo_KilledToolEndsCommand(t *testing.T) {
	u := sudotest.Setup(t)
	for _, mk := range []struct {
		name string
		tgt  func() runner.Target
	}{
		{"sudo", func() runner.Target {
			return mustSudo(t, host(u.A), sudo.Options{Auth: sudo.Auth{Password: sudo.StaticPassword(u.A.Password)}})
		}},
		{"doas", func() runner.Target {
			return mustTTY(t)(sudo.Doas(host(u.A), sudo.DoasOptions{Auth: sudo.Auth{Password: sudo.StaticPassword(u.A.Password)}}))
		}},
		{"su", func() runner.Target {
			return mustTTY(t)(sudo.Su(host(u.A), sudo.SuOptions{User: u.B.Name, Auth: sudo.Auth{Password: sudo.StaticPassword(u.B.Password)}}))
		}},
	} {
		t.Run(mk.name, func(t *testing.T) {
			r, err := mk.tgt().Runner(runner.Command{Argv: []string{"sh", "-c", `echo $$; exec cat`}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := r.Start(ctx); err != nil {
				t.Fatal(err)
			}
			go func() { _, _ = io.Copy(io.Discard, r.Stderr()) }()
			out := bufio.NewReader(r.Stdout())
			line, err := out.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			cmdPid, _ := strconv.Atoi(strings.TrimSpace(line))
			toolPid, _ := strconv.Atoi(r.ID())
			if cmdPid <= 0 || toolPid <= 0 || cmdPid == toolPid {
				t.Fatalf("pids: command %q tool %q", line, r.ID())
			}
			if err := syscall.Kill(toolPid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed := time.Now()
			werr := r.Wait(ctx)
			var ec runner.ExitCoder
			t.Logf("tool ended after %v: %v", time.Since(killed), werr)
			if werr == nil || (errors.As(werr, &ec) && ec.ExitCode() == 0) {
				t.Fatalf("Wait = %v, want the kill", werr)
			}
			if _, err := io.ReadAll(out); err != nil { // EOF: the command ended
				t.Fatal(err)
			}
			t.Logf("stdout ended after %v", time.Since(killed))
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if !running(cmdPid) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the command %d still runs after its tool was killed", cmdPid)
				}
			}
		})
	}
}

// running reports whether pid is a live process (not gone, not a zombie
// waiting for its new parent to reap it).
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// TestSudo_CommandReplaysPromptToken: the command, once running, reads
// the prompt token from sudo's argv and prints it on stderr to make the
// wrapper send the password again. The dialogue is over: nothing is
// sent, the callback is not asked again, and the token reaches the
// caller's stderr as the command's output.
func TestSudo_CommandReplaysPromptToken(t *testing.T) {
	u := sudotest.Setup(t)
	var calls atomic.Int32
	tgt := mustSudo(t, host(u.A), sudo.Options{User: u.B.Name, Auth: sudo.Auth{Password: countingPassword(u.A.Password, &calls)}})
	r, err := tgt.Runner(runner.Command{Argv: []string{"sh", "-c",
		`tok=$(tr '\0' '\n' </proc/$PPID/cmdline | sed -n 4p); printf '%s%s' "$tok" "$tok" >&2; echo asked; read -r l; echo "got $l"`}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	done := make(chan struct{})
	go func() { defer close(done); _, _ = io.Copy(&stderr, r.Stderr()) }()
	out := bufio.NewReader(r.Stdout())
	if l, _ := out.ReadString('\n'); l != "asked\n" {
		t.Fatalf("%q", l)
	}
	time.Sleep(100 * time.Millisecond) // let a (wrong) answer race the line below
	_, _ = io.WriteString(r.Stdin(), "hello\n")
	if l, _ := out.ReadString('\n'); l != "got hello\n" {
		t.Fatalf("the command read %q first", l)
	}
	_ = r.Stdin().Close()
	if err := r.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	if calls.Load() != 1 || !strings.Contains(stderr.String(), "[spindle-sudo-") {
		t.Fatalf("password asked %d times; stderr %q", calls.Load(), stderr.String())
	}
}

// TestSudo_LoginShellNoise: a login shell's startup files print before the
// command runs; those lines are skipped, the stream after the marker is
// the command's alone.
func TestSudo_LoginShellNoise(t *testing.T) {
	u := sudotest.Setup(t)
	for _, tgt := range []runner.Target{
		mustSudo(t, &sudo.Host{}, sudo.Options{User: u.B.Name, Login: true}),
		mustTTY(t)(sudo.Su(host(u.A), sudo.SuOptions{User: u.B.Name, Login: true, Auth: sudo.Auth{Password: sudo.StaticPassword(u.B.Password)}})),
	} {
		res, err := run(t, tgt, probe)
		if err != nil || res.user != u.B.Name || res.dir != u.B.Home {
			t.Fatalf("%s: %+v %v", tgt.Info().Method, res, err)
		}
	}
}

// TestSudo_SignalRelayed: TERM sent to the runner ends the command under
// sudo (sudo relays it), and sudo reports the command's death by TERM.
func TestSudo_SignalRelayed(t *testing.T) {
	u := sudotest.Setup(t)
	tgt := mustSudo(t, &sudo.Host{}, sudo.Options{User: u.B.Name})
	r, err := tgt.Runner(runner.Command{Argv: []string{"sh", "-c", `echo up; exec sleep 100`}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, r.Stderr()) }()
	if l, _ := bufio.NewReader(r.Stdout()).ReadString('\n'); l != "up\n" {
		t.Fatalf("%q", l)
	}
	if err := r.Signal(ctx, runner.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = r.Wait(ctx)
	var ec runner.ExitCoder
	if !errors.As(err, &ec) || ec.ExitCode() != 128+int(syscall.SIGTERM) {
		t.Fatalf("Wait = %v, want the command's death by TERM", err)
	}
}
