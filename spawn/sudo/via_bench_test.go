package sudo_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/sudotest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/sudo"
)

// BenchmarkViaSudo is spawn to first reply (start, spawn "who", one
// request; warm target cache; shutdown outside the timer) through sudo
// from spindle-a to root with its password, started directly by the root
// and through a warm local intermediate (the password asked at the root
// from there), interleaved in one loop so that both see the same load.
// It reports the medians, the ranges and the ratio via / direct.
func BenchmarkViaSudo(b *testing.B) {
	u := sudotest.Setup(b)
	root := newRoot(b)
	ctx := context.Background()
	hop, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "hop"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = hop.Shutdown(ctx) })
	tgt := mustSudo(b, host(u.A), sudo.Options{Auth: sudo.Auth{Password: sudo.StaticPassword(u.A.Password)}})
	dir := cacheDir(b)
	one := func(via spawn.Hop) time.Duration {
		begin := time.Now()
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		p, err := spawn.Start(sctx, root, tgt, spawn.Common{Name: "sudo", Via: via}, spawn.Bootstrap{CacheDirs: []string{dir}})
		if err != nil {
			b.Fatal(err)
		}
		firstReply(b, root, p)
		took := time.Since(begin)
		if err := p.Shutdown(sctx); err != nil {
			b.Fatal(err)
		}
		return took
	}
	one(nil) // warm the target cache and the intermediate
	one(hop)
	var direct, via []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		direct = append(direct, one(nil))
		via = append(via, one(hop))
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	med := func(s []time.Duration) time.Duration { s = slices.Clone(s); slices.Sort(s); return s[len(s)/2] }
	b.ReportMetric(ms(med(direct)), "direct-ms")
	b.ReportMetric(ms(slices.Min(direct)), "direct-min-ms")
	b.ReportMetric(ms(slices.Max(direct)), "direct-max-ms")
	b.ReportMetric(ms(med(via)), "via-ms")
	b.ReportMetric(ms(slices.Min(via)), "via-min-ms")
	b.ReportMetric(ms(slices.Max(via)), "via-max-ms")
	b.ReportMetric(float64(med(via))/float64(med(direct)), "via/direct")
	b.ReportMetric(0, "ns/op")
}
