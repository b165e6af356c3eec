package oteltrace

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
