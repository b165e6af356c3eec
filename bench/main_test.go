package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/bench/internal/workload"
	"github.com/spindle-go/spindle/spawn"
)

// TestMain lets the test binary be every child of the harness, as the
// harness binary is: Spindle contexts, floor processes, protoactor peers.
func TestMain(m *testing.M) {
	spawn.Main(workload.Setup)
	if code, ok := runRole(os.Getenv(workload.RoleEnv)); ok {
		os.Exit(code)
	}
	// Race-instrumented children sleep 1s at exit by default, which would
	// stretch every spawn and shutdown the harness does.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

// runQuick runs the harness in quick mode with args and returns its exit
// code, its markdown and the parsed JSON file.
func runQuick(t *testing.T, args ...string) (int, string, map[string]map[string]*float64) {
	t.Helper()
	jsonPath := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"-quick", "-json", jsonPath}, args...), &stdout, &stderr)
	t.Logf("progress:\n%s", stderr.String())
	var figures map[string]map[string]*float64
	if b, err := os.ReadFile(jsonPath); err != nil {
		t.Fatalf("no JSON file: %v", err)
	} else if err := json.Unmarshal(b, &figures); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, b)
	}
	return code, stdout.String(), figures
}

// TestSmoke_SpindleAndFloor runs the quick mode of the Spindle and floor
// systems end to end: real child processes, every workload, a table and a
// JSON file with a positive figure for each metric.
func TestSmoke_SpindleAndFloor(t *testing.T) {
	t0 := time.Now()
	code, md, figures := runQuick(t, "-systems", "floor,spindle,floor(socketpair),spindle(socketpair)")
	if code != 0 {
		t.Fatalf("exit code %d; report:\n%s", code, md)
	}
	for _, sys := range []string{"spindle", "floor"} {
		obj, ok := figures[sys]
		if !ok {
			t.Fatalf("no %s object in %v", sys, figures)
		}
		for m := Metric(0); m < numMetrics; m++ {
			if v := obj[m.info().Key]; v == nil || *v <= 0 {
				t.Errorf("%s %s = %v, want a positive figure", sys, m.info().Key, v)
			}
		}
	}
	if len(figures) != 2 {
		t.Errorf("JSON has %d systems, want spindle and floor only (variants are table-only)", len(figures))
	}
	for _, want := range []string{"| spindle vs floor |", "spindle (socketpair) vs floor (socketpair)", "quick mode", "ran bench/child, built for this run"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	t.Logf("quick floor+spindle in %v:\n%s", time.Since(t0).Round(time.Millisecond), md)
}

// TestSmoke_ChildSelf runs the floor with the harness binary (the test
// binary here) as the child, the fallback when bench/child cannot be built.
func TestSmoke_ChildSelf(t *testing.T) {
	code, md, figures := runQuick(t, "-systems", "floor", "-child", "self")
	if code != 0 {
		t.Fatalf("exit code %d; report:\n%s", code, md)
	}
	if v := figures["floor"]["spawn_ms_p50"]; v == nil || *v <= 0 {
		t.Errorf("floor spawn = %v", v)
	}
	if !strings.Contains(md, "ran the harness binary") {
		t.Errorf("report does not say which binary the children were:\n%s", md)
	}
}

// TestSmoke_MissingPeersAreSkipped checks that a peer that is not installed
// (or turned off) is a skip with a reason, not a failure.
func TestSmoke_MissingPeersAreSkipped(t *testing.T) {
	code, md, figures := runQuick(t, "-systems", "mitogen,mitogen_ssh,spindle_ssh", "-python", "/nonexistent/python3", "-ssh=false")
	if code != 0 {
		t.Fatalf("exit code %d, want 0 for skipped peers; report:\n%s", code, md)
	}
	for _, want := range []string{
		"- mitogen: skipped: /nonexistent/python3 not found",
		"- mitogen_ssh: skipped:",
		"- spindle_ssh: skipped:",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	obj, ok := figures["mitogen"]
	if !ok {
		t.Fatalf("mitogen missing from JSON: %v", figures)
	}
	for k, v := range obj {
		if v != nil {
			t.Errorf("skipped mitogen has %s = %v", k, *v)
		}
	}
	if _, ok := figures["mitogen_ssh"]; ok {
		t.Errorf("an SSH system that did not run is in the JSON: %v", figures)
	}
}

// TestSmoke_Peers runs the quick mode of the peers that are installed here
// (Mitogen is skipped where python3-mitogen is missing).
func TestSmoke_Peers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts peer processes; skipped in -short")
	}
	code, md, figures := runQuick(t, "-systems", "protoactor_grpc,mitogen", "-ssh=false")
	if code != 0 {
		t.Fatalf("exit code %d; report:\n%s", code, md)
	}
	for sys, obj := range figures {
		if strings.Contains(md, "- "+sys+": skipped") {
			t.Logf("%s skipped here", sys)
			continue
		}
		work := systemWork(t, sys)
		for m := Metric(0); m < numMetrics; m++ {
			v := obj[m.info().Key]
			switch {
			case m == PingPongP50 && !work.PingPong: // Mitogen has no actors
				if v != nil {
					t.Errorf("%s %s = %v for a workload it does not run", sys, m.info().Key, *v)
				}
			case v == nil || *v <= 0:
				t.Errorf("%s %s = %v, want a positive figure", sys, m.info().Key, v)
			}
		}
	}
}

