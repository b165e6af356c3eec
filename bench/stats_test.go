package main

import (
	"math"
	"testing"
)

func TestQuantile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []float64
		q      float64
		want   float64
	}{
		{"one value", []float64{7}, 0.5, 7},
		{"odd median", []float64{1, 2, 3}, 0.5, 2},
		{"even median interpolates", []float64{1, 2, 3, 4}, 0.5, 2.5},
		{"min", []float64{1, 2, 3, 4}, 0, 1},
		{"max", []float64{1, 2, 3, 4}, 1, 4},
		{"below range clamps", []float64{1, 2}, -1, 1},
		{"above range clamps", []float64{1, 2}, 2, 2},
		{"p99 of 1..101", seq(1, 101), 0.99, 100},
		{"p90 between ranks", []float64{0, 10}, 0.9, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quantile(tt.sorted, tt.q); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("quantile(%v, %v) = %v, want %v", tt.sorted, tt.q, got, tt.want)
			}
		})
	}
	if got := quantile(nil, 0.5); !math.IsNaN(got) {
		t.Errorf("quantile of nothing = %v, want NaN", got)
	}
}

func TestQuantileOf_LeavesInputAlone(t *testing.T) {
	in := []float64{3, 1, 2}
	if got := quantileOf(in, 0.5); got != 2 {
		t.Fatalf("median = %v, want 2", got)
	}
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Fatalf("input was reordered: %v", in)
	}
}

func TestSummarize(t *testing.T) {
	s, ok := summarize([]float64{5, 1, 9, 3})
	if !ok {
		t.Fatal("not ok")
	}
	if want := (Stat{Median: 4, Lo: 1, Hi: 9, Rounds: 4}); s != want {
		t.Fatalf("summarize = %+v, want %+v", s, want)
	}
	for _, bad := range [][]float64{nil, {}, {1, math.NaN()}, {math.Inf(1)}} {
		if _, ok := summarize(bad); ok {
			t.Errorf("summarize(%v) ok, want not ok", bad)
		}
	}
}

func seq(from, to int) []float64 {
	var s []float64
	for i := from; i <= to; i++ {
		s = append(s, float64(i))
	}
	return s
}
