package actors

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/spindle-go/spindle/wire"
)

// TestHeaderCache: a link's header cache gives every frame the headers of
// its own kv block, whatever came before: the same block, another one, the
// first one again, a block over the cache's bound, a malformed block (an
// error, and the cache is not changed by it), and a frame buffer reused for
// other bytes after the parse (the cache keeps a copy, not the frame's
// bytes).
func TestHeaderCache(t *testing.T) {
	kv := func(m map[string]string) []byte {
		b, err := wire.AppendKV(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := map[string]string{"traceparent": "00-aa-01"}
	b := map[string]string{"traceparent": "00-bb-01", "tracestate": "x=1"}
	big := map[string]string{"k": strings.Repeat("v", headerCacheMax)}
	var c headerCache
	for i, want := range []map[string]string{a, a, b, a, big, a, b, b} {
		got, err := c.parse(kv(want))
		if err != nil || !maps.Equal(got, want) {
			t.Fatalf("frame %d: %v, %v; want %v", i, got, err, want)
		}
	}
	if _, err := c.parse([]byte{3, 'a'}); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("malformed block: %v", err)
	}
	buf := kv(a)
	if got, _ := c.parse(buf); !maps.Equal(got, a) {
		t.Fatalf("after a malformed block: %v", got)
	}
	copy(buf, kv(map[string]string{"traceparent": "00-cc-01"})) // the reader reuses its buffer
	if got, _ := c.parse(buf); got["traceparent"] != "00-cc-01" {
		t.Fatalf("reused buffer: %v", got)
	}
	if len(c.kv) > headerCacheMax {
		t.Fatalf("cache holds %d bytes", len(c.kv))
	}
}
