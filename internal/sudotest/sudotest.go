// Package sudotest prepares this machine for tests of sudo, su and doas:
// non-root users with passwords, a sudoers drop-in and doas rules that
// require those passwords, with no credential caching.
//
// # Usage
//
//	u := sudotest.Setup(t)
//	// start a chain as u.A (u.A.Credential()), authenticate with
//	// u.A.Password to root or u.B
//
// Setup is idempotent and safe to run from several test processes at once
// (a file lock): it creates the users when missing, gives them random
// passwords generated once per machine (kept in a root-only file), and
// installs the rules when they differ. It needs root and the tools; it
// skips without them unless SPINDLE_REQUIRE_INTEGRATION=1, in which case
// the test fails. It never overwrites a doas.conf it did not write.
package sudotest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// EnvRequire names the variable that turns missing prerequisites into
// failures instead of skips.
const EnvRequire = "SPINDLE_REQUIRE_INTEGRATION"

// Files Setup writes.
const (
	SudoersFile  = "/etc/sudoers.d/spindle-test"
	DoasConf     = "/etc/doas.conf"
	passwordFile = "/etc/spindle-sudotest.passwords"
	lockFile     = "/run/spindle-sudotest.lock"
	doasHeader   = "# spindle test rules (internal/sudotest); rewritten by the tests\n"
)

// User is a test account.
type User struct {
	Name     string
	Password string
	UID, GID uint32
	Home     string
}

// Credential runs a process as u (for exec.Cmd.SysProcAttr).
func (u User) Credential() *syscall.Credential {
	return &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: []uint32{u.GID}}
}

// Users are the accounts Setup prepares.
type Users struct {
	// A needs its password for sudo (to anyone) and doas (to root and B).
	A User
	// B needs no password for sudo (NOPASSWD) or doas (nopass) to root.
	B User
	// C has a password and no sudo or doas rule at all.
	C User
}

var (
	once     sync.Once
	setUp    *Users
	setUpErr error
)

// Require skips t (or fails it when SPINDLE_REQUIRE_INTEGRATION=1) unless
// the test runs as root and every named program is found.
func Require(t testing.TB, programs ...string) {
	t.Helper()
	var missing []string
	for _, p := range programs {
		if _, err := lookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	why := ""
	switch {
	case len(missing) > 0:
		why = fmt.Sprintf("needs %s (Debian: apt-get install sudo opendoas passwd util-linux)", strings.Join(missing, ", "))
	case os.Geteuid() != 0:
		why = "needs root (creates users and sudo rules)"
	default:
		return
	}
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("integration prerequisite missing: %s; %s=1 forbids skipping", why, EnvRequire)
	}
	t.Skipf("skipping: %s; set %s=1 to make this a failure", why, EnvRequire)
}

// Setup prepares the users and rules (once per process) and returns them.
func Setup(t testing.TB) *Users {
	t.Helper()
	Require(t, "sudo", "su", "doas", "useradd", "chpasswd", "visudo")
	once.Do(func() { setUp, setUpErr = setup() })
	if setUpErr != nil {
		t.Fatalf("sudotest: %v", setUpErr)
	}
	return setUp
}

func setup() (*Users, error) {
	lock, err := os.OpenFile(lockFile, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	pws, err := passwords([]string{"spindle-a", "spindle-b", "spindle-c"})
	if err != nil {
		return nil, err
	}
	var us []User
	var chpasswd bytes.Buffer
	for _, name := range []string{"spindle-a", "spindle-b", "spindle-c"} {
		u, err := ensureUser(name)
		if err != nil {
			return nil, err
		}
		u.Password = pws[name]
		fmt.Fprintf(&chpasswd, "%s:%s\n", name, u.Password)
		us = append(us, u)
	}
	cmd := exec.Command("chpasswd")
	cmd.Stdin = &chpasswd // never in argv
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("chpasswd: %v: %s", err, out)
	}
	if err := chatterProfile(us[1]); err != nil {
		return nil, err
	}
	if err := installSudoers(); err != nil {
		return nil, err
	}
	if err := installDoas(); err != nil {
		return nil, err
	}
	return &Users{A: us[0], B: us[1], C: us[2]}, nil
}

