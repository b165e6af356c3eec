package wire

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// planExtEnc is a flat struct that msgpack writes as an extension (an
// encoder registered with msgpack, which the plan cannot see from the
// type): its plan is built at Register but disagrees with msgpack.
type planExtEnc struct{ N int }

func init() {
	msgpack.RegisterExtEncoder(77, planExtEnc{}, func(_ *msgpack.Encoder, v reflect.Value) ([]byte, error) {
		return []byte{byte(v.Field(0).Int())}, nil
	})
}

// TestStructPlan_CheckedAtFirstUse: the check that a plan writes what
// msgpack writes runs at the plan's first use, not at Register; a plan
// that disagrees is never used, on either path, and the bytes are
// msgpack's.
func TestStructPlan_CheckedAtFirstUse(t *testing.T) {
	r := NewRegistry()
	MustRegister[planExtEnc](r, "t.ext")
	MustRegister[planAll](r, "t.all")
	for _, name := range []string{"t.ext", "t.all"} {
		if rt := r.snapshot().byName[name]; rt.planned == nil {
			t.Fatalf("%s: no plan at Register", name)
		}
	}
	want, err := msgpack.Marshal(&planExtEnc{N: 5})
	if err != nil {
		t.Fatal(err)
	}
	e, err := r.EncodingOf(&planExtEnc{N: 5})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := e.AppendPlanned(nil, &planExtEnc{N: 5}); ok {
		t.Fatalf("a disagreeing plan encoded %x (msgpack: %x)", got, want)
	}
	got, err := r.AppendPayload(nil, &planExtEnc{N: 5})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("payload %x, %v; msgpack writes %x", got, err, want)
	}
	if _, ok := r.snapshot().byName["t.ext"].planned(want, true, false); ok {
		t.Fatal("a disagreeing plan decoded")
	}
	all := &planAll{I: 3, S: "x"}
	e, _ = r.EncodingOf(all)
	got, ok := e.AppendPlanned(nil, all)
	if want, _ := msgpack.Marshal(all); !ok || !bytes.Equal(got, want) {
		t.Fatalf("agreeing plan: %x %v, msgpack %x", got, ok, want)
	}
}
