package boot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spindle-go/spindle/internal/platform"
)

// Bounds of one prune: what a directory full of names (ours or not) can
// make the pruner read and hold.
const (
	maxPruneScan    = 1 << 20 // names read
	maxPruneEntries = 1 << 14 // our files considered
)

// PruneReport says what one PruneCache did.
type PruneReport struct {
	// Skipped says why nothing was pruned: "off" (the policy), "recent"
	// (the directory was pruned less than Every ago), "busy" (another
	// pruner holds the directory), or "" when it ran.
	Skipped string
	Scanned int      // names read
	Entries int      // files of ours considered
	Removed []string // names removed
	Freed   int64    // bytes removed
	Bytes   int64    // binaries left, in bytes
	Kept    int      // binaries left
	Over    bool     // Bytes is still over MaxBytes (in use or protected)
	Failed  []string // names that could not be removed (changed, locked meanwhile)
}

// PruneCache prunes the binary cache directory dir under policy p, at most
// once per p.Every and by one pruner at a time (a lock on the stamp file
// .spindle-prune there). It never follows a symbolic link, never touches
// a name that is not ours (classifyName), and removes a binary only while
// holding its exclusive lock, which a running context's shared lock
// refuses (LockInUse). dir must be a directory that belongs to this user
// and that nobody else may write (after symbolic links, as the bootstrap
// requires). now is the time the policy's ages count from.
func PruneCache(ctx context.Context, dir string, p CachePolicy, now time.Time) (PruneReport, error) {
	var rep PruneReport
	if p.Off {
		rep.Skipped = "off"
		return rep, nil
	}
	p = p.Resolved()
	checked, err := checkPrivateDir(dir)
	if err != nil {
		return rep, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return rep, fmt.Errorf("spawn: prune %s: %w", dir, err)
	}
	defer root.Close()
	if opened, err := root.Stat("."); err != nil || !os.SameFile(opened, checked) {
		return rep, fmt.Errorf("spawn: prune %s: the directory changed while it was opened", dir)
	}
	stamp, why, err := claimStamp(root, p, now)
	if err != nil || why != "" {
		rep.Skipped = why
		return rep, err
	}
	defer stamp.Close() // releases the lock
	entries, err := scanCache(ctx, root, &rep)
	if err != nil {
		return rep, err
	}
	plan := PlanPrune(entries, p, now)
	sizes := make(map[string]int64, len(entries))
	for _, e := range entries {
		sizes[e.Name] = e.Size
	}
	for _, name := range plan.Remove {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		if err := removeUnused(root, name); err != nil {
			rep.Failed = append(rep.Failed, name)
			continue
		}
		rep.Removed = append(rep.Removed, name)
		rep.Freed += sizes[name]
	}
	rep.Bytes, rep.Kept, rep.Over = plan.Bytes, plan.Kept, plan.Over
	for _, name := range rep.Failed { // still there: still counted
		if ours, temp := classifyName(name); ours && !temp {
			rep.Bytes += sizes[name]
			rep.Kept++
		}
	}
	return rep, nil
}

// checkPrivateDir: dir (after symbolic links) is a directory of this user
// that nobody else may write.
func checkPrivateDir(dir string) (os.FileInfo, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("spawn: prune: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 || (ok && int(st.Uid) != os.Getuid()) {
		return nil, fmt.Errorf("spawn: prune %s: not a directory private to uid %d", dir, os.Getuid())
	}
	return fi, nil
}

