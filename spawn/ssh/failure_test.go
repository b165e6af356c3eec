package ssh_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/ssh"
)

func TestSSH_ConnectionRefused(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	opts := sshOpts(srv, "refused")
	opts.Host = srv.User + "@" + addr
	err = trySSH(t, root, opts)
	var de *ssh.DialError
	if !errors.Is(err, ssh.ErrConnectionRefused) || !errors.As(err, &de) || de.Addr != addr {
		t.Fatalf("error %v, want ErrConnectionRefused for %s", err, addr)
	}
	if errors.Is(err, ssh.ErrConnectTimeout) {
		t.Fatal("refused also claims a timeout")
	}
	t.Log(err)
}

// TestSSH_ConnectTimeout dials a server that accepts TCP connections and
// never says a word.
func TestSSH_ConnectTimeout(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	opts := sshOpts(srv, "silent")
	opts.Host = srv.User + "@" + l.Addr().String()
	opts.ConnectTimeout = 300 * time.Millisecond
	start := time.Now()
	err = trySSH(t, root, opts)
	if !errors.Is(err, ssh.ErrConnectTimeout) {
		t.Fatalf("error %v, want ErrConnectTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v with a 300ms connect timeout", d)
	}
	t.Log(err)
}

// TestSSH_BootstrapTimeout runs the bootstrap on a host whose uname hangs:
// the start fails at its deadline and the hung processes are killed on the
// host (sshd leaves a session's processes running when its connection
// closes).
func TestSSH_BootstrapTimeout(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	marker := fmt.Sprint(900000 + time.Now().UnixNano()%99999)
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFileMode(t, filepath.Join(bin, "uname"), "#!/bin/sh\nexec sleep "+marker+"\n", 0o755)
	opts := sshOpts(srv, "hung")
	opts.Shell = writeScript(t, "hangsh", "#!/bin/sh\nPATH="+bin+":$PATH\nexport PATH\nexec /bin/sh \"$@\"\n")
	opts.Timeout = time.Second
	start := time.Now()
	err := trySSH(t, root, opts)
	if !errors.Is(err, spawn.ErrBootstrapTimeout) {
		t.Fatalf("error %v, want ErrBootstrapTimeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("gave up after %v with a 1s bootstrap timeout", d)
	}
	waitFor(t, 5*time.Second, "the hung remote process to be killed", func() bool { return !processWithArg(marker) })
	t.Log(err)
}

func TestSSH_NoShell(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	opts := sshOpts(srv, "noshell")
	opts.Shell = "/nonexistent/sh"
	err := trySSH(t, root, opts)
	var se *spawn.ShellError
	if !errors.Is(err, spawn.ErrNoShell) || !errors.As(err, &se) || se.ExitStatus != 127 {
		t.Fatalf("error %v, want ErrNoShell with exit status 127", err)
	}
	if !strings.Contains(se.Stderr, "/nonexistent/sh") {
		t.Fatalf("stderr %q does not name the shell", se.Stderr)
	}
	t.Log(err)
}

func TestSSH_NoExecCacheDir(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	noexec := mountTmpfs(t, "noexec,size=64m")
	opts := sshOpts(srv, "noexec")
	opts.CacheDirs = []string{filepath.Join(noexec, "cache"), "/proc/self/nope"}
	err := trySSH(t, root, opts)
	var ce *spawn.CacheDirError
	if !errors.Is(err, spawn.ErrNoExecDir) || !errors.As(err, &ce) {
		t.Fatalf("error %v, want ErrNoExecDir", err)
	}
	for _, want := range []string{noexec + "/cache: cannot exec files there", "/proc/self/nope: cannot create"} {
		if !strings.Contains(ce.Detail, want) {
			t.Errorf("detail %q lacks %q", ce.Detail, want)
		}
	}
	// A writable, exec-able fallback after the noexec one is used.
	good := filepath.Join(t.TempDir(), "good")
	opts.CacheDirs = []string{filepath.Join(noexec, "cache"), good}
	c := startSSH(t, root, opts)
	if c.Info().Boot.Dir != good {
		t.Fatalf("binary runs from %s, want the fallback %s", c.Info().Boot.Dir, good)
	}
	t.Log(err)
}

func TestSSH_CacheDirNotPrivate(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	shared := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
	opts := sshOpts(srv, "shared")
	opts.CacheDirs = []string{shared}
	err := trySSH(t, root, opts)
	if !errors.Is(err, spawn.ErrNoExecDir) || !strings.Contains(err.Error(), "not private") {
		t.Fatalf("error %v, want ErrNoExecDir saying the directory is not private", err)
	}
}

func TestSSH_DiskFull(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	tiny := mountTmpfs(t, "size=1m")
	opts := sshOpts(srv, "full")
	opts.CacheDirs = []string{filepath.Join(tiny, "cache")}
	err := trySSH(t, root, opts)
	var dfe *spawn.DiskFullError
	if !errors.Is(err, spawn.ErrDiskFull) || !errors.As(err, &dfe) || dfe.Dir != filepath.Join(tiny, "cache") || dfe.AvailKiB > 1024 {
		t.Fatalf("error %v, want ErrDiskFull in %s", err, tiny)
	}
	t.Log(err)
}

// TestSSH_DiskFullDuringWrite runs out of room during the upload although
// df said there was enough just before (another writer filled the disk):
// a df that lies once, then tells the truth.
func TestSSH_DiskFullDuringWrite(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	tiny := mountTmpfs(t, "size=1m")
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	realDF, err := exec.LookPath("df")
	if err != nil {
		t.Fatal(err)
	}
	flag := filepath.Join(bin, "lied")
	writeFileMode(t, filepath.Join(bin, "df"), "#!/bin/sh\nif [ -e "+flag+" ]; then exec "+realDF+" \"$@\"; fi\n"+
		": >"+flag+"\necho 'Filesystem 1024-blocks Used Available Capacity Mounted on'\necho 'tmpfs 9999999 0 9999999 0% /'\n", 0o755)
	opts := sshOpts(srv, "full-write")
	opts.CacheDirs = []string{filepath.Join(tiny, "cache")}
	opts.Shell = writeScript(t, "dfsh", "#!/bin/sh\nPATH="+bin+":$PATH\nexport PATH\nexec /bin/sh \"$@\"\n")
	err = trySSH(t, root, opts)
	var dfe *spawn.DiskFullError
	if !errors.Is(err, spawn.ErrDiskFull) || !errors.As(err, &dfe) || dfe.AvailKiB > 64 {
		t.Fatalf("error %v, want ErrDiskFull found after the write", err)
	}
	if _, err := os.Stat(flag); err != nil {
		t.Fatal("the lying df was never asked: the test did not exercise the write path")
	}
	entries, _ := os.ReadDir(filepath.Join(tiny, "cache"))
	if len(entries) != 0 {
		t.Fatalf("the failed upload left %d files behind", len(entries))
	}
	t.Log(err)
}

func TestSSH_PlatformMismatch(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	// A host whose uname says arm64.
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFileMode(t, filepath.Join(bin, "uname"), "#!/bin/sh\necho Linux aarch64\n", 0o755)
	opts := sshOpts(srv, "arm")
	opts.Shell = writeScript(t, "armsh", "#!/bin/sh\nPATH="+bin+":$PATH\nexport PATH\nexec /bin/sh \"$@\"\n")
	err := trySSH(t, root, opts)
	var pe *spawn.PlatformError
	if !errors.Is(err, spawn.ErrPlatformMismatch) || !errors.As(err, &pe) {
		t.Fatalf("error %v, want ErrPlatformMismatch", err)
	}
	self, _ := spawn.Self()
	local, _ := self.Platform()
	if pe.Remote != "linux/arm64" || len(pe.Local) != 1 || pe.Local[0] != local ||
		!strings.Contains(err.Error(), "linux/arm64") || !strings.Contains(err.Error(), local) {
		t.Fatalf("error %v (%+v) does not name both platforms", err, pe)
	}
	t.Log(err)

	// The caller supplies a binary for that platform (here: this test
	// binary under an arm64 label, since this host cannot run arm64).
	opts.Binaries = []*spawn.Binary{spawn.NewBinary(self.Path(), "linux/arm64")}
	c := startSSH(t, root, opts)
	if c.Info().Boot.Platform != "linux/arm64" {
		t.Fatalf("platform %q, want linux/arm64", c.Info().Boot.Platform)
	}
	if _, err := actors.Request[*Pong](testCtx(t, 10*time.Second), root, echoIn(t, c), &Ping{}); err != nil {
		t.Fatal(err)
	}
}

// TestSSH_MinimalHost runs the bootstrap with nothing but a shell and the
// POSIX utilities: no zstd, no gzip, no SHA-256 tool.
func TestSSH_MinimalHost(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	posix := []string{"uname", "id", "ls", "mkdir", "chmod", "rm", "mv", "cat", "df", "tail", "dd", "wc", "cksum"}
	for _, tc := range []struct {
		extra       []string
		codec, tool string
	}{
		{nil, "raw", "cksum"},
		{[]string{"gzip", "sha256sum"}, "gzip", "sha256sum"},
		{[]string{"zstd", "shasum"}, "zstd", "shasum"},
	} {
		t.Run(tc.codec+"-"+tc.tool, func(t *testing.T) {
			opts := sshOpts(srv, "minimal")
			opts.CacheDirs = []string{filepath.Join(t.TempDir(), "c")}
			opts.Shell = restrictedShell(t, append(posix, tc.extra...)...)
			c := startSSH(t, root, opts)
			if info := c.Info(); info.Boot.Codec != tc.codec || info.Boot.DigestTool != tc.tool {
				t.Fatalf("codec %q, tool %q; want %s, %s", info.Boot.Codec, info.Boot.DigestTool, tc.codec, tc.tool)
			}
			if _, err := actors.Request[*Pong](testCtx(t, 10*time.Second), root, echoIn(t, c), &Ping{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSSH_ConfigAliasAndProxyJump reaches the server through a Host alias
// of an ssh_config file, and through itself as a jump host.
func TestSSH_ConfigAliasAndProxyJump(t *testing.T) {
	srv, _ := sshServer(t, sshtest.Config{})
	root := newRoot(t, nil)
	cfg := filepath.Join(t.TempDir(), "config")
	writeFileMode(t, cfg, fmt.Sprintf(`Host jump
  HostName %[1]s
  Port %[2]d
  User %[3]s
  IdentityFile %[4]s

Host target
  HostName %[1]s
  Port %[2]d
  User %[3]s
  IdentityFile %[4]s
  UserKnownHostsFile %[5]s

Host via-jump
  HostName %[1]s
  Port %[2]d
  User %[3]s
  IdentityFile %[4]s
  UserKnownHostsFile %[5]s
  ProxyJump jump
`, srv.Host, srv.Port, srv.User, srv.UserKey, srv.KnownHosts), 0o600)
	base := ssh.Options{ConfigFile: cfg, Agent: "none", Common: spawn.Common{Grace: time.Second}}

	opts := base
	opts.Host = "target"
	c := startSSH(t, root, opts)
	if want := fmt.Sprintf("%s@%s", srv.User, srv.Addr); c.Info().Host != want || c.Name() != "ssh-target" {
		t.Fatalf("host %q name %q, want %s, ssh-target", c.Info().Host, c.Name(), want)
	}

	opts.Host = "via-jump"
	opts.KnownHostsFiles = []string{srv.KnownHosts} // for the jump host too
	before := strings.Count(srv.Log(), "Accepted publickey")
	j := startSSH(t, root, opts)
	if _, err := actors.Request[*Pong](testCtx(t, 10*time.Second), root, echoIn(t, j), &Ping{}); err != nil {
		t.Fatal(err)
	}
	// sshd's log reaches us through a pipe: wait for both lines.
	waitFor(t, 5*time.Second, "2 authentications for a one-hop jump (jump, then target)", func() bool {
		return strings.Count(srv.Log(), "Accepted publickey")-before == 2
	})
	// The jump can be switched off, and a bad jump host fails clearly.
	opts.ProxyJump = "none"
	startSSH(t, root, opts)
	opts.ProxyJump = srv.User + "@127.0.0.1:1"
	if err := trySSH(t, root, opts); !errors.Is(err, ssh.ErrConnectionRefused) {
		t.Fatalf("jump to a closed port: %v, want ErrConnectionRefused", err)
	}
}

// mountTmpfs mounts a tmpfs with the given options on a new directory.
func mountTmpfs(t testing.TB, options string) string {
	t.Helper()
	sshtest.Require(t, "mount", "umount")
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv(sshtest.EnvRequire) == "1" {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		t.Skipf("skipping: cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// restrictedShell returns a shell that runs /bin/sh with a PATH holding
// only the named programs.
func restrictedShell(t testing.TB, programs ...string) string {
	t.Helper()
	sshtest.Require(t, programs...)
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range programs {
		path, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("restricted shell: %v", err)
		}
		if err := os.Symlink(path, filepath.Join(bin, p)); err != nil {
			t.Fatal(err)
		}
	}
	return writeScript(t, "minsh", "#!/bin/sh\nPATH="+bin+"\nexport PATH\nexec /bin/sh \"$@\"\n")
}

func writeScript(t testing.TB, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	writeFileMode(t, p, body, 0o755)
	return p
}

func writeFileMode(t testing.TB, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

// processWithArg reports whether a process has arg in its command line.
func processWithArg(arg string) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, a := range strings.Split(string(cmdline), "\x00") {
			if a == arg {
				return true
			}
		}
	}
	return false
}
