package otelsupervision_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/supervision"
	"github.com/spindle-go/spindle/supervision/otelsupervision"
)

const waitLong = 30 * time.Second

// collect reads every metric of r by name.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// sum returns the value of name's data point whose attributes include
// want (0 when there is none).
func sum(t *testing.T, got map[string]metricdata.Metrics, name string, want ...attribute.KeyValue) int64 {
	t.Helper()
	m, ok := got[name]
	if !ok {
		return 0
	}
	s, ok := m.Data.(metricdata.Sum[int64])
	if !ok || !s.IsMonotonic {
		t.Fatalf("%s is %T, want a monotonic Sum[int64]", name, m.Data)
	}
	var v int64
points:
	for _, dp := range s.DataPoints {
		for _, kv := range want {
			if got, ok := dp.Attributes.Value(kv.Key); !ok || got != kv.Value {
				continue points
			}
		}
		v += dp.Value
	}
	return v
}

func newNode(t *testing.T) *actors.Node {
	t.Helper()
	n, err := actors.NewNode(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

func local(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
	return spawn.Local(ctx, n, spawn.Options{Common: spawn.Common{Name: name}})
}

// waitFor collects until cond holds, failing after waitLong.
func waitFor(t *testing.T, r *sdkmetric.ManualReader, what string, cond func(map[string]metricdata.Metrics) bool) map[string]metricdata.Metrics {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		got := collect(t, r)
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v: %v", what, waitLong, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRegister_RestartsFailuresGiveUps: a supervised child process killed
// twice, with an intensity of one restart, counts one start, two
// failures (error.type exit), one restart and one give-up of the child;
// a supervisor whose only child never starts gives up itself
// (failures with error.type start, a give-up of scope supervisor).
func TestRegister_RestartsFailuresGiveUps(t *testing.T) {
	n := newNode(t)
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	reg, err := otelsupervision.Register(n, mp)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()

	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	sup, err := supervision.Start(ctx, n, supervision.Config{Name: "pool", Children: []supervision.ContextSpec{{
		Name: "worker", Start: local, Intensity: supervision.Intensity{MaxRestarts: 1, Period: time.Hour}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Stop(ctx)
	pool, worker := otelsupervision.AttrSupervisor.String("pool"), otelsupervision.AttrChild.String("worker")
	if err := sup.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, "start", func(g map[string]metricdata.Metrics) bool {
		return sum(t, g, "spindle.supervision.starts", pool, worker) == 1
	})
	kill := func() uint32 {
		ci, _ := sup.Child("worker")
		if err := ci.Context.Kill(); err != nil {
			t.Fatal(err)
		}
		return ci.ID
	}
	old := kill()
	for ci, _ := sup.Child("worker"); !ci.Up || ci.ID == old; ci, _ = sup.Child("worker") {
		if ctx.Err() != nil {
			t.Fatal("worker not restarted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := waitFor(t, r, "restart", func(g map[string]metricdata.Metrics) bool {
		return sum(t, g, "spindle.supervision.restarts", pool, worker) == 1
	})
	if f := sum(t, got, "spindle.supervision.failures", pool, worker, otelsupervision.AttrErrorType.String("exit")); f != 1 {
		t.Fatalf("failures (exit) = %d, want 1: %v", f, got["spindle.supervision.failures"])
	}
	kill()
	got = waitFor(t, r, "give-up", func(g map[string]metricdata.Metrics) bool {
		return sum(t, g, "spindle.supervision.give_ups", pool, worker, otelsupervision.AttrScope.String("child")) == 1
	})
	if f := sum(t, got, "spindle.supervision.failures", pool, worker); f != 2 {
		t.Fatalf("failures = %d, want 2", f)
	}
	if rs := sum(t, got, "spindle.supervision.restarts", pool); rs != 1 {
		t.Fatalf("restarts = %d after the give-up, want 1", rs)
	}

	never := func(context.Context, *actors.Node, string) (spawn.Child, error) {
		return nil, errors.New("no route to host")
	}
	bad, err := supervision.Start(ctx, n, supervision.Config{Name: "doomed", Policy: supervision.Policy{MaxRestarts: 1, Period: time.Hour},
		Children: []supervision.ContextSpec{{Name: "host", Start: never}}})
	if err == nil {
		defer bad.Stop(ctx)
	}
	doomed := otelsupervision.AttrSupervisor.String("doomed")
	got = waitFor(t, r, "the supervisor's give-up", func(g map[string]metricdata.Metrics) bool {
		return sum(t, g, "spindle.supervision.give_ups", doomed, otelsupervision.AttrScope.String("supervisor")) == 1
	})
	if f := sum(t, got, "spindle.supervision.failures", doomed, otelsupervision.AttrErrorType.String("start")); f < 1 {
		t.Fatalf("failures (start) of doomed = %d", f)
	}

	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	_ = reg.Unregister()
}

// TestErrorType: causes keep their type through wrapping.
func TestErrorType(t *testing.T) {
	for want, err := range map[string]error{
		"start":     &supervision.StartError{Err: errors.New("x")},
		"heartbeat": &actors.DeadError{Cause: 3},
		"_OTHER":    errors.New("x"),
	} {
		if got := otelsupervision.ErrorType(err); got != want {
			t.Errorf("ErrorType(%v) = %q, want %q", err, got, want)
		}
	}
}

func newExampleNode() (*actors.Node, error) {
	return actors.NewNode(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}
