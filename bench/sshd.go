package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"syscall"
	"time"
)

// sshTarget is an SSH account the SSH systems log into.
type sshTarget struct {
	Host       string
	Port       int
	User       string
	Identity   string // private key file (no passphrase)
	KnownHosts string // a known_hosts file that holds the server's host key
	CacheDir   string // a private directory for a context's binary cache
}

// sshd is a private OpenSSH server on 127.0.0.1 with throwaway host and
// user keys, so the SSH rows need no system sshd, no existing keys and no
// change to ~/.ssh. It runs only when the sshd binary is installed
// (openssh-server; bench/setup.sh installs it).
type sshd struct {
	dir    string
	cmd    *exec.Cmd
	target sshTarget
	exited chan struct{}
}

const sshdPath = "/usr/sbin/sshd"

// startSSHD starts the server and waits until it accepts connections. A
// missing sshd or ssh-keygen is a skip error.
func startSSHD(ctx context.Context) (*sshd, error) {
	if _, err := os.Stat(sshdPath); err != nil {
		return nil, skipf("no sshd (%s; bench/setup.sh installs openssh-server)", sshdPath)
	}
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		return nil, skipf("no ssh-keygen (openssh-client)")
	}
	u, err := user.Current()
	if err != nil {
		return nil, skipf("current user: %v", err)
	}
	if u.Uid == "0" {
		// sshd run as root wants its privilege separation directory, which
		// the package's init script normally creates.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, skipf("sshd privilege separation directory: %v", err)
		}
	}
	dir, err := os.MkdirTemp("", "spindle-bench-sshd-")
	if err != nil {
		return nil, err
	}
	s := &sshd{dir: dir, exited: make(chan struct{})}
	if err := s.start(ctx, keygen, u.Username); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *sshd) start(ctx context.Context, keygen, username string) error {
	hostKey, userKey := filepath.Join(s.dir, "host_ed25519"), filepath.Join(s.dir, "user_ed25519")
	for _, k := range []string{hostKey, userKey} {
		if out, err := exec.CommandContext(ctx, keygen, "-q", "-t", "ed25519", "-N", "", "-C", "spindle-bench", "-f", k).CombinedOutput(); err != nil {
			return fmt.Errorf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(userKey + ".pub")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dir, "authorized_keys"), pub, 0o600); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		return err
	}
	knownHosts := filepath.Join(s.dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", port, hostPub)), 0o600); err != nil {
		return err
	}
	config := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
MaxStartups 100
MaxSessions 100
LogLevel ERROR
`, port, hostKey, filepath.Join(s.dir, "sshd.pid"), filepath.Join(s.dir, "authorized_keys"))
	cfg := filepath.Join(s.dir, "sshd_config")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return err
	}
	s.cmd = exec.Command(sshdPath, "-D", "-e", "-f", cfg)
	s.cmd.Stderr = os.Stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return skipf("start sshd: %v", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	cache := filepath.Join(s.dir, "cache")
	if err := os.Mkdir(cache, 0o700); err != nil {
		return err
	}
	s.target = sshTarget{Host: "127.0.0.1", Port: port, User: username, Identity: userKey, KnownHosts: knownHosts, CacheDir: cache}
	return s.waitListening(ctx)
}

// waitListening waits for sshd's pid file, which it writes once its
// socket listens (a probe connection would make sshd log an error).
func (s *sshd) waitListening(ctx context.Context) error {
	pidFile := filepath.Join(s.dir, "sshd.pid")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(pidFile); err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return skipf("sshd exited at start (see its messages above)")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("sshd did not listen within 10s")
		}
	}
}

func (s *sshd) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
	}
	_ = os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
