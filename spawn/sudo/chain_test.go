package sudo_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/internal/sudotest"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/spawn/sudo"
)

// sshCLI is an SSH target through the OpenSSH client on this host: the
// remote login shell joins the words, so each is quoted.
type sshCLI struct {
	host  *sudo.Host
	args  []string
	login string
	// the server, for other clients
	addr, key, knownHosts string
}

func (s *sshCLI) Info() runner.Info {
	return runner.Info{Method: "ssh", Host: s.login, Caps: runner.Caps{Signal: false}}
}

func (s *sshCLI) Runner(cmd runner.Command) (runner.Runner, error) {
	argv := append([]string{"ssh"}, s.args...)
	argv = append(argv, s.login, "--")
	for _, a := range cmd.Argv {
		argv = append(argv, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	return s.host.Runner(runner.Command{Argv: argv})
}

// sshAs starts sshd on 127.0.0.1 and returns a target logging in as u.
func sshAs(t *testing.T, u sudotest.User) *sshCLI {
	t.Helper()
	sshtest.Require(t, "sshd", "ssh", "ssh-keygen")
	srv := sshtest.Start(t, sshtest.Config{})
	// sshd reads authorized_keys as the user: let u reach the file.
	for d := srv.Dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(srv.Dir, "authorized_keys"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &sshCLI{host: &sudo.Host{}, login: u.Name + "@" + srv.Host, addr: srv.Addr, key: srv.UserKey, knownHosts: srv.KnownHosts, args: []string{
		"-T", "-p", strconv.Itoa(srv.Port), "-i", srv.UserKey, "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + srv.KnownHosts, "-o", "LogLevel=ERROR",
	}}
}

// TestSudo_InsideSSH: ssh to 127.0.0.1 as spindle-a (the real sshd), sudo
// to root and to spindle-b there with a password: one expression, one
// password prompt.
func TestSudo_InsideSSH(t *testing.T) {
	u := sudotest.Setup(t)
	ssh := sshAs(t, u.A)
	for _, to := range []string{"root", u.B.Name} {
		var calls atomic.Int32
		tgt := mustSudo(t, ssh, sudo.Options{User: to, Auth: sudo.Auth{Password: countingPassword(u.A.Password, &calls)}})
		cmd := probe
		cmd.Env = []string{"SPINDLE_T=over-ssh"}
		res, err := run(t, tgt, cmd)
		if err != nil {
			t.Fatalf("to %s: %v", to, err)
		}
		if res.user != to || res.env != "over-ssh" || calls.Load() != 1 {
			t.Fatalf("to %s: %+v, password asked %d times", to, res, calls.Load())
		}
	}
}

// TestSudo_InsideSudo: wrappers stack: sudo (NOPASSWD) from spindle-b to
// spindle-a, then sudo with spindle-a's password to root.
func TestSudo_InsideSudo(t *testing.T) {
	u := sudotest.Setup(t)
	outer := mustSudo(t, host(u.B), sudo.Options{User: u.A.Name, Auth: sudo.Auth{Password: never(t)}})
	var calls atomic.Int32
	tgt := mustSudo(t, outer, sudo.Options{Auth: sudo.Auth{Password: countingPassword(u.A.Password, &calls)}})
	res, err := run(t, tgt, probe)
	if err != nil || res.user != "root" || calls.Load() != 1 {
		t.Fatalf("%+v %v, password asked %d times", res, err, calls.Load())
	}
}
