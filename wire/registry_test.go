package wire

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spindle-go/spindle/internal/msgptest"
)

type testMsg struct {
	ID   int
	Name string
	Tags []string
}

type testOther struct{ X float64 }

type testAny struct {
	V any
	M map[string]any
}

func newTestRegistry(t testing.TB) *Registry {
	t.Helper()
	r := NewRegistry()
	MustRegister[testMsg](r, "test.Msg")
	MustRegister[testOther](r, "test.Other")
	MustRegister[testAny](r, "test.Any")
	MustRegister[string](r, "string")
	MustRegister[[]int](r, "ints")
	MustRegister[time.Duration](r, "duration")
	return r
}

func TestRegistry_RoundTrip(t *testing.T) {
	r := newTestRegistry(t)
	tests := []struct {
		name     string
		msg      any
		wireName string
	}{
		{"value", testMsg{ID: 7, Name: "seven", Tags: []string{"a", "b"}}, "test.Msg"},
		{"pointer", &testMsg{ID: 8, Name: "eight"}, "*test.Msg"},
		{"nil pointer", (*testMsg)(nil), "*test.Msg"},
		{"zero", testMsg{}, "test.Msg"},
		{"other", testOther{X: 1.5}, "test.Other"},
		{"string", "hello", "string"},
		{"slice", []int{1, 2, 3}, "ints"},
		{"named int", 3 * time.Second, "duration"},
		{"any fields", testAny{V: "s", M: map[string]any{"k": int8(1)}}, "test.Any"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, b, err := r.AppendEncode([]byte("head"), tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if name != tt.wireName || !bytes.HasPrefix(b, []byte("head")) {
				t.Fatalf("name %q, out %q", name, b)
			}
			if n, err := r.TypeName(tt.msg); n != name || err != nil {
				t.Fatalf("Name = %q, %v", n, err)
			}
			got, err := r.Decode(name, b[4:])
			if err != nil {
				t.Fatal(err)
			}
			if reflect.TypeOf(got) != reflect.TypeOf(tt.msg) {
				t.Fatalf("decoded a %T, want %T", got, tt.msg)
			}
			if !reflect.DeepEqual(got, tt.msg) {
				t.Fatalf("got %#v, want %#v", got, tt.msg)
			}
		})
	}
}

func TestRegistry_UnregisteredNamesGoType(t *testing.T) {
	r := newTestRegistry(t)
	type unknownMsg struct{}
	tests := []struct {
		msg  any
		want string
	}{
		{unknownMsg{}, "wire: unregistered message type wire.unknownMsg"},
		{&unknownMsg{}, "wire: unregistered message type *wire.unknownMsg"},
		{42, "wire: unregistered message type int"},
		{nil, "wire: unregistered message type <nil>"},
	}
	for _, tt := range tests {
		name, out, err := r.AppendEncode([]byte("dst"), tt.msg)
		if !errors.Is(err, ErrUnregistered) || err.Error() != tt.want {
			t.Errorf("AppendEncode(%T) error %q, want %q", tt.msg, err, tt.want)
		}
		if name != "" || string(out) != "dst" {
			t.Errorf("AppendEncode(%T) = %q, %q", tt.msg, name, out)
		}
	}
}

func TestRegistry_Register(t *testing.T) {
	r := NewRegistry()
	if err := Register[testMsg](r, "test.Msg"); err != nil {
		t.Fatal(err)
	}
	if err := Register[testMsg](r, "test.Msg"); err != nil {
		t.Fatalf("same registration twice: %v", err)
	}
	dup := []struct {
		name string
		reg  func() error
	}{
		{"name taken", func() error { return Register[testOther](r, "test.Msg") }},
		{"type under another name", func() error { return Register[testMsg](r, "test.Msg2") }},
	}
	for _, d := range dup {
		if err := d.reg(); !errors.Is(err, ErrDuplicateType) {
			t.Errorf("%s: %v", d.name, err)
		}
	}
	invalid := []struct {
		name string
		reg  func() error
	}{
		{"pointer", func() error { return Register[*testOther](r, "p") }},
		{"interface", func() error { return Register[error](r, "e") }},
		{"empty name", func() error { return Register[testOther](r, "") }},
		{"star name", func() error { return Register[testOther](r, "*x") }},
		{"long name", func() error { return Register[testOther](r, strings.Repeat("n", MaxNameLen)) }},
	}
	for _, d := range invalid {
		if err := d.reg(); err == nil || errors.Is(err, ErrDuplicateType) {
			t.Errorf("%s: %v", d.name, err)
		}
	}
	if got := r.Names(); !reflect.DeepEqual(got, []string{"test.Msg"}) {
		t.Errorf("Names = %v", got)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("MustRegister did not panic")
			}
		}()
		MustRegister[testOther](r, "test.Msg")
	}()
}

