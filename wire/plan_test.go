package wire

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// planAll has a field of every kind a struct plan handles.
type planAll struct {
	B    bool
	I    int
	I8   int8
	I16  int16
	I32  int32
	I64  int64
	U    uint
	U8   uint8
	U16  uint16
	U32  uint32
	U64  uint64
	F32  float32
	F64  float64
	S    string
	Blob []byte
	Tag  string `msgpack:"renamed"`
	Skip int    `msgpack:"-"`
	priv int
}

type planEmpty struct{}

type planMany struct {
	A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16 int
}

// Types that keep the reflective path.
type (
	planOmit struct {
		N int `msgpack:",omitempty"`
	}
	planNamed struct{ D time.Duration }
	planEmbed struct{ planEmpty }
	planSlice struct{ L []int }
	planArray struct {
		_msgpack struct{} `msgpack:",as_array"`
		N        int
	}
	planCustom struct{ N int }
)

func (planCustom) MarshalMsgpack() ([]byte, error) { return []byte{0x01}, nil }
func (*planCustom) UnmarshalMsgpack([]byte) error  { return nil }

func TestStructPlan_WhichTypes(t *testing.T) {
	for _, tt := range []struct {
		t    reflect.Type
		want bool
	}{
		{reflect.TypeFor[planAll](), true},
		{reflect.TypeFor[planEmpty](), true},
		{reflect.TypeFor[planMany](), true},
		{reflect.TypeFor[planOmit](), false},
		{reflect.TypeFor[planNamed](), false},
		{reflect.TypeFor[planEmbed](), false},
		{reflect.TypeFor[planSlice](), false},
		{reflect.TypeFor[planArray](), false},
		{reflect.TypeFor[planCustom](), false},
		{reflect.TypeFor[int](), false},
		{reflect.TypeFor[testAny](), false},
	} {
		if got := newStructPlan(tt.t) != nil; got != tt.want {
			t.Errorf("%v: plan %v, want %v", tt.t, got, tt.want)
		}
	}
}

// randPlanAll returns a planAll with fields drawn to cover every size of
// encoding.
func randPlanAll(r *rand.Rand) *planAll {
	pick := func(vals ...int64) int64 { return vals[r.IntN(len(vals))] }
	ints := []int64{0, 1, -1, 31, -32, -33, 127, 128, -128, -129, 255, 256, 32767, -32768, 65535, 65536,
		math.MaxInt32, math.MinInt32, math.MaxInt32 + 1, math.MinInt32 - 1, math.MaxInt64, math.MinInt64}
	str := func() string { return strings.Repeat("s", int(pick(0, 1, 31, 32, 255, 256, 70000))) }
	var blob []byte
	switch r.IntN(3) {
	case 1:
		blob = []byte{}
	case 2:
		blob = bytes.Repeat([]byte{7}, int(pick(1, 255, 256, 70000)))
	}
	i := pick(ints...)
	return &planAll{
		B: r.IntN(2) == 1, I: int(i), I8: int8(i), I16: int16(i), I32: int32(i), I64: i,
		U: uint(i), U8: uint8(i), U16: uint16(i), U32: uint32(i), U64: uint64(i),
		F32: float32(i) / 3, F64: float64(i) / 7, S: str(), Blob: blob, Tag: str(),
	}
}

// TestStructPlan_EncodesAsMsgpack: the plan writes the bytes of
// vmihailenco/msgpack's encoder, so peers cannot tell the two apart.
func TestStructPlan_EncodesAsMsgpack(t *testing.T) {
	reg := NewRegistry()
	MustRegister[planAll](reg, "t.all")
	MustRegister[planEmpty](reg, "t.empty")
	MustRegister[planMany](reg, "t.many")
	r := rand.New(rand.NewPCG(1, 2))
	check := func(msg any) {
		t.Helper()
		e, err := reg.EncodingOf(msg)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := e.AppendPlanned([]byte("head"), msg)
		want, err := msgpack.Marshal(msg)
		if !ok || err != nil || !bytes.Equal(got[4:], want) || string(got[:4]) != "head" {
			t.Fatalf("%T: plan %v %x\nmsgpack %v %x", msg, ok, got, err, want)
		}
	}
	for range 2000 {
		v := randPlanAll(r)
		check(v)
		check(*v)
	}
	check((*planAll)(nil))
	check(&planEmpty{})
	check(planEmpty{})
	check(&planMany{A3: 3, A16: -1000})
}

