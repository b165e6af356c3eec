package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestCompare(t *testing.T) {
	tests := []struct {
		name         string
		a, b         float64
		higherBetter bool
		factor       float64
		better       bool
	}{
		{"slower latency", 30, 10, false, 3, false},
		{"faster latency", 10, 40, false, 4, true},
		{"higher throughput", 2e6, 1e6, true, 2, true},
		{"lower throughput", 1e6, 4e6, true, 4, false},
		{"equal", 5, 5, false, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, better, ok := compare(&Stat{Median: tt.a}, &Stat{Median: tt.b}, tt.higherBetter)
			if !ok || !near(f, tt.factor) || better != tt.better {
				t.Errorf("compare(%v, %v) = %v, %v, %v; want %v, %v", tt.a, tt.b, f, better, ok, tt.factor, tt.better)
			}
		})
	}
	for _, pair := range [][2]*Stat{{nil, {Median: 1}}, {{Median: 1}, nil}, {{Median: 0}, {Median: 1}}, {{Median: 1}, {Median: 0}}} {
		if _, _, ok := compare(pair[0], pair[1], false); ok {
			t.Errorf("compare(%v, %v) ok, want not ok", pair[0], pair[1])
		}
	}
}

func TestRatioText(t *testing.T) {
	if got := ratioText(&Stat{Median: 75}, &Stat{Median: 2.5}, false); got != "30.0× slower" {
		t.Errorf("got %q", got)
	}
	if got := ratioText(&Stat{Median: 1.36e6}, &Stat{Median: 51e3}, true); got != "26.7× faster" {
		t.Errorf("got %q", got)
	}
	if got := ratioText(nil, &Stat{Median: 1}, true); got != "—" {
		t.Errorf("got %q", got)
	}
}

