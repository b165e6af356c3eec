package containertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Image names (the tag is the content hash).
const (
	BusyboxRepo = "spindle-test/busybox"
	NoShellRepo = "spindle-test/noshell"
)

// TestUser is the unprivileged user of BusyboxImage.
const (
	TestUser = "spindle"
	TestUID  = 1000
)

// epoch is the modification time of every file in the images, so that the
// same busybox gives the same tar and the same tag.
var epoch = time.Unix(1700000000, 0)

var (
	imageMu sync.Mutex
	images  = map[string]string{} // CLI + repo -> tag, built in this process
)

// BusyboxImage returns the tag of an image that holds only busybox-static
// (see the package doc), importing it first if the engine lacks it.
func (e *Engine) BusyboxImage(t testing.TB) string {
	t.Helper()
	return e.image(t, BusyboxRepo, busyboxRootFS)
}

// NoShellImage returns the tag of an image without any shell: its only
// program is /bin/sleep (busybox's sleep applet under that name, which
// cannot be asked to be a shell), enough to keep a container running.
func (e *Engine) NoShellImage(t testing.TB) string {
	t.Helper()
	return e.image(t, NoShellRepo, noShellRootFS)
}

func (e *Engine) image(t testing.TB, repo string, build func(busybox []byte) ([]byte, error)) string {
	t.Helper()
	tag, err := e.makeImage(repo, build)
	if errors.Is(err, errNoBusybox) {
		Unavailable(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// ImportBusybox is BusyboxImage for programs that are not tests.
func (e *Engine) ImportBusybox() (string, error) { return e.makeImage(BusyboxRepo, busyboxRootFS) }

func (e *Engine) makeImage(repo string, build func(busybox []byte) ([]byte, error)) (string, error) {
	return e.makeImageFrom(repo, busybox, build)
}

// makeImageFrom is makeImage with the busybox bytes from load.
func (e *Engine) makeImageFrom(repo string, load func() ([]byte, error), build func(busybox []byte) ([]byte, error)) (string, error) {
	imageMu.Lock()
	defer imageMu.Unlock()
	if tag, ok := images[e.CLI+repo]; ok {
		return tag, nil
	}
	bb, err := load()
	if err != nil {
		return "", err
	}
	tarball, err := build(bb)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(tarball)
	tag := repo + ":" + hex.EncodeToString(sum[:6])
	if err := e.importOnce(tag, tarball); err != nil {
		return "", fmt.Errorf("containertest: import %s into %s: %w", tag, e.CLI, err)
	}
	images[e.CLI+repo] = tag
	return tag, nil
}

// errNoBusybox: this machine has no static busybox to build images from.
var errNoBusybox = errors.New("needs busybox-static (Debian: apt-get install busybox-static)")

// importOnce imports tarball as tag unless the engine has it. A file lock
// keeps concurrent test processes (go test runs packages in parallel) from
// importing the same image twice.
func (e *Engine) importOnce(tag string, tarball []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "spindle-containertest.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := run(ctx, nil, e.Path, "image", "inspect", "--format", "{{.Id}}", tag); err == nil {
		return nil
	}
	_, err = run(ctx, tarball, e.Path, "import", "--change", "LABEL "+Label+"=1", "--change", "CMD [\"/bin/sh\"]", "-", tag)
	return err
}

// busybox returns the bytes of a statically linked busybox.
func busybox() ([]byte, error) {
	path := ""
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if p, err := exec.LookPath("busybox"); err == nil {
			path = p
		}
	}
	if path == "" {
		return nil, errNoBusybox
	}
	if !IsStatic(path) {
		return nil, fmt.Errorf("%s is dynamically linked: %w", path, errNoBusybox)
	}
	return os.ReadFile(path)
}

// IsStatic reports whether the ELF file at path needs no program
// interpreter (no dynamic loader, no libc from the target).
func IsStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// busyboxApplets lists the applets of the busybox file (it runs on this
// host, which is why busybox must be the host's own).
func busyboxApplets(bb []byte) ([]string, error) {
	dir, err := os.MkdirTemp("", "spindle-bb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "busybox")
	if err := os.WriteFile(p, bb, 0o700); err != nil {
		return nil, err
	}
	out, err := exec.Command(p, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	list := strings.Fields(string(out))
	sort.Strings(list)
	return list, nil
}

const (
	passwd = "root:x:0:0:root:/root:/bin/sh\n" +
		"spindle:x:1000:1000:spindle test user:/home/spindle:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	group = "root:x:0:\nspindle:x:1000:\nnogroup:x:65534:\n"
)

// busyboxRootFS is the tar of BusyboxImage.
func busyboxRootFS(bb []byte) ([]byte, error) {
	applets, err := busyboxApplets(bb)
	if err != nil {
		return nil, err
	}
	w := newTarWriter()
	w.dir("bin", 0o755, 0)
	w.file("bin/busybox", 0o755, bb)
	for _, a := range applets {
		if a != "busybox" {
			w.symlink("bin/"+a, "busybox")
		}
	}
	w.dir("etc", 0o755, 0)
	w.file("etc/passwd", 0o644, []byte(passwd))
	w.file("etc/group", 0o644, []byte(group))
	w.dir("root", 0o700, 0)
	w.dir("home", 0o755, 0)
	w.dir("home/spindle", 0o755, TestUID)
	w.dir("tmp", 0o1777, 0)
	w.dir("var", 0o755, 0)
	w.dir("var/tmp", 0o1777, 0)
	return w.close()
}

// noShellRootFS is the tar of NoShellImage.
func noShellRootFS(bb []byte) ([]byte, error) {
	w := newTarWriter()
	w.dir("bin", 0o755, 0)
	w.file("bin/sleep", 0o755, bb)
	w.dir("tmp", 0o1777, 0)
	return w.close()
}

// tarWriter writes a deterministic tar (fixed times and owners).
type tarWriter struct {
	buf bytes.Buffer
	tw  *tar.Writer
	err error
}

func newTarWriter() *tarWriter {
	w := &tarWriter{}
	w.tw = tar.NewWriter(&w.buf)
	return w
}

func (w *tarWriter) header(h *tar.Header) {
	if w.err == nil {
		h.ModTime, h.Format = epoch, tar.FormatPAX
		w.err = w.tw.WriteHeader(h)
	}
}

func (w *tarWriter) dir(name string, mode int64, uid int) {
	w.header(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid})
}

func (w *tarWriter) file(name string, mode int64, data []byte) {
	w.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))})
	if w.err == nil {
		_, w.err = w.tw.Write(data)
	}
}

func (w *tarWriter) symlink(name, target string) {
	w.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777})
}

func (w *tarWriter) close() ([]byte, error) {
	if w.err == nil {
		w.err = w.tw.Close()
	}
	return w.buf.Bytes(), w.err
}
