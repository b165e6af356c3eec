package wire

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// FuzzStructPlan: whatever bytes arrive for a type with a struct plan, the
// registry's decode (the plan, or the reflective decoder it falls back to)
// gives what vmihailenco/msgpack's reflective decoder gives: the same
// value, or an error in both.
func FuzzStructPlan(f *testing.F) {
	reg := NewRegistry()
	MustRegister[planAll](reg, "t.all")
	r := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		p, err := msgpack.Marshal(randPlanAll(r))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Add([]byte{0x80})
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, p []byte) {
		got, gotErr := reg.Decode("t.all", p)
		want := reflect.New(reflect.TypeFor[planAll]())
		wantErr := decodeInto(p, want.Interface(), "t.all")
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("payload %x: plan error %v, reflective %v", p, gotErr, wantErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got, want.Elem().Interface()) {
			t.Fatalf("payload %x:\nplan       %#v\nreflective %#v", p, got, want.Elem().Interface())
		}
	})
}
