// Package sshtest starts a real OpenSSH sshd for tests: on 127.0.0.1 or
// inside a network namespace, with host and user keys generated in a
// temporary directory by ssh-keygen.
//
// # Usage
//
//	srv := sshtest.Start(t, sshtest.Config{})
//	// srv.Addr, srv.KnownHosts (a known_hosts file trusting srv),
//	// srv.UserKey (an authorized private key), srv.User
//
// When sshd or ssh-keygen is missing, or the test does not run as root,
// Start skips the test with a clear message, unless the environment sets
// SPINDLE_REQUIRE_INTEGRATION=1 (as .ci/run does), in which case the test
// fails. The server is stopped when the test ends; its log is printed when
// the test failed.
package sshtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/platform"
)

// EnvRequire names the variable that turns missing prerequisites into
// failures instead of skips.
const EnvRequire = "SPINDLE_REQUIRE_INTEGRATION"

// Require skips t (or fails it when SPINDLE_REQUIRE_INTEGRATION=1) unless
// every named program is found and the test runs as root.
func Require(t testing.TB, programs ...string) {
	t.Helper()
	var missing []string
	for _, p := range programs {
		if _, err := lookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 && os.Geteuid() == 0 {
		return
	}
	why := fmt.Sprintf("needs %s (Debian: apt-get install openssh-server iproute2)", strings.Join(missing, ", "))
	if len(missing) == 0 {
		why = "needs root (sshd, mounts and network namespaces)"
	}
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("integration prerequisite missing: %s; %s=1 forbids skipping", why, EnvRequire)
	}
	t.Skipf("skipping: %s; set %s=1 to make this a failure", why, EnvRequire)
}

// lookPath finds a program in PATH or in the sbin directories, where
// Debian installs sshd.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// Config configures a test sshd. The zero value listens on 127.0.0.1.
type Config struct {
	// ListenIP is the address sshd listens on. Default 127.0.0.1.
	ListenIP string
	// Port is the port; default a free port on 127.0.0.1 (required with
	// NetNS, where the host's free ports say nothing).
	Port int
	// NetNS runs sshd inside this network namespace (ip netns exec).
	NetNS string
	// Env is set in every session through sshd's SetEnv ("NAME=value").
	Env []string
	// Password enables password authentication (the test user's real
	// password, which tests do not know: useful for rejected passwords).
	Password bool
	// Extra lines are appended to sshd_config.
	Extra []string
}

// Server is a running sshd.
type Server struct {
	Addr       string // host:port to dial
	Host       string
	Port       int
	User       string // the user sessions run as (the test's own user)
	Dir        string // temporary directory with keys and config
	HostKey    string // path of the host's public key file
	KnownHosts string // a known_hosts file that trusts this server
	UserKey    string // an authorized private key (no passphrase)

	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

// Start starts sshd and waits until it accepts connections.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	Require(t, "sshd", "ssh-keygen")
	if cfg.ListenIP == "" {
		cfg.ListenIP = "127.0.0.1"
	}
	dir := t.TempDir()
	s := &Server{Host: cfg.ListenIP, User: currentUser(), Dir: dir, log: &syncBuffer{}, done: make(chan struct{})}
	hostKey := filepath.Join(dir, "host_ed25519")
	s.HostKey = hostKey + ".pub"
	s.UserKey = filepath.Join(dir, "user_ed25519")
	for _, k := range []string{hostKey, s.UserKey} {
		KeyGen(t, k, "")
	}
	pub, err := os.ReadFile(s.UserKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_keys")
	writeFile(t, authorized, pub)
	ensurePrivsepDir(t)
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := cfg.Port
		if port == 0 {
			port = freePort(t)
		}
		s.Port = port
		s.Addr = net.JoinHostPort(cfg.ListenIP, strconv.Itoa(port))
		conf := filepath.Join(dir, "sshd_config")
		writeFile(t, conf, []byte(s.config(cfg, hostKey, authorized)))
		if lastErr = s.run(cfg, conf); lastErr == nil {
			break
		}
		if cfg.Port != 0 {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("sshtest: sshd did not start: %v\n%s", lastErr, s.log.String())
	}
	s.KnownHosts = filepath.Join(dir, "known_hosts")
	writeFile(t, s.KnownHosts, []byte(s.KnownHostsLine(t)+"\n"))
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("sshd log:\n%s", s.log.String())
		}
	})
	return s
}

