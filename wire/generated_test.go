package wire

import (
	"errors"
	"reflect"
	"testing"

	"github.com/spindle-go/spindle/internal/msgptest"
)

// reflSmall is msgptest.Small without generated methods: the reflective
// peer of the same wire type.
type reflSmall struct {
	ID    int64
	Name  string
	Value float64
	Tags  []string
	Blob  []byte
}

// spyCount has hand-written msgp-style methods that count their calls.
type spyCount struct{ N int }

var spyMarshals, spyUnmarshals int

func (s *spyCount) MarshalMsg(b []byte) ([]byte, error) {
	spyMarshals++
	return (&msgptest.Count{N: s.N}).MarshalMsg(b)
}

func (s *spyCount) UnmarshalMsg(b []byte) ([]byte, error) {
	spyUnmarshals++
	var c msgptest.Count
	rest, err := c.UnmarshalMsg(b)
	s.N = c.N
	return rest, err
}

func genAndRefl(t *testing.T) (gen, refl *Registry) {
	t.Helper()
	gen, refl = NewRegistry(), NewRegistry()
	MustRegister[msgptest.Small](gen, "test.Small")
	MustRegister[reflSmall](refl, "test.Small")
	return gen, refl
}

// TestGenerated_InteroperatesWithReflective: a peer with generated codecs
// and a reflective peer of the same wire type understand each other, in
// both directions.
func TestGenerated_InteroperatesWithReflective(t *testing.T) {
	gen, refl := genAndRefl(t)
	g := &msgptest.Small{ID: -7, Name: "seven", Value: 7.5, Tags: []string{"a", "b"}, Blob: []byte{1, 2, 3}}
	r := &reflSmall{ID: -7, Name: "seven", Value: 7.5, Tags: []string{"a", "b"}, Blob: []byte{1, 2, 3}}

	name, payload, err := gen.AppendEncode(nil, g)
	if err != nil {
		t.Fatal(err)
	}
	got, err := refl.Decode(name, payload)
	if err != nil {
		t.Fatalf("reflective decode of a generated payload: %v", err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("generated -> reflective: got %+v, want %+v", got, r)
	}

	name, payload, err = refl.AppendEncode(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err = gen.Decode(name, payload)
	if err != nil {
		t.Fatalf("generated decode of a reflective payload: %v", err)
	}
	if !reflect.DeepEqual(got, g) {
		t.Fatalf("reflective -> generated: got %+v, want %+v", got, g)
	}
}

// TestGenerated_NilFieldsFromReflective: a reflective peer writes nil
// slices as msgpack nil, which msgp's generated decoders refuse for a
// []byte or []string field; such a payload still decodes (reflectively).
func TestGenerated_NilFieldsFromReflective(t *testing.T) {
	gen, refl := genAndRefl(t)
	name, payload, err := refl.AppendEncode(nil, &reflSmall{ID: 3, Name: "nil fields"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := gen.Decode(name, payload)
	if err != nil {
		t.Fatalf("generated peer, reflective payload with nil slices: %v", err)
	}
	if g := got.(*msgptest.Small); g.ID != 3 || g.Name != "nil fields" || len(g.Tags) != 0 || len(g.Blob) != 0 {
		t.Fatalf("got %+v", g)
	}
}

// TestGenerated_EncodedWithDescriptorsPath: AppendPayloadFDs, the encoder of
// every actor message, uses a generated MarshalMsg too.
func TestGenerated_EncodedWithDescriptorsPath(t *testing.T) {
	reg := NewRegistry()
	MustRegister[spyCount](reg, "test.Spy")
	spyMarshals = 0
	payload, fds, err := reg.AppendPayloadFDs(nil, &spyCount{N: 5})
	if err != nil || fds != nil {
		t.Fatalf("AppendPayloadFDs: %v, %d descriptors", err, len(fds))
	}
	if spyMarshals != 1 {
		t.Fatalf("generated MarshalMsg called %d times, want 1", spyMarshals)
	}
	got, err := reg.Decode("*test.Spy", payload)
	if err != nil || got.(*spyCount).N != 5 {
		t.Fatalf("decode: %v %v", got, err)
	}
}

// TestGenerated_MethodsUsed: a type with msgp-style methods is encoded and
// decoded by them, as *T and as T.
func TestGenerated_MethodsUsed(t *testing.T) {
	reg := NewRegistry()
	MustRegister[spyCount](reg, "test.Spy")
	spyMarshals, spyUnmarshals = 0, 0
	name, payload, err := reg.AppendEncode(nil, &spyCount{N: 3})
	if err != nil {
		t.Fatal(err)
	}
	got, err := reg.Decode(name, payload)
	if err != nil || got.(*spyCount).N != 3 {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if _, err := reg.Decode("test.Spy", payload); err != nil {
		t.Fatal(err)
	}
	if spyMarshals != 1 || spyUnmarshals != 2 {
		t.Fatalf("generated methods called %d/%d times, want 1/2", spyMarshals, spyUnmarshals)
	}
}

// TestGenerated_NilPointer: a nil *T with generated methods travels as
// msgpack nil and decodes to a nil *T, as the reflective path does.
func TestGenerated_NilPointer(t *testing.T) {
	gen, _ := genAndRefl(t)
	name, payload, err := gen.AppendEncode(nil, (*msgptest.Small)(nil))
	if err != nil {
		t.Fatal(err)
	}
	got, err := gen.Decode(name, payload)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := got.(*msgptest.Small); !ok || p != nil {
		t.Fatalf("got %#v, want a nil *msgptest.Small", got)
	}
}

// TestGenerated_HostilePayloads: generated decoding keeps the reflective
// path's guards: a lying length, trailing bytes and garbage are
// ErrBadPayload, and a declared length cannot make it allocate.
func TestGenerated_HostilePayloads(t *testing.T) {
	gen, _ := genAndRefl(t)
	good, err := gen.AppendPayload(nil, &msgptest.Small{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	lying := []byte{0x81, 0xa4, 'T', 'a', 'g', 's', 0xdd, 0xff, 0xff, 0xff, 0xff} // Tags: array of 2^32-1
	cases := map[string][]byte{
		"lying array length": lying,
		"trailing bytes":     append(append([]byte(nil), good...), 0x01),
		"not a map":          {0xa3, 'a', 'b', 'c'},
		"truncated":          good[:len(good)-1],
		"empty":              {},
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			// AllocsPerRun counts every goroutine's mallocs; over 500 runs a
			// stray goroutine of an earlier test (or the race runtime) adds
			// well under one per run, where 10 runs once let it through.
			allocs := testing.AllocsPerRun(500, func() { _, _ = gen.Decode("*test.Small", payload) })
			if _, err := gen.Decode("*test.Small", payload); !errors.Is(err, ErrBadPayload) {
				t.Fatalf("Decode: %v, want ErrBadPayload", err)
			}
			if allocs > 20 {
				t.Fatalf("%v allocations for a hostile payload", allocs)
			}
		})
	}
}