func TestRegistry_Names(t *testing.T) {
	r := newTestRegistry(t)
	want := []string{"duration", "ints", "string", "test.Any", "test.Msg", "test.Other"}
	if got := r.Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Names = %v", got)
	}
}

func TestRegistry_DecodeErrors(t *testing.T) {
	r := newTestRegistry(t)
	_, good, _ := r.AppendEncode(nil, testMsg{ID: 1, Name: "x"})
	tests := []struct {
		name    string
		typ     string
		payload []byte
		want    error
	}{
		{"unknown name", "nope", good, ErrUnknownType},
		{"empty name", "", good, ErrUnknownType},
		{"star only", "*", good, ErrUnknownType},
		{"empty payload", "test.Msg", nil, ErrBadPayload},
		{"truncated", "test.Msg", good[:len(good)-1], ErrBadPayload},
		{"trailing", "test.Msg", append(append([]byte(nil), good...), 0xc0), ErrBadPayload},
		{"wrong shape", "test.Msg", []byte{0xa1, 'x'}, ErrBadPayload},
		{"reserved code", "string", []byte{0xc1}, ErrBadPayload},
		{"huge array", "ints", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, ErrBadPayload},
		{"huge string", "string", []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, ErrBadPayload},
		{"huge map", "test.Any", []byte{0xdf, 0x7f, 0xff, 0xff, 0xff}, ErrBadPayload},
		// msgpack v5.4.1 panics on a duplicate key whose first value went
		// into an interface field (upstream vmihailenco/msgpack#373):
		// Decode's recover turns that into an error.
		{"msgpack panic", "test.Any", []byte("\x82\xa1V0\xa1V0"), ErrBadPayload},
		{"deep nesting", "test.Any", append([]byte{0x81, 0xa1, 'V'}, bytes.Repeat([]byte{0x91}, 100000)...), ErrBadPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := r.Decode(tt.typ, tt.payload)
			if !errors.Is(err, tt.want) || v != nil {
				t.Fatalf("Decode = %v, %v; want %v", v, err, tt.want)
			}
		})
	}
	_, err := r.Decode("nope", good)
	if err.Error() != `wire: unknown message type "nope"` {
		t.Fatalf("error %q", err)
	}
}