// ProfileNoise is what B's ~/.profile prints on stdout: a login shell (sudo
// Login, su -l) prints it before the command runs, as chatty startup files
// do on real hosts.
const ProfileNoise = "spindle-b: hello from .profile"

func chatterProfile(u User) error {
	path := filepath.Join(u.Home, ".profile")
	want := "echo '" + ProfileNoise + "'\n"
	if b, err := os.ReadFile(path); err == nil && string(b) == want {
		return nil
	}
	if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
		return err
	}
	return os.Chown(path, int(u.UID), int(u.GID))
}

// passwords returns each user's password, generated once per machine and
// kept in a file only root can read.
func passwords(names []string) (map[string]string, error) {
	pws := map[string]string{}
	if b, err := os.ReadFile(passwordFile); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if n, p, ok := strings.Cut(l, ":"); ok {
				pws[n] = p
			}
		}
	}
	changed := false
	for _, n := range names {
		if pws[n] == "" {
			var b [12]byte
			_, _ = rand.Read(b[:])
			pws[n] = "Sp-" + hex.EncodeToString(b[:])
			changed = true
		}
	}
	if !changed {
		return pws, nil
	}
	var buf bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&buf, "%s:%s\n", n, pws[n])
	}
	return pws, writeAtomic(passwordFile, buf.Bytes(), 0o600)
}

func ensureUser(name string) (User, error) {
	if _, err := user.Lookup(name); err != nil {
		out, err := exec.Command("useradd", "--create-home", "--shell", "/bin/sh", "--user-group", name).CombinedOutput()
		if err != nil {
			return User{}, fmt.Errorf("useradd %s: %v: %s", name, err, out)
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		return User{}, err
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return User{Name: name, UID: uint32(uid), GID: uint32(gid), Home: u.HomeDir}, nil
}

// sudoersRules: A needs its password every time (no cached timestamp that
// would make a test pass without authenticating), B never does, C has no
// rule. SETENV lets --preserve-env name variables.
const sudoersRules = `# spindle test rules (internal/sudotest); rewritten by the tests
Defaults:spindle-a !lecture, timestamp_timeout=0, passwd_tries=3
Defaults:spindle-b !lecture, timestamp_timeout=0
Defaults:spindle-c !lecture, timestamp_timeout=0
spindle-a ALL=(ALL:ALL) SETENV: ALL
spindle-b ALL=(ALL:ALL) NOPASSWD: SETENV: ALL
`

func installSudoers() error {
	if b, err := os.ReadFile(SudoersFile); err == nil && string(b) == sudoersRules {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(SudoersFile), ".spindle-test.tmp") // sudo skips names with a dot
	if err := os.WriteFile(tmp, []byte(sudoersRules), 0o440); err != nil {
		return err
	}
	if out, err := exec.Command("visudo", "-c", "-f", tmp).CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("visudo: %v: %s", err, out)
	}
	return os.Rename(tmp, SudoersFile)
}

// doasRules: A with its password (no persist), B without.
const doasRules = doasHeader + `permit spindle-a as root
permit spindle-a as spindle-b
permit nopass spindle-b as root
`

func installDoas() error {
	b, err := os.ReadFile(DoasConf)
	switch {
	case err == nil && string(b) == doasRules:
		return nil
	case err == nil && !bytes.HasPrefix(b, []byte(doasHeader)):
		return fmt.Errorf("%s exists and was not written by sudotest: not touching it", DoasConf)
	case err != nil && !os.IsNotExist(err):
		return err
	}
	return writeAtomic(DoasConf, []byte(doasRules), 0o600)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

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
