package oteltrace_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/oteltrace"
)

// FuzzExtract: whatever traceparent and tracestate a peer sends, Extract
// never panics, and it yields a span context only for a traceparent that
// ValidTraceparent accepts, with that traceparent's IDs.
func FuzzExtract(f *testing.F) {
	for _, s := range []string{goodParent, "01" + goodParent[2:] + "-extra", "ff" + goodParent[2:], goodParent + "-",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01", strings.ToUpper(goodParent), "", "-", "00--", "\x00"} {
		f.Add(s, "a=1,b=2")
	}
	f.Add(goodParent, strings.Repeat("k=v,", 40))
	f.Add(goodParent, "=,,\xff")
	p := oteltrace.New(nil)
	f.Fuzz(func(t *testing.T, tp, ts string) {
		var h actors.Headers
		h.Set("traceparent", tp)
		h.Set("tracestate", ts)
		sc := trace.SpanContextFromContext(p.Extract(context.Background(), &h))
		valid := oteltrace.ValidTraceparent(tp)
		if sc.IsValid() && (!valid || tp[3:35] != sc.TraceID().String() || tp[36:52] != sc.SpanID().String() || !sc.IsRemote()) {
			t.Fatalf("traceparent %q gave span context %v (ValidTraceparent %v)", tp, sc, valid)
		}
		if valid && len(tp) <= actors.MaxPropagatedValue {
			// Where the traceparent is well-formed, the fast path gives
			// what OpenTelemetry's TraceContext gives.
			otel := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), &h))
			if !otel.Equal(sc) {
				t.Fatalf("traceparent %q tracestate %q: %v, OpenTelemetry %v", tp, ts, sc, otel)
			}
		}
	})
}

// FuzzInjectSameAsOTel: the fast Inject sets the headers OpenTelemetry's
// TraceContext sets, for any span context.
func FuzzInjectSameAsOTel(f *testing.F) {
	f.Add([]byte("0123456789abcdef"), []byte("01234567"), byte(1), "a=1,b=2")
	f.Add([]byte("0123456789abcdef"), []byte("01234567"), byte(0xff), "")
	f.Add(make([]byte, 16), make([]byte, 8), byte(0), "")
	p := oteltrace.New(nil)
	f.Fuzz(func(t *testing.T, tid, sid []byte, flags byte, ts string) {
		var scc trace.SpanContextConfig
		copy(scc.TraceID[:], tid)
		copy(scc.SpanID[:], sid)
		scc.TraceFlags = trace.TraceFlags(flags)
		scc.TraceState, _ = trace.ParseTraceState(ts)
		ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(scc))
		var got actors.Headers
		p.Inject(ctx, &got)
		want := propagation.MapCarrier{}
		propagation.TraceContext{}.Inject(ctx, want)
		for _, k := range []string{"traceparent", "tracestate"} {
			if w := want.Get(k); len(w) <= actors.MaxPropagatedValue && got.Get(k) != w {
				t.Fatalf("%s: %q, OpenTelemetry %q", k, got.Get(k), w)
			}
		}
	})
}

// TestValidTraceparent pins the cases of W3C Trace Context section 3.2.
func TestValidTraceparent(t *testing.T) {
	for s, want := range map[string]bool{
		goodParent: true,
		"00" + goodParent[2:len(goodParent)-2] + "00":             true,
		"01" + goodParent[2:]:                                     true,
		"cc" + goodParent[2:] + "-what":                           true,
		"cc" + goodParent[2:] + "what":                            false,
		goodParent + "-":                                          false, // version 00 is exactly 55 bytes
		goodParent[:54]:                                           false,
		"ff" + goodParent[2:]:                                     false,
		strings.ToUpper(goodParent):                               false,
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01": false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01": false,
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g": false,
		"": false,
	} {
		if got := oteltrace.ValidTraceparent(s); got != want {
			t.Errorf("ValidTraceparent(%q) = %v, want %v", s, got, want)
		}
	}
}
