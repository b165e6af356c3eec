package wire

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

type aliasMsg struct {
	Big   []byte
	Small []byte
	Nil   []byte
	Text  string
}

// TestDecodeNameKept_AliasesLargeBytes: from a kept payload a large []byte
// aliases it (capacity = length), a small one is copied; DecodeNameCached
// copies both.
func TestDecodeNameKept_AliasesLargeBytes(t *testing.T) {
	r := NewRegistry()
	MustRegister[aliasMsg](r, "alias")
	in := &aliasMsg{Big: bytes.Repeat([]byte("b"), 256<<10), Small: []byte("small"), Text: "t"}
	payload, err := r.AppendPayload(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	var c TypeCache
	v, err := r.DecodeNameKept(&c, []byte("*alias"), payload)
	if err != nil {
		t.Fatal(err)
	}
	got := v.(*aliasMsg)
	if !bytes.Equal(got.Big, in.Big) || string(got.Small) != "small" || got.Nil != nil || got.Text != "t" {
		t.Fatalf("decoded %d/%q/%v/%q", len(got.Big), got.Small, got.Nil, got.Text)
	}
	if !aliases(got.Big, payload) || cap(got.Big) != len(got.Big) {
		t.Fatal("large []byte of a kept payload does not alias it with capacity = length")
	}
	if aliases(got.Small, payload) {
		t.Fatal("small []byte aliases the payload")
	}
	v, err = r.DecodeNameCached(&c, []byte("*alias"), payload)
	if err != nil {
		t.Fatal(err)
	}
	if aliases(v.(*aliasMsg).Big, payload) {
		t.Fatal("DecodeNameCached aliased the payload")
	}
	// A large []byte that is a small share of its payload is copied.
	in.Small = bytes.Repeat([]byte("s"), 2<<20)
	payload, _ = r.AppendPayload(nil, in)
	v, _ = r.DecodeNameKept(&c, []byte("*alias"), payload)
	if aliases(v.(*aliasMsg).Big, payload) || !aliases(v.(*aliasMsg).Small, payload) {
		t.Fatal("a []byte of less than a quarter of its payload aliased it, or the large one did not")
	}
}

// TestDecodeBytes_OtherDecoders: msgpack decoders that are not the
// Registry's decode []byte as msgpack does: a copy, into the value's own
// capacity when it is enough.
func TestDecodeBytes_OtherDecoders(t *testing.T) {
	in, err := msgpack.Marshal(&aliasMsg{Big: bytes.Repeat([]byte("x"), 100<<10), Small: []byte("abc")})
	if err != nil {
		t.Fatal(err)
	}
	own := make([]byte, 0, 8)
	out := aliasMsg{Small: own}
	if err := msgpack.Unmarshal(in, &out); err != nil {
		t.Fatal(err)
	}
	if aliases(out.Big, in) || len(out.Big) != 100<<10 || string(out.Small) != "abc" || &out.Small[0] != &own[:1][0] {
		t.Fatal("msgpack.Unmarshal of []byte changed behaviour")
	}
	var empty struct{ B []byte }
	b, _ := msgpack.Marshal(struct{ B []byte }{B: []byte{}})
	if err := msgpack.Unmarshal(b, &empty); err != nil || empty.B == nil || len(empty.B) != 0 {
		t.Fatalf("empty []byte: %v %v", empty.B, err)
	}
}

// aliasDeep has no struct plan (a map field): msgpack decodes it.
type aliasDeep struct {
	Big []byte
	M   map[string]int
}

// TestDecodeNameKept_Reflective: a type msgpack decodes (no struct plan)
// aliases a kept payload too.
func TestDecodeNameKept_Reflective(t *testing.T) {
	r := NewRegistry()
	MustRegister[aliasDeep](r, "deep")
	payload, err := r.AppendPayload(nil, &aliasDeep{Big: bytes.Repeat([]byte("d"), 128<<10), M: map[string]int{"a": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if r.snapshot().byName["deep"].planned != nil {
		t.Fatal("aliasDeep has a struct plan: the test needs a reflective type")
	}
	var c TypeCache
	v, err := r.DecodeNameKept(&c, []byte("*deep"), payload)
	if err != nil {
		t.Fatal(err)
	}
	got := v.(*aliasDeep)
	if len(got.Big) != 128<<10 || got.M["a"] != 1 || !aliases(got.Big, payload) || cap(got.Big) != len(got.Big) {
		t.Fatal("reflective decode of a kept payload did not alias its large []byte")
	}
	v, _ = r.DecodeNameCached(&c, []byte("*deep"), payload)
	if aliases(v.(*aliasDeep).Big, payload) {
		t.Fatal("DecodeNameCached aliased")
	}
}
