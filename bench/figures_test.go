package main

import (
	"math"
	"testing"
)

func TestReduce(t *testing.T) {
	raw := Raw{
		// Per-round p50s of 2, 4 and 3 ms: the figure is their median, 3.
		Spawn:   [][]float64{{0.001, 0.002, 0.003}, {0.004, 0.004, 0.005}, {0.003}},
		Spawn10: []float64{0.020, 0.030, 0.010},
		// 100 samples of 1..100 µs per round: p50 50.5, p99 99.01.
		RTT: [][]float64{scaled(seq(1, 100), 1e-6), scaled(seq(1, 100), 1e-6)},
		// 1000 msgs in 1 ms, and in 2 ms: rates 1 M/s and 0.5 M/s.
		OneWay: []Rate{{N: 1000, Seconds: 0.001}, {N: 1000, Seconds: 0.002}, {N: 0, Seconds: 1}},
		// Two 1 MiB round trips taking 2 ms in all: 2×2 MiB / 2 ms.
		Bulk: [][]float64{{0.001, 0.001}},
	}
	f := reduce(raw)
	want := map[Metric]Stat{
		SpawnP50: {Median: 3, Lo: 2, Hi: 4, Rounds: 3},
		Spawn10:  {Median: 20, Lo: 10, Hi: 30, Rounds: 3},
		RTTP50:   {Median: 50.5, Lo: 50.5, Hi: 50.5, Rounds: 2},
		RTTP99:   {Median: 99.01, Lo: 99.01, Hi: 99.01, Rounds: 2},
		OneWay:   {Median: 750e3, Lo: 500e3, Hi: 1e6, Rounds: 2}, // the empty round is dropped
		Bulk:     {Median: 4 * bulkBytes / 0.002 / 1e6, Lo: 4 * bulkBytes / 0.002 / 1e6, Hi: 4 * bulkBytes / 0.002 / 1e6, Rounds: 1},
	}
	for m, w := range want {
		got := f[m]
		if got == nil {
			t.Errorf("%s: missing", m.info().Key)
			continue
		}
		if !near(got.Median, w.Median) || !near(got.Lo, w.Lo) || !near(got.Hi, w.Hi) || got.Rounds != w.Rounds {
			t.Errorf("%s = %+v, want %+v", m.info().Key, *got, w)
		}
	}
}

func TestReduce_MissingWorkloadsAreNil(t *testing.T) {
	f := reduce(Raw{RTT: [][]float64{{1e-6}}})
	for m := Metric(0); m < numMetrics; m++ {
		if has := f[m] != nil; has != (m == RTTP50 || m == RTTP99) {
			t.Errorf("%s present = %v", m.info().Key, has)
		}
	}
	if f := reduce(Raw{Spawn: [][]float64{{}}, Bulk: [][]float64{{}}}); f[SpawnP50] != nil || f[Bulk] != nil {
		t.Errorf("empty rounds gave figures: %+v", f)
	}
}

func TestMetricKeys(t *testing.T) {
	// The first six JSON keys are fixed by issue 6; issue 14 adds ping-pong.
	want := []string{"spawn_ms_p50", "spawn10_ms", "rtt_us_p50", "rtt_us_p99", "oneway_msgs_per_s", "bulk_1mib_mb_per_s",
		"pingpong_us_p50"}
	for i, k := range want {
		if got := Metric(i).info().Key; got != k {
			t.Errorf("metric %d key = %q, want %q", i, got, k)
		}
	}
	if int(numMetrics) != len(want) {
		t.Errorf("%d metrics, want %d", numMetrics, len(want))
	}
}

func scaled(v []float64, k float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x * k
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
