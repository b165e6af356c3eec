package ssh_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/platform"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn/ssh"
)

func TestSSH_WrongHostKey(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	// known_hosts vouches for another key under the server's name.
	other := filepath.Join(t.TempDir(), "other")
	sshtest.KeyGen(t, other, "")
	pub, err := os.ReadFile(other + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	known := filepath.Join(t.TempDir(), "known_hosts")
	fields := strings.Fields(string(pub))
	line := fmt.Sprintf("# a comment\n[%s]:%d %s %s\n", srv.Host, srv.Port, fields[0], fields[1])
	if err := os.WriteFile(known, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := sshOpts(srv, "mitm")
	opts.KnownHostsFiles = []string{known}
	err = trySSH(t, root, opts)
	var hke *ssh.HostKeyError
	if !errors.Is(err, ssh.ErrHostKeyMismatch) || !errors.As(err, &hke) {
		t.Fatalf("error %v, want ErrHostKeyMismatch", err)
	}
	if errors.Is(err, ssh.ErrUnknownHost) {
		t.Fatal("a mismatch also claims to be an unknown host")
	}
	if want := srv.Fingerprint(t); hke.Fingerprint != want || !strings.Contains(err.Error(), want) {
		t.Fatalf("fingerprint %q (message %q), want the server's %s", hke.Fingerprint, err, want)
	}
	if len(hke.Known) != 1 || !strings.HasPrefix(hke.Known[0], known+":2 ") {
		t.Fatalf("Known %q, want %s:2", hke.Known, known)
	}
	// Even accept-new never accepts a changed key.
	opts.HostKeyPolicy = ssh.HostKeyAcceptNew
	if err := trySSH(t, root, opts); !errors.Is(err, ssh.ErrHostKeyMismatch) {
		t.Fatalf("accept-new: %v, want ErrHostKeyMismatch", err)
	}
}

func TestSSH_UnknownHostAndAcceptNew(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	known := filepath.Join(t.TempDir(), "sub", "known_hosts") // neither exists yet
	opts := sshOpts(srv, "newhost")
	opts.KnownHostsFiles = []string{known}
	err := trySSH(t, root, opts)
	var hke *ssh.HostKeyError
	if !errors.Is(err, ssh.ErrUnknownHost) || !errors.As(err, &hke) || hke.Fingerprint != srv.Fingerprint(t) {
		t.Fatalf("error %v, want ErrUnknownHost with fingerprint %s", err, srv.Fingerprint(t))
	}
	if _, err := os.Stat(known); err == nil {
		t.Fatal("strict checking wrote known_hosts")
	}

	opts.HostKeyPolicy = ssh.HostKeyAcceptNew
	startSSH(t, root, opts)
	data, err := os.ReadFile(known)
	if err != nil {
		t.Fatalf("accept-new did not write known_hosts: %v", err)
	}
	hostKey, _ := os.ReadFile(srv.HostKey)
	if !strings.Contains(string(data), strings.Fields(string(hostKey))[1]) {
		t.Fatalf("known_hosts %q lacks the server's key", data)
	}
	// Now known: strict checking accepts it.
	opts.HostKeyPolicy = ssh.HostKeyStrict
	startSSH(t, root, opts)
}

func TestSSH_InsecureIgnoreIsExplicitAndLogged(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	capt := newCapture()
	root := newRoot(t, sloggerOf(capt))
	opts := sshOpts(srv, "reckless")
	opts.KnownHostsFiles = []string{filepath.Join(t.TempDir(), "empty")}
	opts.HostKeyPolicy = ssh.HostKeyInsecureIgnore
	startSSH(t, root, opts)
	attrs, ok := capt.find("ssh: host key NOT checked (HostKeyInsecureIgnore)")
	if !ok || !strings.Contains(attrs["key"], srv.Fingerprint(t)) {
		t.Fatalf("no warning naming the unchecked key: %v", attrs)
	}
}

func TestSSH_RejectedKey(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	stranger := filepath.Join(t.TempDir(), "stranger")
	sshtest.KeyGen(t, stranger, "")
	opts := sshOpts(srv, "stranger")
	opts.IdentityFiles = []string{stranger}
	err := trySSH(t, root, opts)
	var ae *ssh.AuthError
	if !errors.Is(err, ssh.ErrAuthFailed) || !errors.As(err, &ae) {
		t.Fatalf("error %v, want ErrAuthFailed", err)
	}
	if !contains(ae.Tried, "publickey") || ae.User != srv.User {
		t.Fatalf("AuthError %+v, want publickey tried as %s", ae, srv.User)
	}
	// No credentials at all is an authentication failure too.
	opts.IdentityFiles = []string{filepath.Join(t.TempDir(), "missing")}
	if err := trySSH(t, root, opts); !errors.Is(err, ssh.ErrAuthFailed) {
		t.Fatalf("no key: %v, want ErrAuthFailed", err)
	}
}

func TestSSH_PassphraseProtectedKey(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	locked := filepath.Join(t.TempDir(), "locked")
	sshtest.KeyGen(t, locked, "open sesame")
	srv.Authorize(t, locked)
	// An unrelated encrypted key the server does not know: its passphrase
	// must never be asked for.
	unrelated := filepath.Join(t.TempDir(), "unrelated")
	sshtest.KeyGen(t, unrelated, "never asked")

	var asked []string
	opts := sshOpts(srv, "locked")
	opts.IdentityFiles = []string{unrelated, locked}
	opts.Passphrase = func(file string) ([]byte, error) {
		asked = append(asked, file)
		return []byte("open sesame"), nil
	}
	startSSH(t, root, opts)
	if len(asked) != 1 || asked[0] != locked {
		t.Fatalf("passphrase asked for %v, want only %s", asked, locked)
	}

	opts.Passphrase = func(string) ([]byte, error) { return []byte("wrong"), nil }
	if err := trySSH(t, root, opts); !errors.Is(err, ssh.ErrAuthFailed) {
		t.Fatalf("wrong passphrase: %v, want ErrAuthFailed", err)
	}
	opts.Passphrase = nil
	if err := trySSH(t, root, opts); !errors.Is(err, ssh.ErrAuthFailed) {
		t.Fatalf("no passphrase callback: %v, want ErrAuthFailed", err)
	}
}

func TestSSH_Agent(t *testing.T) {
	sshtest.Require(t, "ssh-agent", "ssh-add")
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	agent.SysProcAttr = &syscall.SysProcAttr{}
	platform.SetPdeathsig(agent.SysProcAttr)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Process.Kill(); _ = agent.Wait() })
	waitFor(t, 5*time.Second, "agent socket", func() bool { _, err := os.Stat(sock); return err == nil })
	add := exec.Command("ssh-add", srv.UserKey)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}
	opts := sshOpts(srv, "agent")
	opts.IdentityFiles = []string{filepath.Join(t.TempDir(), "none")} // only the agent has the key
	opts.Agent = sock
	startSSH(t, root, opts)
}

func TestSSH_PasswordCallback(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{Password: true})
	root := newRoot(t, nil)
	var calls atomic.Int32
	opts := sshOpts(srv, "pw")
	opts.IdentityFiles = []string{filepath.Join(t.TempDir(), "none")}
	opts.Password = func(user, host string) (string, error) {
		calls.Add(1)
		if user != srv.User || host != srv.Host {
			t.Errorf("password asked for %s@%s", user, host)
		}
		return "certainly not the password", nil
	}
	err := trySSH(t, root, opts)
	var ae *ssh.AuthError
	if !errors.Is(err, ssh.ErrAuthFailed) || !errors.As(err, &ae) || !contains(ae.Tried, "password") {
		t.Fatalf("error %v, want ErrAuthFailed after trying password", err)
	}
	if calls.Load() == 0 {
		t.Fatal("password callback never called")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