func (s *Server) config(cfg Config, hostKey, authorized string) string {
	lines := []string{
		"Port " + strconv.Itoa(s.Port),
		"ListenAddress " + cfg.ListenIP,
		"HostKey " + hostKey,
		"PidFile none",
		"AuthorizedKeysFile " + authorized,
		"StrictModes no",
		"PermitRootLogin yes",
		"PubkeyAuthentication yes",
		"KbdInteractiveAuthentication no",
		"UsePAM no",
		"AllowTcpForwarding yes",
		"MaxStartups 100:30:200",
		"MaxSessions 50",
		"LogLevel VERBOSE",
		"PrintMotd no",
		// Drop connections whose client went silent (a cut network).
		"ClientAliveInterval 2",
		"ClientAliveCountMax 2",
	}
	if cfg.Password {
		lines = append(lines, "PasswordAuthentication yes")
	} else {
		lines = append(lines, "PasswordAuthentication no")
	}
	if len(cfg.Env) > 0 {
		lines = append(lines, "SetEnv "+strings.Join(cfg.Env, " "))
	}
	lines = append(lines, cfg.Extra...)
	return strings.Join(lines, "\n") + "\n"
}

// run starts sshd and waits for it to listen.
func (s *Server) run(cfg Config, conf string) error {
	sshd, err := lookPath("sshd")
	if err != nil {
		return err
	}
	args := []string{sshd, "-D", "-e", "-f", conf}
	if cfg.NetNS != "" {
		args = append([]string{"ip", "netns", "exec", cfg.NetNS}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	platform.SetPdeathsig(cmd.SysProcAttr)
	// Connection processes inherit the log pipe and may outlive the
	// listener (a cut connection lingers until ClientAlive gives up).
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("sshd exited: %s", cmd.ProcessState)
		default:
		}
		if s.listening(cfg) {
			s.cmd, s.done = cmd, done
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	return fmt.Errorf("sshd not listening on %s after 10s", s.Addr)
}

// listening reports whether sshd accepts connections. Inside a namespace
// the test's own namespace may have no route to it (an inner host behind a
// bastion, internal/netnstest): there sshd's own log line tells.
func (s *Server) listening(cfg Config) bool {
	if cfg.NetNS != "" {
		return strings.Contains(s.log.String(), "Server listening on "+cfg.ListenIP+" port "+strconv.Itoa(s.Port))
	}
	c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// Pid returns the process ID of the listening sshd (sessions run in
// processes of their own, its children).
func (s *Server) Pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// stop ends the listening sshd. Connections already accepted run in their
// own sshd processes, which end when their clients go.
func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Log returns what sshd has logged so far.
func (s *Server) Log() string { return s.log.String() }

// KnownHostsLine returns a known_hosts line for this server's host key.
func (s *Server) KnownHostsLine(t testing.TB) string {
	t.Helper()
	pub, err := os.ReadFile(s.HostKey)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(pub))
	if len(fields) < 2 {
		t.Fatalf("sshtest: bad host key file %q", pub)
	}
	return fmt.Sprintf("[%s]:%d %s %s", s.Host, s.Port, fields[0], fields[1])
}

// Fingerprint returns the SHA256 fingerprint of the host key as OpenSSH
// prints it ("SHA256:...").
func (s *Server) Fingerprint(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", s.HostKey).Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v", err)
	}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "SHA256:") {
			return f
		}
	}
	t.Fatalf("ssh-keygen -l printed %q", out)
	return ""
}

// KeyGen writes a new ed25519 key pair to path and path.pub, encrypted
// with passphrase when it is not empty.
func KeyGen(t testing.TB, path, passphrase string) {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "spindle-test", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
}

// Authorize adds the public key of the private key at path to the
// server's authorized_keys.
func (s *Server) Authorize(t testing.TB, path string) {
	t.Helper()
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(pub); err != nil {
		t.Fatal(err)
	}
}

// OpenToAllUsers lets sessions of users other than the test's own log in
// with UserKey: sshd reads authorized_keys with the user's rights, so the
// file becomes world-readable and the directories above it (up to the
// temporary directory) searchable. The private keys stay 0600.
func (s *Server) OpenToAllUsers(t testing.TB) {
	t.Helper()
	for d := s.Dir; d != "/" && d != os.TempDir() && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(s.Dir, "authorized_keys"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// RandomName returns prefix followed by n random hex digits.
func RandomName(prefix string, n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)[:n]
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ensurePrivsepDir creates the directory sshd chroots its unprivileged
// child into (the Debian service creates it at boot).
func ensurePrivsepDir(t testing.TB) {
	t.Helper()
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
