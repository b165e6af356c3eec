package sudo_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/spindle-go/spindle/internal/sudotest"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/spawn/sudo"
)

func mustTTY(t testing.TB) func(*sudo.TTYTarget, error) *sudo.TTYTarget {
	return func(tgt *sudo.TTYTarget, err error) *sudo.TTYTarget {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return tgt
	}
}

// TestSu_Password: su reads the password from a pty, the command's stdio
// are pipes; as A to B with B's password, and to root... root has no
// known password here, so A to B and C to B.
func TestSu_Password(t *testing.T) {
	u := sudotest.Setup(t)
	for _, login := range []bool{false, true} {
		var calls atomic.Int32
		tgt := mustTTY(t)(sudo.Su(host(u.A), sudo.SuOptions{User: u.B.Name, Login: login,
			Auth: sudo.Auth{Password: countingPassword(u.B.Password, &calls)}}))
		cmd := probe
		cmd.Env, cmd.Dir = []string{"SPINDLE_T=set"}, "/tmp"
		res, err := run(t, tgt, cmd)
		if err != nil {
			t.Fatalf("login=%v: %v", login, err)
		}
		if res.user != u.B.Name || res.env != "set" || res.dir != "/tmp" || calls.Load() != 1 {
			t.Fatalf("login=%v: %+v, password asked %d times", login, res, calls.Load())
		}
	}
}

func TestSu_WrongPassword(t *testing.T) {
	u := sudotest.Setup(t)
	var calls atomic.Int32
	tgt := mustTTY(t)(sudo.Su(host(u.A), sudo.SuOptions{User: u.B.Name,
		Auth: sudo.Auth{Password: countingPassword("wrong", &calls)}}))
	_, err := run(t, tgt, probe)
	var ae *sudo.AuthError
	if !errors.Is(err, sudo.ErrBadPassword) || !errors.As(err, &ae) || ae.Prompts != 1 || calls.Load() != 1 {
		t.Fatalf("err = %v (%+v), password asked %d times", err, ae, calls.Load())
	}
	t.Logf("%v", err)
}

func TestSu_PasswordRequiredWithoutCallback(t *testing.T) {
	u := sudotest.Setup(t)
	_, err := run(t, mustTTY(t)(sudo.Su(host(u.A), sudo.SuOptions{User: u.B.Name})), probe)
	if !errors.Is(err, sudo.ErrPasswordRequired) {
		t.Fatalf("err = %v", err)
	}
}

func TestDoas_Password(t *testing.T) {
	u := sudotest.Setup(t)
	for _, to := range []string{"root", u.B.Name} {
		var calls atomic.Int32
		tgt := mustTTY(t)(sudo.Doas(host(u.A), sudo.DoasOptions{User: to,
			Auth: sudo.Auth{Password: countingPassword(u.A.Password, &calls)}}))
		res, err := run(t, tgt, probe)
		if err != nil {
			t.Fatalf("to %s: %v", to, err)
		}
		if res.user != to || calls.Load() != 1 {
			t.Fatalf("runs as %q, password asked %d times", res.user, calls.Load())
		}
	}
}

func TestDoas_NoPasswordNeeded(t *testing.T) {
	u := sudotest.Setup(t)
	res, err := run(t, mustTTY(t)(sudo.Doas(host(u.B), sudo.DoasOptions{Auth: sudo.Auth{Password: never(t)}})), probe)
	if err != nil || res.user != "root" {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestDoas_WrongPassword(t *testing.T) {
	u := sudotest.Setup(t)
	var calls atomic.Int32
	tgt := mustTTY(t)(sudo.Doas(host(u.A), sudo.DoasOptions{Auth: sudo.Auth{Password: countingPassword("wrong", &calls)}}))
	_, err := run(t, tgt, probe)
	if !errors.Is(err, sudo.ErrBadPassword) || calls.Load() != 1 {
		t.Fatalf("err = %v, password asked %d times", err, calls.Load())
	}
	t.Logf("%v", err)
}

func TestDoas_NotPermitted(t *testing.T) {
	u := sudotest.Setup(t)
	_, err := run(t, mustTTY(t)(sudo.Doas(host(u.C), sudo.DoasOptions{Auth: sudo.Auth{Password: never(t)}})), probe)
	if !errors.Is(err, sudo.ErrRefused) {
		t.Fatalf("err = %v", err)
	}
	t.Logf("%v", err)
}

// TestSu_NeedsATerminal: su over a target that cannot make a terminal is
// refused when the target is built, not when it runs.
func TestSu_NeedsATerminal(t *testing.T) {
	u := sudotest.Setup(t)
	s := mustSudo(t, host(u.B), sudo.Options{})
	var inner runner.Target = s
	if _, err := sudo.Su(inner, sudo.SuOptions{}); !errors.Is(err, sudo.ErrNoTerminal) {
		t.Fatalf("err = %v", err)
	}
}