func TestSig3(t *testing.T) {
	for in, want := range map[float64]string{
		0: "0.00", 1234.4: "1234", 100: "100", 75.23: "75.2", 9.2: "9.20", 1: "1.00", 0.0523: "0.0523", 0.5: "0.5",
	} {
		if got := sig3(in); got != want {
			t.Errorf("sig3(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestCellText(t *testing.T) {
	tests := []struct {
		s    *Stat
		want string
	}{
		{nil, "—"},
		{&Stat{Median: 75.2, Lo: 74, Hi: 81.3, Rounds: 5}, "75.2 (74.0–81.3)"},
		{&Stat{Median: 1.36e6, Lo: 1.34e6, Hi: 1.4e6, Rounds: 5}, "1.36 M (1.34–1.40)"},
		{&Stat{Median: 51.2e3, Lo: 47.6e3, Hi: 54.3e3, Rounds: 3}, "51.2 k (47.6–54.3)"},
		{&Stat{Median: 9.2, Lo: 9.2, Hi: 9.2, Rounds: 1}, "9.20"},
	}
	for _, tt := range tests {
		if got := cellText(tt.s); got != tt.want {
			t.Errorf("cellText(%+v) = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestRoundSig(t *testing.T) {
	for _, tt := range []struct{ in, want float64 }{
		{1357924, 1358000}, {75.234, 75.23}, {0.0012345, 0.001235}, {0, 0}, {-9.87654, -9.877},
	} {
		if got := roundSig(tt.in, 4); !near(got, tt.want) {
			t.Errorf("roundSig(%v, 4) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// sampleReport has every kind of result: systems that ran, a table-only
// variant, a JSON system that was skipped, an optional one that was
// skipped, and a failure.
func sampleReport() *Report {
	st := func(m, lo, hi float64) *Stat { return &Stat{Median: m, Lo: lo, Hi: hi, Rounds: 5} }
	return &Report{
		Meta: Meta{
			Date: time.Date(2026, 11, 21, 7, 0, 0, 0, time.UTC), Mode: "full", Rounds: 5,
			Command: "(cd bench && go run . -json results.json)", Machine: "2 CPUs (test CPU)",
			Software: "go1.26.8", Load: "0.10 / 0.20 / 0.30", Elapsed: 95 * time.Second,
			Children: "bench/child",
		},
		Results: []*Result{
			{Name: "floor", About: "two Go processes", InJSON: true, Figures: Figures{st(2.3, 2.2, 2.5), st(12, 11, 14), st(2.4, 2.4, 2.6), st(5, 4, 9), st(30e6, 28e6, 31e6), st(4000, 3900, 4100)}},
			{Name: "floor (socketpair)", Figures: Figures{nil, nil, st(5.5, 5.4, 5.6), st(9, 8, 12), st(40e6, 39e6, 41e6), st(3500, 3400, 3600)}},
			{Name: "spindle", InJSON: true, Figures: Figures{st(9.2, 9, 9.4), st(60, 58, 70), st(75, 74, 81), st(198, 185, 214), st(1.36e6, 1.34e6, 1.4e6), st(1210, 1170, 1290)}},
			{Name: "mitogen", InJSON: true, Skipped: "python3-mitogen is not installed"},
			{Name: "protoactor_grpc", InJSON: true, Figures: Figures{st(16, 15, 20), st(280, 250, 310), st(138, 130, 150), nil, st(1.28e6, 1.2e6, 1.3e6), nil}},
			{Name: "spindle_ssh", Skipped: "spawn/ssh is not in this build"},
			{Name: "mitogen_ssh", Failed: "mitobench.py: exit status 1"},
		},
	}
}

func TestReport_JSON(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().JSON(&b); err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]*float64
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.String())
	}
	// One object per JSON system, table-only variants and optional systems
	// that did not run left out.
	var names []string
	for n := range got {
		names = append(names, n)
	}
	if want := []string{"floor", "mitogen", "protoactor_grpc", "spindle"}; !sameSet(names, want) {
		t.Fatalf("systems %v, want %v", names, want)
	}
	var keys []string
	for m := Metric(0); m < numMetrics; m++ {
		keys = append(keys, m.info().Key)
	}
	for name, obj := range got {
		var have []string
		for k := range obj {
			have = append(have, k)
		}
		if !sameSet(have, keys) {
			t.Errorf("%s has keys %v, want exactly %v", name, have, keys)
		}
	}
	for k, v := range got["mitogen"] {
		if v != nil {
			t.Errorf("skipped mitogen has %s = %v, want null", k, *v)
		}
	}
	if v := got["protoactor_grpc"]["rtt_us_p99"]; v != nil {
		t.Errorf("missing figure is %v, want null", *v)
	}
	if v := got["spindle"]["oneway_msgs_per_s"]; v == nil || *v != 1.36e6 {
		t.Errorf("spindle one-way = %v, want 1360000", v)
	}
	// Objects come in the order.
	s := b.String()
	if !(strings.Index(s, `"spindle"`) < strings.Index(s, `"floor"`) && strings.Index(s, `"floor"`) < strings.Index(s, `"mitogen"`)) {
		t.Errorf("objects out of order:\n%s", s)
	}
	golden(t, "report.golden.json", b.Bytes())
}

func TestReport_Markdown(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().Markdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| workload | unit | floor | floor (socketpair) | spindle | protoactor_grpc |",
		"| request round trip, small message, p50 | µs | 2.40 (2.40–2.60) | 5.50 (5.40–5.60) | 75.0 (74.0–81.0) | 138 (130–150) |",
		"| spindle vs floor | spindle vs protoactor_grpc | protoactor_grpc vs floor |",
		"| request round trip, small message, p50 | 31.2× slower | 1.84× faster | 57.5× slower |",
		"- mitogen: skipped: python3-mitogen is not installed",
		"- mitogen_ssh: FAILED: mitobench.py: exit status 1",
		"Reproduce: `(cd bench && go run . -json results.json)`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Contains(md, "spindle (socketpair) vs") {
		t.Errorf("ratio for a variant that did not run:\n%s", md)
	}
	golden(t, "report.golden.md", b.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it); got:\n%s", name, got)
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return len(a) == len(b)
}