// systemWork returns the workloads of the system named in the JSON.
func systemWork(t *testing.T, name string) Workloads {
	t.Helper()
	for _, s := range systems {
		if s.name == name {
			return s.work
		}
	}
	t.Fatalf("no system %q", name)
	return Workloads{}
}

func TestSelectSystems(t *testing.T) {
	got, err := selectSystems("spindle, floor(socketpair) ,mitogen_ssh")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.name)
	}
	if want := "spindle|floor (socketpair)|mitogen_ssh"; strings.Join(names, "|") != want {
		t.Errorf("selected %q, want %q", strings.Join(names, "|"), want)
	}
	if all, _ := selectSystems(""); len(all) != len(systems) {
		t.Errorf("empty list selected %d systems, want all %d", len(all), len(systems))
	}
	if _, err := selectSystems("spindle,nonesuch"); err == nil {
		t.Error("unknown system accepted")
	}
}

func TestParseFlags(t *testing.T) {
	var stderr bytes.Buffer
	o, err := parseFlags([]string{"-quick", "-json", "x.json"}, &stderr)
	if err != nil || !o.quick || o.jsonPath != "x.json" || o.limit != 30*time.Second || !o.ssh {
		t.Errorf("parseFlags = %+v, %v", o, err)
	}
	if o, _ := parseFlags(nil, &stderr); o.limit != 2*time.Minute {
		t.Errorf("full-run limit = %v", o.limit)
	}
	if _, err := parseFlags([]string{"stray"}, &stderr); err == nil {
		t.Error("stray argument accepted")
	}
}

func TestPlan_OneWayCount(t *testing.T) {
	p := Plan{OneWayCalibrate: 1000, OneWayRound: 0.5, OneWayMax: 1_000_000}
	tests := []struct {
		n    int
		d    time.Duration
		want int
	}{
		{1000, 10 * time.Millisecond, 50_000}, // 100 k/s for half a second
		{1000, time.Second, 1000},             // never below the calibration burst
		{1000, time.Microsecond, 1_000_000},   // capped
		{1000, 0, 1_000_000},                  // no time measured: the cap
	}
	for _, tt := range tests {
		if got := p.oneWayCount(tt.n, tt.d); got != tt.want {
			t.Errorf("oneWayCount(%d, %v) = %d, want %d", tt.n, tt.d, got, tt.want)
		}
	}
	for _, pl := range []Plan{quickPlan, fullPlan} {
		if pl.Rounds < 3 || pl.SpawnBatch != 10 || pl.RTTWarmup == 0 || pl.BulkWarmup == 0 || pl.SpawnWarmup == 0 {
			t.Errorf("%s plan lacks warm-up or rounds: %+v", pl.Mode, pl)
		}
	}
}

func TestProfileWorkloads(t *testing.T) {
	if w, err := profileWorkloads(""); err != nil || w != steadyWorkloads {
		t.Fatalf(`"" = %+v, %v; want every steady workload`, w, err)
	}
	if w, err := profileWorkloads("oneway, bulk"); err != nil || w != (Workloads{OneWay: true, Bulk: true}) {
		t.Fatalf(`"oneway, bulk" = %+v, %v`, w, err)
	}
	if _, err := profileWorkloads("spawn"); err == nil {
		t.Fatal(`"spawn" accepted`)
	}
}
