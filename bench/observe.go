package main

// The observability variants of spindle (issue 16.7): the same child
// context and workloads with the OpenTelemetry adapters on, measured in
// the same run as plain spindle so that their ratio is the overhead.

import (
	"context"
	"net/http/httptest"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/otelmetrics"
	"github.com/spindle-go/spindle/actors/oteltrace"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/supervision/otelsupervision"
)

// observeWorkloads are the workloads issue 16.7 bounds (round trip p50,
// one-way throughput).
var observeWorkloads = Workloads{RTT: true, OneWay: true}

// scrapeEvery is how often the metrics variant scrapes its Prometheus
// handler while it runs (Prometheus's default is 1m; a busy setup 15s).
const scrapeEvery = time.Second

// makeSpindleMetrics is spindle with a root of its own on which the link
// and supervision instruments are registered with otelmetrics'
// Prometheus MeterProvider, scraped (collected and written out) every
// scrapeEvery while the system runs.
func makeSpindleMetrics(_ context.Context, e *env, _ *system) (contender, error) {
	node, err := newSpindleRootWith(nil)
	if err != nil {
		return nil, err
	}
	prom, err := otelmetrics.NewPrometheus()
	if err != nil {
		return nil, err
	}
	links, err := otelmetrics.Register(node, prom.MeterProvider)
	if err != nil {
		return nil, err
	}
	sups, err := otelsupervision.Register(node, prom.MeterProvider)
	if err != nil {
		return nil, err
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(scrapeEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				prom.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/metrics", nil))
			}
		}
	}()
	var once sync.Once
	cleanup := func() {
		once.Do(func() {
			close(stop)
			<-done
			_ = links.Unregister()
			_ = sups.Unregister()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_ = prom.Shutdown(ctx)
			_ = node.Shutdown(ctx)
		})
	}
	d := &spindleDriver{node: node, launch: localLauncher(node, e.child, spawn.Pipes), msgs: reflectiveMessages}
	return &goContender{d: d, cleanup: cleanup}, nil
}

// makeSpindleTrace is spindle with oteltrace's propagator in the root,
// and every request and one-way message sent with a ctx that carries a
// sampled span of an SDK TracerProvider: each frame carries a
// traceparent, which the child's core parses into the message's headers
// (its actors do not extract it: that is an application's call, whose
// cost oteltrace's BenchmarkExtract gives; the child binary stays without
// OTel so that the spawn and memory figures of the other systems keep
// their binary). The span is the caller's, started once; no span is
// started per message.
func makeSpindleTrace(_ context.Context, e *env, _ *system) (contender, error) {
	node, err := newSpindleRootWith(oteltrace.New(nil))
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	_, span := tp.Tracer("bench").Start(context.Background(), "bench")
	sc := span.SpanContext()
	cleanup := func() {
		span.End()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = tp.Shutdown(ctx)
		_ = node.Shutdown(ctx)
	}
	d := &spindleDriver{node: node, launch: localLauncher(node, e.child, spawn.Pipes), msgs: reflectiveMessages,
		traced: func(ctx context.Context) context.Context { return trace.ContextWithSpanContext(ctx, sc) }}
	return &goContender{d: d, cleanup: cleanup}, nil
}

// newSpindleRootWith is newSpindleRoot with a propagator (nil: none).
func newSpindleRootWith(p actors.Propagator) (*actors.Node, error) {
	n, err := newSpindleRoot()
	if err != nil || p == nil {
		return n, err
	}
	n.SetPropagator(p)
	return n, nil
}