func TestRegistry_Concurrent(t *testing.T) {
	r := newTestRegistry(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				msg := &testMsg{ID: g*1000 + i}
				name, b, err := r.AppendEncode(nil, msg)
				if err != nil {
					t.Error(err)
					return
				}
				v, err := r.Decode(name, b)
				if err != nil || v.(*testMsg).ID != msg.ID {
					t.Errorf("round trip %d: %v %v", msg.ID, v, err)
					return
				}
				if i == 100 {
					_ = r.Names()
					_ = Register[testMsg](r, "test.Msg")
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestMarshalUnmarshal(t *testing.T) {
	in := map[string]any{"op": "watch", "n": int8(3)}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("got %#v", out)
	}
	for _, bad := range [][]byte{nil, {0xc1}, append(b, 0), b[:len(b)-1]} {
		if err := Unmarshal(bad, &out); !errors.Is(err, ErrBadPayload) {
			t.Errorf("Unmarshal(% x) = %v", bad, err)
		}
	}
	if err := Unmarshal(b, nil); !errors.Is(err, ErrBadPayload) {
		t.Errorf("Unmarshal into nil = %v", err)
	}
}

func TestCheckMsgpack(t *testing.T) {
	valid := []any{nil, true, 1, -1, 300, -300, 1 << 40, 1.5, float32(2.5), "s", strings.Repeat("x", 300),
		[]byte{1, 2}, []any{1, "a", nil}, map[string]any{"a": []any{map[string]any{}}},
		time.Unix(1, 2), make([]byte, 70000), strings.Repeat("y", 70000)}
	for _, v := range valid {
		b, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkMsgpack(b); err != nil {
			t.Errorf("checkMsgpack(%T % x...) = %v", v, b[:min(len(b), 8)], err)
		}
		for n := 0; n < len(b); n++ {
			if checkMsgpack(b[:n]) == nil {
				t.Errorf("checkMsgpack accepted a %d-byte prefix of %T", n, v)
			}
		}
	}
	nested := func(depth int) []byte {
		return append(bytes.Repeat([]byte{0x91}, depth), 0xc0)
	}
	if err := checkMsgpack(nested(maxPayloadDepth)); err != nil {
		t.Errorf("depth %d: %v", maxPayloadDepth, err)
	}
	if err := checkMsgpack(nested(maxPayloadDepth + 1)); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("depth %d: %v", maxPayloadDepth+1, err)
	}
	var v any
	if err := Unmarshal(nested(maxPayloadDepth), &v); err != nil {
		t.Errorf("decode at max depth: %v", err)
	}
	// Every single-byte code: either valid alone or an error, never a panic.
	for c := 0; c < 256; c++ {
		_ = checkMsgpack([]byte{byte(c)})
		_ = checkMsgpack([]byte{byte(c), 0xff, 0xff, 0xff, 0xff, 0xff})
	}
}

// TestTypeCache_FollowsRegistry: a cached lookup decodes what an uncached
// one does, across more names than the cache holds, and sees a type
// registered after the cache was filled; unknown names stay errors.
func TestTypeCache_FollowsRegistry(t *testing.T) {
	type a struct{ N int }
	type b struct{ S string }
	reg := NewRegistry()
	MustRegister[a](reg, "t.a")
	MustRegister[b](reg, "t.b")
	pa, _ := reg.AppendPayload(nil, &a{N: 7})
	pb, _ := reg.AppendPayload(nil, &b{S: "x"})
	var c TypeCache
	for i := 0; i < 3; i++ {
		for _, name := range []string{"t.a", "*t.a", "t.b", "*t.b", "t.a"} {
			p := pa
			if name[len(name)-1] == 'b' {
				p = pb
			}
			want, werr := reg.DecodeName([]byte(name), p)
			got, err := reg.DecodeNameCached(&c, []byte(name), p)
			if werr != nil || err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: cached %#v %v, uncached %#v %v", name, got, err, want, werr)
			}
		}
	}
	if _, err := reg.DecodeNameCached(&c, []byte("t.c"), pa); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("unknown name: %v", err)
	}
	type cc struct{ N int }
	MustRegister[cc](reg, "t.c")
	got, err := reg.DecodeNameCached(&c, []byte("*t.c"), pa)
	if err != nil || got.(*cc).N != 7 {
		t.Fatalf("after Register: %#v %v", got, err)
	}
}

func BenchmarkDecodeNameCached(b *testing.B) {
	reg := NewRegistry() // a generated type: the lookup is a larger share
	MustRegister[msgptest.Count](reg, "bench.Tick")
	p, _ := reg.AppendPayload(nil, &msgptest.Count{N: 1})
	name := []byte("*bench.Tick")
	b.Run("map", func(b *testing.B) {
		for range b.N {
			_, _ = reg.DecodeName(name, p)
		}
	})
	b.Run("cached", func(b *testing.B) {
		var c TypeCache
		for range b.N {
			_, _ = reg.DecodeNameCached(&c, name, p)
		}
	})
}

