package boot

import (
	"context"
	"sync"
)

// Flights makes concurrent cold starts share one upload: a start whose
// target misses a binary that another start through the same Flights is
// uploading to the same host and cache directory waits for that upload
// and has the script look again ("again", bootstrap.sh), instead of sending
// the binary a second time. When that upload fails, the script misses
// again and one of the waiting starts uploads. The zero value is ready; a
// Flights is safe for concurrent use. spawn keeps one per node, so a
// hundred starts to one host behind an intermediate upload once
// (docs/via.md).
type Flights struct {
	mu sync.Mutex
	m  map[flightKey]*flight
}

// flightKey names what an upload installs: the target (Options.Host, the
// method, host and user), the cache directory there, and the binary.
type flightKey struct{ host, dir, digest string }

// flight is one upload under way; done is closed when it has ended, with
// the binary installed or not.
type flight struct{ done chan struct{} }

// join returns the flight under way for k, or makes the caller its leader:
// lead is true, and the caller must call land once its upload has ended.
func (fs *Flights) join(k flightKey) (f *flight, lead bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.m[k]; f != nil {
		return f, false
	}
	if fs.m == nil {
		fs.m = map[flightKey]*flight{}
	}
	f = &flight{done: make(chan struct{})}
	fs.m[k] = f
	return f, true
}

// land ends the flight f led for k.
func (fs *Flights) land(k flightKey, f *flight) {
	fs.mu.Lock()
	if fs.m[k] == f {
		delete(fs.m, k)
	}
	fs.mu.Unlock()
	close(f.done)
}

// wait waits for f to end, or for ctx.
func (f *flight) wait(ctx context.Context) error {
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
