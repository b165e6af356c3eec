package oteltrace

import (
	"context"
	"encoding/hex"

	"go.opentelemetry.io/otel/trace"

	"github.com/spindle-go/spindle/actors"
)

// The W3C Trace Context header names.
const (
	traceparent = "traceparent"
	tracestate  = "tracestate"
)

// Sizes of a traceparent (W3C Trace Context, level 1, section 3.2):
//
//	version "-" trace-id "-" parent-id "-" trace-flags
//	2 hex     32 hex         16 hex         2 hex       = 55 bytes
const (
	tpVersionLen = 2
	tpTraceIDLen = 32
	tpSpanIDLen  = 16
	tpFlagsLen   = 2
	tpLen        = tpVersionLen + 1 + tpTraceIDLen + 1 + tpSpanIDLen + 1 + tpFlagsLen
)

// ValidTraceparent reports whether s is a well-formed traceparent: lower
// case hex fields of the sizes above separated by '-', a version other
// than ff, a trace ID and a parent ID that are not all zeros; version 00
// exactly 55 bytes, a later version 55 bytes or more with a '-' after the
// flags (its extra fields are ignored, as the specification says). It
// never panics and does not allocate.
func ValidTraceparent(s string) bool {
	if len(s) < tpLen || (len(s) > tpLen && s[tpLen] != '-') {
		return false
	}
	off := 0
	field := func(n int) (string, bool) {
		f := s[off : off+n]
		off += n
		if off < tpLen && s[off] != '-' {
			return "", false
		}
		off++
		return f, isLowerHex(f)
	}
	version, ok := field(tpVersionLen)
	if !ok || version == "ff" || (version == "00" && len(s) != tpLen) {
		return false
	}
	traceID, ok := field(tpTraceIDLen)
	if !ok || allZero(traceID) {
		return false
	}
	spanID, ok := field(tpSpanIDLen)
	if !ok || allZero(spanID) {
		return false
	}
	_, ok = field(tpFlagsLen)
	return ok
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

// injectTraceContext is propagation.TraceContext's Inject without fmt
// (one allocation for the traceparent): the same headers, which
// FuzzInjectSameAsOTel checks.
func injectTraceContext(ctx context.Context, h *actors.Headers) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return
	}
	if ts := sc.TraceState(); ts.Len() > 0 {
		h.Set(tracestate, ts.String())
	}
	var b [tpLen]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	b[0], b[1], b[2] = '0', '0', '-'
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags() & trace.FlagsSampled)})
	h.Set(traceparent, string(b[:]))
}

// extractTraceContext is propagation.TraceContext's Extract for a
// traceparent that ValidTraceparent accepted (the caller checked), without
// its regular expression: the same span context, which FuzzExtract
// checks.
func extractTraceContext(ctx context.Context, h *actors.Headers) context.Context {
	tp := h.Get(traceparent)
	if tp == "" {
		return ctx
	}
	var scc trace.SpanContextConfig
	var flags [1]byte
	var err error
	if scc.TraceID, err = trace.TraceIDFromHex(tp[3:35]); err != nil {
		return ctx
	}
	if scc.SpanID, err = trace.SpanIDFromHex(tp[36:52]); err != nil {
		return ctx
	}
	if _, err = hex.Decode(flags[:], []byte(tp[53:55])); err != nil || (tp[:2] == "00" && flags[0] > 2) {
		return ctx // OpenTelemetry's rule for version 00's flags, kept
	}
	scc.TraceFlags = trace.TraceFlags(flags[0]) & trace.FlagsSampled
	scc.TraceState, _ = trace.ParseTraceState(h.Get(tracestate)) // a bad tracestate leaves the traceparent
	scc.Remote = true
	sc := trace.NewSpanContext(scc)
	if !sc.IsValid() {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}