// claimStamp opens and locks the stamp file: why is "busy" when another
// pruner holds it, "recent" when it was pruned less than p.Every ago;
// otherwise the stamp is set to now and returned, locked.
func claimStamp(root *os.Root, p CachePolicy, now time.Time) (*os.File, string, error) {
	fresh := true
	f, err := root.OpenFile(stampName, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if errors.Is(err, fs.ErrExist) {
		fresh = false
		f, err = root.OpenFile(stampName, os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, "", fmt.Errorf("spawn: prune stamp: %w", err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, "", fmt.Errorf("spawn: prune stamp %s is not a regular file", stampName)
	}
	if err := platform.TryLock(f, false); err != nil {
		f.Close()
		if errors.Is(err, platform.ErrLocked) {
			return nil, "busy", nil
		}
		return nil, "", err
	}
	if !fresh && now.Sub(fi.ModTime()) < p.Every {
		f.Close()
		return nil, "recent", nil
	}
	if err := root.Chtimes(stampName, now, now); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("spawn: prune stamp: %w", err)
	}
	return f, "", nil
}

// scanCache reads dir's names, keeping the regular files of ours, with
// whether each binary is in use.
func scanCache(ctx context.Context, root *os.Root, rep *PruneReport) ([]CacheEntry, error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("spawn: prune: %w", err)
	}
	defer d.Close()
	var out []CacheEntry
	for rep.Scanned < maxPruneScan && len(out) < maxPruneEntries {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		batch, err := d.ReadDir(256)
		for _, de := range batch {
			rep.Scanned++
			ours, temp := classifyName(de.Name())
			if !ours || !de.Type().IsRegular() {
				continue // not ours, or a link, a directory, a FIFO: never touched
			}
			fi, err := root.Lstat(de.Name())
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			e := CacheEntry{Name: de.Name(), Size: fi.Size(), LastUse: lastUse(fi), Temp: temp}
			if !temp {
				e.InUse = inUse(root, de.Name(), fi)
			}
			out = append(out, e)
		}
		if errors.Is(err, io.EOF) || (err == nil && len(batch) == 0) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("spawn: prune: %w", err)
		}
	}
	rep.Entries = len(out)
	return out, nil
}

// lastUse is the later of fi's modification time (written) and access
// time (LockInUse sets it when a context starts from the file).
func lastUse(fi os.FileInfo) time.Time {
	t := fi.ModTime()
	if a := platform.Atime(fi); a.After(t) {
		t = a
	}
	return t
}

// openSame opens name (no link followed, never blocking) and checks that
// it is still the regular file fi describes.
func openSame(root *os.Root, name string, fi os.FileInfo) (*os.File, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	now, err := f.Stat()
	if err != nil || !now.Mode().IsRegular() || !os.SameFile(now, fi) {
		f.Close()
		return nil, fmt.Errorf("spawn: prune: %s changed", name)
	}
	return f, nil
}

// inUse reports whether a context holds name's lock; a lock that cannot
// be tested counts as in use.
func inUse(root *os.Root, name string, fi os.FileInfo) bool {
	f, err := openSame(root, name, fi)
	if err != nil {
		return true
	}
	defer f.Close()
	if platform.TryLock(f, false) != nil {
		return true
	}
	_ = platform.Unlock(f)
	return false
}

// removeUnused removes name: a temporary file as it is, a binary only
// while holding its exclusive lock, and only if the name still is the
// file locked.
func removeUnused(root *os.Root, name string) error {
	fi, err := root.Lstat(name)
	if err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("spawn: prune: %s changed", name)
	}
	if _, temp := classifyName(name); temp {
		return root.Remove(name)
	}
	f, err := openSame(root, name, fi)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := platform.TryLock(f, false); err != nil {
		return err
	}
	again, err := root.Lstat(name)
	if err != nil || !os.SameFile(again, fi) {
		return fmt.Errorf("spawn: prune: %s changed", name)
	}
	return root.Remove(name)
}

// CachedBinaryDir returns the directory of exe when exe is a binary of a
// bootstrap cache ("DIR/spindle-SHA256").
func CachedBinaryDir(exe string) (string, bool) {
	ours, temp := classifyName(filepath.Base(exe))
	return filepath.Dir(exe), ours && !temp
}

// LockInUse marks the binary at path as in use for as long as the
// returned file stays open (a shared lock, which refuses the pruner's
// exclusive one; the kernel drops it when the process ends, however it
// ends), and as used now (its access time). A few tries over about 100
// ms ride out a pruner that holds the file's lock while it decides.
func LockInUse(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("spawn: lock %s: %w", path, err)
	}
	for i := 0; ; i++ {
		err = platform.TryLock(f, true)
		if err == nil || !errors.Is(err, platform.ErrLocked) || i == 10 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("spawn: lock %s: %w", path, err)
	}
	if fi, err := f.Stat(); err == nil {
		_ = os.Chtimes(path, time.Now(), fi.ModTime())
	}
	return f, nil
}
