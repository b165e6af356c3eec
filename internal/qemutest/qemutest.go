// Package qemutest gives tests another CPU architecture on this machine:
// linux/arm64 programs run by qemu-user-static, registered in binfmt_misc
// with the F flag (the kernel opens the interpreter once, at registration,
// so it works inside a container or chroot that holds no qemu), and a
// statically linked arm64 busybox to build a root filesystem from.
//
// # Usage
//
//	a := qemutest.RequireArm64(t)                 // skips (or fails in CI) with the reason
//	img := e.BusyboxImageOf(t, qemutest.ImageRepo, a.Busybox) // internal/containertest
//
// .ci/run sets the machine up (Debian): `dpkg --add-architecture arm64`,
// qemu-user-static, busybox-static:arm64 unpacked (not installed: it
// would replace the amd64 busybox-static the other container tests use)
// into /var/cache/spindle-ci/arm64, binfmt_misc mounted and qemu-aarch64
// registered from /usr/lib/binfmt.d/qemu-aarch64.conf (flags OPF). The
// busybox is found at $SPINDLE_BUSYBOX_ARM64, else at DefaultBusyboxArm64.
//
// When something is missing, RequireArm64 skips the test saying what and
// how to set it up, unless SPINDLE_REQUIRE_INTEGRATION=1, in which case
// the test fails. All functions are safe for concurrent use.
package qemutest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/containertest"
)

const (
	// EnvBusyboxArm64 names the variable that points at the arm64 busybox.
	EnvBusyboxArm64 = "SPINDLE_BUSYBOX_ARM64"
	// DefaultBusyboxArm64 is where .ci/run unpacks busybox-static:arm64.
	DefaultBusyboxArm64 = "/var/cache/spindle-ci/arm64/bin/busybox"
	// ImageRepo names the arm64 busybox image of the container tests.
	ImageRepo = "spindle-test/busybox-arm64"
	// BinfmtDir is where binfmt_misc is mounted.
	BinfmtDir = "/proc/sys/fs/binfmt_misc"
)

// aarch64Magic is the ELF header prefix binfmt_misc matches for 64-bit
// little-endian aarch64 executables (e_machine 0xb7), as Debian's
// qemu-aarch64 entry writes it.
const aarch64Magic = "7f454c460201010000000000000000000200b700"

// Arm64 is what a test needs to run arm64 programs here.
type Arm64 struct {
	Entry       string // binfmt_misc entry name ("qemu-aarch64")
	Interpreter string // the entry's interpreter
	Flags       string // the entry's flags, F among them
	Busybox     string // a statically linked arm64 busybox
}

var (
	once   sync.Once
	arm64  *Arm64
	errArm error
)

// RequireArm64 returns the arm64 set-up, checked once per process, or
// skips t with the reason (fails it under SPINDLE_REQUIRE_INTEGRATION=1).
func RequireArm64(t testing.TB) *Arm64 {
	t.Helper()
	once.Do(func() { arm64, errArm = CheckArm64() })
	if errArm != nil {
		containertest.Unavailable(t, errArm.Error())
	}
	return arm64
}

// CheckArm64 checks that binfmt_misc runs aarch64 ELF files with the F
// flag and that an arm64 busybox is at hand and runs: `busybox uname -m`
// prints aarch64.
func CheckArm64() (*Arm64, error) {
	a, err := findEntry(BinfmtDir)
	if err != nil {
		return nil, err
	}
	a.Busybox = os.Getenv(EnvBusyboxArm64)
	if a.Busybox == "" {
		a.Busybox = DefaultBusyboxArm64
	}
	if _, err := os.Stat(a.Busybox); err != nil {
		return nil, fmt.Errorf("no arm64 busybox at %s (set %s, or: apt-get download busybox-static:arm64 && dpkg-deb -x busybox-static_*_arm64.deb DIR; .ci/run does it): %v",
			a.Busybox, EnvBusyboxArm64, err)
	}
	if !containertest.IsStatic(a.Busybox) {
		return nil, fmt.Errorf("%s is not a statically linked ELF file", a.Busybox)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, a.Busybox, "uname", "-m").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "aarch64" {
		return nil, fmt.Errorf("%s uname -m: %q (%v), want aarch64 through qemu-user", a.Busybox, bytes.TrimSpace(out), err)
	}
	return a, nil
}

// findEntry finds the enabled binfmt_misc entry for aarch64 ELF files and
// checks its F flag.
func findEntry(dir string) (*Arm64, error) {
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return nil, fmt.Errorf("binfmt_misc is not mounted at %s (mount -t binfmt_misc binfmt_misc %s, as root; .ci/run does it): %v", dir, dir, err)
	}
	if strings.TrimSpace(string(status)) != "enabled" {
		return nil, fmt.Errorf("binfmt_misc at %s is %s", dir, bytes.TrimSpace(status))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.Name() == "status" || e.Name() == "register" {
			continue
		}
		text, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		ent := ParseEntry(string(text))
		if ent.Magic != aarch64Magic {
			continue
		}
		if !ent.Enabled {
			return nil, fmt.Errorf("binfmt_misc entry %s for aarch64 is disabled", e.Name())
		}
		if !strings.Contains(ent.Flags, "F") {
			return nil, fmt.Errorf("binfmt_misc entry %s for aarch64 has flags %q, without F: the interpreter %s would have to exist inside the container (re-register it with F: echo -1 >%s/%[1]s, then write /usr/lib/binfmt.d/qemu-aarch64.conf to %[4]s/register)",
				e.Name(), ent.Flags, ent.Interpreter, dir)
		}
		return &Arm64{Entry: e.Name(), Interpreter: ent.Interpreter, Flags: ent.Flags}, nil
	}
	return nil, errors.New("no binfmt_misc entry runs aarch64 ELF files (Debian: apt-get install qemu-user-static, then write /usr/lib/binfmt.d/qemu-aarch64.conf to " + dir + "/register; .ci/run does it)")
}

// Entry is a binfmt_misc entry as /proc/sys/fs/binfmt_misc/NAME shows it.
type Entry struct {
	Enabled     bool
	Interpreter string
	Flags       string
	Magic       string // hex, as the kernel prints it
}

// ParseEntry reads the text of a binfmt_misc entry. It never fails: what
// it does not understand is left empty.
func ParseEntry(text string) Entry {
	var e Entry
	for _, line := range strings.Split(text, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "enabled":
			e.Enabled = true
		case "interpreter":
			e.Interpreter = v
		case "flags:":
			e.Flags = v
		case "magic":
			e.Magic = v
		}
	}
	return e
}