// TestRegistry_RegisterWhileDecoding: types registered while other
// goroutines encode and decode are visible to the registering goroutine as
// soon as Register returns, and to every lookup after that; the lookups of
// types registered before never fail meanwhile.
func TestRegistry_RegisterWhileDecoding(t *testing.T) {
	r := newTestRegistry(t)
	regs := []func() error{
		func() error { return Register[burst0](r, "burst.0") }, func() error { return Register[burst1](r, "burst.1") },
		func() error { return Register[burst2](r, "burst.2") }, func() error { return Register[burst3](r, "burst.3") },
	}
	msgs := []any{&burst0{N: 1}, &burst1{N: 2}, &burst2{N: 3}, &burst3{N: 4}}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() { // lookups of a type registered before
			defer wg.Done()
			var c TypeCache
			for {
				select {
				case <-stop:
					return
				default:
				}
				name, b, err := r.AppendEncode(nil, &testMsg{ID: 7})
				if err == nil {
					_, err = r.DecodeNameCached(&c, []byte(name), b)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var regWG sync.WaitGroup
	for i := range regs {
		regWG.Add(1)
		go func() {
			defer regWG.Done()
			if err := regs[i](); err != nil {
				t.Error(err)
				return
			}
			name, b, err := r.AppendEncode(nil, msgs[i])
			if err != nil {
				t.Errorf("type %d just registered: %v", i, err)
				return
			}
			if v, err := r.Decode(name, b); err != nil || !reflect.DeepEqual(v, msgs[i]) {
				t.Errorf("type %d just registered: %#v %v", i, v, err)
			}
		}()
	}
	regWG.Wait()
	close(stop)
	wg.Wait()
	for _, want := range []string{"burst.0", "burst.1", "burst.2", "burst.3"} {
		if !slices.Contains(r.Names(), want) {
			t.Fatalf("Names %v lacks %s", r.Names(), want)
		}
	}
}

type (
	burst0 struct{ N int }
	burst1 struct{ N int }
	burst2 struct{ N int }
	burst3 struct{ N int }
)

// TestRegistry_BurstCopiesOnce bounds the memory a node's setup spends on
// registering many types in a row: the maps are copied once per burst, at
// the next lookup, not once per type (which made 64 registrations allocate
// 15 KB per type, 0.96 MB in all: a child context's heap, for nothing).
func TestRegistry_BurstCopiesOnce(t *testing.T) {
	r := NewRegistry()
	regs := burstRegistrations()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, reg := range regs {
		if err := reg(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.TypeName(burstT[[5]byte]{}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	perType := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(regs))
	t.Logf("%.0f bytes per type", perType)
	if perType > 6<<10 {
		t.Fatalf("registering %d types allocated %.0f bytes per type, want under 6 KiB", len(regs), perType)
	}
	if got := len(r.Names()); got != len(regs) {
		t.Fatalf("%d names, want %d", got, len(regs))
	}
}

type burstT[A any] struct {
	N int
	A A
}

// regBurst registers burstT[A] under a name of its own.
func regBurst[A any](r *Registry) error {
	return Register[burstT[A]](r, fmt.Sprintf("burst.%T", *new(A)))
}

// burstRegistrations registers 64 distinct types.
func burstRegistrations() []func(*Registry) error {
	return []func(*Registry) error{
		regBurst[[0]byte], regBurst[[1]byte], regBurst[[2]byte], regBurst[[3]byte], regBurst[[4]byte], regBurst[[5]byte], regBurst[[6]byte], regBurst[[7]byte], regBurst[[8]byte], regBurst[[9]byte], regBurst[[10]byte], regBurst[[11]byte], regBurst[[12]byte], regBurst[[13]byte], regBurst[[14]byte], regBurst[[15]byte], regBurst[[16]byte], regBurst[[17]byte], regBurst[[18]byte], regBurst[[19]byte], regBurst[[20]byte], regBurst[[21]byte], regBurst[[22]byte], regBurst[[23]byte], regBurst[[24]byte], regBurst[[25]byte], regBurst[[26]byte], regBurst[[27]byte], regBurst[[28]byte], regBurst[[29]byte], regBurst[[30]byte], regBurst[[31]byte], regBurst[[32]byte], regBurst[[33]byte], regBurst[[34]byte], regBurst[[35]byte], regBurst[[36]byte], regBurst[[37]byte], regBurst[[38]byte], regBurst[[39]byte], regBurst[[40]byte], regBurst[[41]byte], regBurst[[42]byte], regBurst[[43]byte], regBurst[[44]byte], regBurst[[45]byte], regBurst[[46]byte], regBurst[[47]byte], regBurst[[48]byte], regBurst[[49]byte], regBurst[[50]byte], regBurst[[51]byte], regBurst[[52]byte], regBurst[[53]byte], regBurst[[54]byte], regBurst[[55]byte], regBurst[[56]byte], regBurst[[57]byte], regBurst[[58]byte], regBurst[[59]byte], regBurst[[60]byte], regBurst[[61]byte], regBurst[[62]byte], regBurst[[63]byte],
	}
}