// TestStructPlan_DecodesAsMsgpack: whatever the payload, decoding a
// planned type gives what the reflective decoder gives (value or error),
// for msgpack's own encodings and for mutations of them.
func TestStructPlan_DecodesAsMsgpack(t *testing.T) {
	reg := NewRegistry()
	MustRegister[planAll](reg, "t.all")
	if reg.snapshot().byName["t.all"].planned == nil {
		t.Fatal("planAll has no plan")
	}
	r := rand.New(rand.NewPCG(3, 4))
	planned := 0
	for i := range 20000 {
		p, err := msgpack.Marshal(randPlanAll(r))
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			p = mutate(r, p)
		}
		for _, name := range []string{"t.all", "*t.all"} {
			got, gotErr := reg.Decode(name, p)
			want := reflect.New(reflect.TypeFor[planAll]())
			wantErr := decodeInto(p, want.Interface(), name)
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("payload %x: plan error %v, reflective %v", p, gotErr, wantErr)
			}
			if wantErr != nil {
				continue
			}
			w := want.Interface()
			if name == "t.all" {
				w = want.Elem().Interface()
			}
			if !reflect.DeepEqual(got, w) {
				t.Fatalf("payload %x:\nplan       %#v\nreflective %#v", p, got, w)
			}
		}
		if _, ok := reg.snapshot().byName["t.all"].planned(p, false, false); ok {
			planned++
		}
	}
	if planned < 5000 {
		t.Fatalf("the plan read only %d of 20000 payloads", planned)
	}
}

// mutate changes a few bytes of p, or cuts it, or appends to it.
func mutate(r *rand.Rand, p []byte) []byte {
	p = append([]byte(nil), p...)
	switch r.IntN(4) {
	case 0:
		return p[:r.IntN(len(p))]
	case 1:
		return append(p, byte(r.IntN(256)))
	}
	for range 1 + r.IntN(3) {
		p[r.IntN(len(p))] = byte(r.IntN(256))
	}
	return p
}

// TestStructPlan_ReflectivePeer: a payload another encoder writes in a
// form the plan does not read (an array, a nil, a widened number, an
// unknown field) decodes as the reflective decoder reads it.
func TestStructPlan_ReflectivePeer(t *testing.T) {
	reg := NewRegistry()
	type small struct {
		N int8
		S string
		B []byte
	}
	MustRegister[small](reg, "t.small")
	for _, tt := range []struct {
		name    string
		payload []byte
		want    small
	}{
		{"array", []byte{0x93, 0x05, 0xa1, 'x', 0xc0}, small{N: 5, S: "x"}},
		{"nil string and bytes", []byte{0x82, 0xa1, 'S', 0xc0, 0xa1, 'B', 0xc0}, small{}},
		{"empty bytes", []byte{0x81, 0xa1, 'B', 0xc4, 0x00}, small{B: []byte{}}},
		{"wider int", []byte{0x81, 0xa1, 'N', 0xd3, 0, 0, 0, 0, 0, 0, 0, 9}, small{N: 9}},
		{"int8 wrapped", []byte{0x81, 0xa1, 'N', 0xd1, 0x01, 0x02}, small{N: 2}},
		{"unknown field", []byte{0x82, 0xa1, 'X', 0x91, 0x01, 0xa1, 'N', 0x02}, small{N: 2}},
		{"string as bin", []byte{0x81, 0xa1, 'S', 0xc4, 0x01, 'y'}, small{S: "y"}},
	} {
		got, err := reg.Decode("t.small", tt.payload)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %#v %v, want %#v", tt.name, got, err, tt.want)
		}
	}
}

func BenchmarkStructPlan(b *testing.B) {
	for _, planned := range []bool{false, true} {
		r := NewRegistry()
		MustRegister[benchMsg](r, "bench.Msg")
		MustRegister[planEmpty](r, "bench.Tick")
		if !planned { // as before the plan
			m := r.snapshot()
			for k, v := range m.byName {
				v.planned = nil
				m.byName[k] = v
			}
			for k, v := range m.byType {
				v.enc = nil
				m.byType[k] = v
			}
		}
		suffix := map[bool]string{false: "/reflective", true: "/planned"}[planned]
		for _, msg := range []any{&benchMsg{ID: 42, Name: "forty-two", Value: 4.2}, &planEmpty{}} {
			name, payload, _ := r.AppendEncode(nil, msg)
			b.Run("encode/"+name+suffix, func(b *testing.B) {
				b.ReportAllocs()
				buf := make([]byte, 0, 256)
				for range b.N {
					_, buf, _ = r.AppendEncode(buf[:0], msg)
				}
			})
			b.Run("decode/"+name+suffix, func(b *testing.B) {
				b.ReportAllocs()
				var c TypeCache
				for range b.N {
					if _, err := r.DecodeNameCached(&c, []byte(name), payload); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
