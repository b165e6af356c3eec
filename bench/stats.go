package main

import (
	"math"
	"sort"
)

// Stat summarises one figure over the measured rounds of a run: the median
// of the per-round values and their spread (lowest and highest round).
type Stat struct {
	Median float64
	Lo, Hi float64
	Rounds int
}

// summarize returns the median and range of per-round values. ok is false
// when there are no values, or when any value is not a finite number.
func summarize(values []float64) (s Stat, ok bool) {
	if len(values) == 0 {
		return Stat{}, false
	}
	sorted := sortedCopy(values)
	for _, v := range sorted {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Stat{}, false
		}
	}
	return Stat{
		Median: quantile(sorted, 0.5),
		Lo:     sorted[0],
		Hi:     sorted[len(sorted)-1],
		Rounds: len(sorted),
	}, true
}

// quantile returns the q-quantile (0 ≤ q ≤ 1) of sorted values, linearly
// interpolated between the two nearest ranks (the "type 7" estimator of R
// and NumPy). It returns NaN for an empty slice.
func quantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	switch {
	case n == 0:
		return math.NaN()
	case q <= 0:
		return sorted[0]
	case q >= 1:
		return sorted[n-1]
	}
	pos := q * float64(n-1)
	i := int(pos)
	frac := pos - float64(i)
	if i+1 >= n {
		return sorted[n-1]
	}
	return sorted[i] + frac*(sorted[i+1]-sorted[i])
}

// quantileOf is quantile over unsorted values; values is not modified.
func quantileOf(values []float64, q float64) float64 {
	return quantile(sortedCopy(values), q)
}

func sortedCopy(values []float64) []float64 {
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	return s
}

func sum(values []float64) float64 {
	var t float64
	for _, v := range values {
		t += v
	}
	return t
}
