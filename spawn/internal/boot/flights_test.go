package boot

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// greets checks a started catProgram's stream (checkCat) and ends it; it
// may run on any goroutine.
func greets(p *Process) error {
	defer endCat(p)
	return checkCat(p, "ping\n")
}

// TestFlights_ConcurrentColdStartsUploadOnce starts eight contexts at once
// on one cold cache through one Flights: one upload, seven starts that
// waited for it and ran the binary it installed.
func TestFlights_ConcurrentColdStartsUploadOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	opts := Options{Host: "localhost", CacheDirs: []string{dir}, Binaries: []*Binary{catProgram(t)}, Flights: new(Flights)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 8
	infos := make([]Info, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, err := Start(ctx, target(""), opts)
			if err == nil {
				infos[i], err = p.Info, greets(p)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	uploads, shared := 0, 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("start %d: %v", i, errs[i])
		}
		if infos[i].Uploaded > 0 {
			uploads++
		}
		if infos[i].Shared {
			shared++
			if !infos[i].CacheHit || infos[i].Uploaded != 0 {
				t.Errorf("start %d shared an upload but says %+v", i, infos[i])
			}
		}
	}
	// Starts that probed after the upload had landed are plain cache hits,
	// so shared may be fewer than n-1; uploads are one, whatever the timing.
	if uploads != 1 {
		t.Fatalf("%d uploads for %d concurrent starts to one cache (%d shared), want 1", uploads, n, shared)
	}
	if len(opts.Flights.m) != 0 {
		t.Fatalf("flights left: %v", opts.Flights.m)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("cache holds %v, want the one binary", entries)
	}
}

// heldFlight makes the test the leader of the upload of bin to dir, as a
// start that is uploading would be.
func heldFlight(t *testing.T, fs *Flights, bin *Binary, dir string) (flightKey, *flight) {
	t.Helper()
	if err := bin.Prepare(); err != nil {
		t.Fatal(err)
	}
	k := flightKey{host: "localhost", dir: dir, digest: bin.digest}
	f, lead := fs.join(k)
	if !lead {
		t.Fatal("the test does not lead the flight")
	}
	return k, f
}

// lineLog is a logger that closes saw at the first record with message msg.
type lineLog struct {
	saw  chan struct{}
	once sync.Once
	msg  string
}

func (l *lineLog) logger(msg string) *slog.Logger {
	l.msg = msg
	return slog.New(l)
}

func (l *lineLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *lineLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == l.msg {
		l.once.Do(func() { close(l.saw) })
	}
	return nil
}
func (l *lineLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lineLog) WithGroup(string) slog.Handler      { return l }

// TestFlights_LeaderFails: the upload a start waits for ends without
// installing the binary (its start failed); the script misses again, and
// the waiting start uploads itself.
func TestFlights_LeaderFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	bin := catProgram(t)
	fs := new(Flights)
	k, f := heldFlight(t, fs, bin, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := &lineLog{saw: make(chan struct{})}
	type result struct {
		p   *Process
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := Start(ctx, target(""), Options{Host: "localhost", CacheDirs: []string{dir}, Binaries: []*Binary{bin},
			Flights: fs, Logger: logs.logger("boot: waiting for another start's upload of the binary")})
		done <- result{p, err}
	}()
	select {
	case <-logs.saw:
	case r := <-done:
		t.Fatalf("the start did not wait for the held upload: %+v, %v", r.p, r.err)
	}
	fs.land(k, f) // nothing was installed
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.p.Info.Uploaded == 0 || r.p.Info.Shared || r.p.Info.CacheHit {
		t.Fatalf("after a failed upload by another start: %+v, want its own upload", r.p.Info)
	}
	if err := greets(r.p); err != nil {
		t.Fatal(err)
	}
}

// TestFlights_WaitBoundedByTimeout: an upload that never ends does not hold
// a waiting start past its bootstrap timeout, and the script it ran is
// gone.
func TestFlights_WaitBoundedByTimeout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	bin := catProgram(t)
	fs := new(Flights)
	heldFlight(t, fs, bin, dir)
	_, err := Start(context.Background(), target(""), Options{Host: "localhost", CacheDirs: []string{dir}, Binaries: []*Binary{bin},
		Flights: fs, Timeout: 500 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrBootstrapTimeout) {
		t.Fatalf("error %v, want ErrBootstrapTimeout", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Errorf("left behind: %s", e.Name())
	}
}
