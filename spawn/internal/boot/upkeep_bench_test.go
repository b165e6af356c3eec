package boot

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/progress"
)

// uploadProgram is a program of about size bytes that greets and echoes
// (catProgram's shape): a shell script whose tail is half random, half
// text, so that zstd has about as much work as on a Go binary.
func uploadProgram(b testing.TB, size int) *Binary {
	b.Helper()
	path := filepath.Join(b.TempDir(), "prog")
	head := "#!/bin/sh\necho hello-from-$$\nexec cat\n#"
	noise := make([]byte, size/2)
	_, _ = rand.Read(noise)
	body := head + fmt.Sprintf("%x", noise[:size/4]) + strings.Repeat("spindle ", size/16) + "\n"
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		b.Fatal(err)
	}
	return NewBinary(path, runtime.GOOS+"/"+runtime.GOARCH)
}

// BenchmarkColdUploadProgress: cold starts through a real sh here (a
// fresh cache directory each time: probe, 10 MB upload in zstd, decode,
// verify, exec) with no callback and a discarded logger, with a
// callback, and with a callback and records at Info written by a text
// handler; the three interleaved, rounds times each. Reports the median
// and range of each, in ms.
func BenchmarkColdUploadProgress(b *testing.B) {
	const rounds = 15
	bin := uploadProgram(b, 10<<20)
	text := slog.New(slog.NewTextHandler(io.Discard, nil))
	modes := []struct {
		name string
		opts func() Options
	}{
		{"none", func() Options { return Options{} }},
		{"callback", func() Options {
			return Options{Progress: func(p Progress) { progressSink = p.Done }}
		}},
		{"callback+records", func() Options {
			return Options{Progress: func(p Progress) { progressSink = p.Done }, Logger: text}
		}},
	}
	took := make([][]time.Duration, len(modes))
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			for m, mode := range modes {
				o := mode.opts()
				o.Binaries, o.CacheDirs = []*Binary{bin}, []string{b.TempDir()}
				begin := time.Now()
				p, err := Start(context.Background(), target(""), o)
				if err != nil {
					b.Fatal(err)
				}
				took[m] = append(took[m], time.Since(begin))
				if p.Info.CacheHit || p.Info.Codec != "zstd" {
					b.Fatalf("info %+v, want a zstd upload", p.Info)
				}
				_ = p.Stdin.Close()
				_ = p.Runner.Wait(context.Background())
				_ = p.Runner.Stdout().Close()
			}
		}
	}
	for m, mode := range modes {
		med, lo, hi := spread(took[m])
		b.ReportMetric(ms(med), mode.name+"-median-ms")
		b.ReportMetric(ms(lo), mode.name+"-min-ms")
		b.ReportMetric(ms(hi), mode.name+"-max-ms")
	}
}

// BenchmarkSendChunks: the upload's writer alone, 10 MB into io.Discard,
// without and with a callback and a meter that logs (nothing logged: it
// is fast). What progress costs per upload, out of the noise of a start.
func BenchmarkSendChunks(b *testing.B) {
	data := make([]byte, 10<<20)
	for _, withCallback := range []bool{false, true} {
		b.Run(fmt.Sprintf("callback=%v", withCallback), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				var fn func(Progress)
				var m *progress.Meter
				if withCallback {
					fn = func(p Progress) { progressSink = p.Done }
					m = progress.Start(slog.New(slog.DiscardHandler), progress.Spec{Op: "upload", Total: int64(len(data))})
				}
				if err := sendChunks(io.Discard, data, Progress{Total: int64(len(data))}, fn, m); err != nil {
					b.Fatal(err)
				}
				m.End(nil)
			}
		})
	}
}

// BenchmarkPruneCache: one prune of a directory of N binaries (4 KiB
// files, the real flock probes and unlinks), with nothing to remove
// (all recent: the scan and lock probes) and with half beyond MaxAge.
func BenchmarkPruneCache(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		for _, removeHalf := range []bool{false, true} {
			b.Run(fmt.Sprintf("entries=%d/remove_half=%v", n, removeHalf), func(b *testing.B) {
				policy := CachePolicy{MaxAge: 24 * time.Hour, MaxBytes: -1, Keep: -1, Every: time.Nanosecond}
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					dir := b.TempDir()
					body := make([]byte, 4<<10)
					for j := 0; j < n; j++ {
						p := filepath.Join(dir, "spindle-"+digestOf(fmt.Sprint(i, j)))
						if err := os.WriteFile(p, body, 0o700); err != nil {
							b.Fatal(err)
						}
						at := time.Now().Add(-time.Hour)
						if removeHalf && j%2 == 0 {
							at = time.Now().Add(-48 * time.Hour)
						}
						_ = os.Chtimes(p, at, at)
					}
					b.StartTimer()
					rep, err := PruneCache(context.Background(), dir, policy, time.Now())
					if err != nil || rep.Skipped != "" {
						b.Fatal(rep, err)
					}
					if want := map[bool]int{false: 0, true: (n + 1) / 2}[removeHalf]; len(rep.Removed) != want {
						b.Fatalf("removed %d, want %d", len(rep.Removed), want)
					}
				}
			})
		}
	}
}

// progressSink keeps the benchmarks' callbacks from being optimised away.
var progressSink int64

func spread(d []time.Duration) (med, lo, hi time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[0], s[len(s)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
