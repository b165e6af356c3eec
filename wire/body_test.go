package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestKV_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    map[string]string
	}{
		{"nil", nil},
		{"one", map[string]string{"k": "v"}},
		{"empty value", map[string]string{"k": ""}},
		{"several", map[string]string{"traceparent": "00-abc-01", "b": "2", "a": "1", "ü": "ß"}},
		{"max key and value", map[string]string{strings.Repeat("k", MaxKeyLen): strings.Repeat("v", MaxValueLen-MaxKeyLen-3)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendKV([]byte("x"), tt.m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseKV(b[1:])
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.m) == 0 {
				if got != nil {
					t.Fatalf("got %v, want nil", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.m) {
				t.Fatalf("got %v, want %v", got, tt.m)
			}
			// Deterministic: encoding twice gives the same bytes.
			again, _ := AppendKV(nil, tt.m)
			if !bytes.Equal(again, b[1:]) {
				t.Fatal("encoding is not deterministic")
			}
		})
	}
}

func TestKV_Sorted(t *testing.T) {
	b, _ := AppendKV(nil, map[string]string{"b": "2", "a": "1"})
	if want := []byte{1, 'a', 0, 1, '1', 1, 'b', 0, 1, '2'}; !bytes.Equal(b, want) {
		t.Fatalf("got % x, want % x", b, want)
	}
}

func TestKV_AppendLimits(t *testing.T) {
	tests := []struct {
		name string
		m    map[string]string
	}{
		{"empty key", map[string]string{"": "v"}},
		{"long key", map[string]string{strings.Repeat("k", MaxKeyLen+1): "v"}},
		{"long value", map[string]string{"k": strings.Repeat("v", MaxValueLen+1)}},
		{"block too big", map[string]string{"a": strings.Repeat("v", 40000), "b": strings.Repeat("v", 40000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := AppendKV([]byte("dst"), tt.m)
			if !errors.Is(err, ErrMalformed) || string(out) != "dst" {
				t.Fatalf("AppendKV = %q, %v", out, err)
			}
		})
	}
}

func TestKV_ParseMalformed(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty key", []byte{0, 0, 0}},
		{"truncated key", []byte{3, 'a'}},
		{"truncated vlen", []byte{1, 'a', 0}},
		{"truncated value", []byte{1, 'a', 0, 5, 'x'}},
		{"duplicate", []byte{1, 'a', 0, 0, 1, 'a', 0, 0}},
		{"too long", make([]byte, MaxKVLen+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := ParseKV(tt.b); !errors.Is(err, ErrMalformed) || m != nil {
				t.Fatalf("ParseKV = %v, %v", m, err)
			}
		})
	}
}

func TestHello_RoundTrip(t *testing.T) {
	parents := make([]uint32, MaxParentIDs)
	for i := range parents {
		parents[i] = uint32(i + 1)
	}
	tests := []struct {
		name string
		h    Hello
	}{
		{"child", Hello{ContextID: 5, Incarnation: uuid.New(), MaxFrame: MinMaxFrame}},
		{"parent", Hello{ContextID: 1, AssignedID: 5, Incarnation: uuid.New(), ParentIDs: []uint32{0, 1},
			Name: "web-3", MaxFrame: DefaultMaxFrame, Features: FeatureFDPassing, HeartbeatMS: 1000, TimeoutMS: 5000}},
		{"limits", Hello{ContextID: ^uint32(0), AssignedID: ^uint32(0), ParentIDs: parents,
			Name: strings.Repeat("n", MaxHelloNameLen), MaxFrame: ^uint32(0), Features: ^uint32(0),
			HeartbeatMS: ^uint32(0), TimeoutMS: ^uint32(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.h.Validate(); err != nil {
				t.Fatal(err)
			}
			b := AppendHello(nil, tt.h)
			got, err := ParseHello(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.h) {
				t.Fatalf("got %+v\nwant %+v", got, tt.h)
			}
		})
	}
}

func TestHello_Reject(t *testing.T) {
	good := Hello{ContextID: 1, MaxFrame: MinMaxFrame, Name: "x"}
	tooMany := good
	tooMany.ParentIDs = make([]uint32, MaxParentIDs+1)
	smallFrame := good
	smallFrame.MaxFrame = MinMaxFrame - 1
	longName := good
	longName.Name = strings.Repeat("n", MaxHelloNameLen+1)

	for _, h := range []Hello{tooMany, smallFrame, longName} {
		if err := h.Validate(); !errors.Is(err, ErrMalformed) {
			t.Errorf("Validate(%d parents, max %d, name %d) = %v", len(h.ParentIDs), h.MaxFrame, len(h.Name), err)
		}
	}
	for _, h := range []Hello{tooMany, smallFrame} {
		if _, err := ParseHello(AppendHello(nil, h)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseHello accepted %d parents, max frame %d: %v", len(h.ParentIDs), h.MaxFrame, err)
		}
	}
	// The layout cannot hold a long name: AppendHello cuts it.
	got, err := ParseHello(AppendHello(nil, longName))
	if err != nil || len(got.Name) != MaxHelloNameLen {
		t.Errorf("long name: %d bytes, %v", len(got.Name), err)
	}
	trailing := append(AppendHello(nil, good), 0)
	if _, err := ParseHello(trailing); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte accepted: %v", err)
	}
}

func TestEnvelope_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		e    Envelope
	}{
		{"minimal", Envelope{Target: "a", Type: "T"}},
		{"empty", Envelope{}},
		{"sender", Envelope{Target: "$1/worker", HasSender: true, SenderCtx: 9, SenderID: "$9/client", Type: "*pkg.Msg", Payload: []byte{0x80}}},
		{"long", Envelope{Target: strings.Repeat("t", 300), Type: strings.Repeat("y", MaxNameLen), Payload: make([]byte, 1000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.e.Validate(); err != nil {
				t.Fatal(err)
			}
			b := append(AppendEnvelopeHead(nil, tt.e), tt.e.Payload...)
			got, err := ParseEnvelope(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.e.Payload) == 0 && len(got.Payload) == 0 {
				got.Payload = tt.e.Payload
			}
			if !reflect.DeepEqual(got, tt.e) {
				t.Fatalf("got %+v\nwant %+v", got, tt.e)
			}
		})
	}
}

func TestEnvelope_PayloadAliasesStringsCopied(t *testing.T) {
	b := append(AppendEnvelopeHead(nil, Envelope{Target: "tgt", Type: "T"}), "pay"...)
	e, err := ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] = 'Y'
	for i := range b[:len(b)-3] {
		b[i] = 0
	}
	if string(e.Payload) != "paY" || e.Target != "tgt" || e.Type != "T" {
		t.Fatalf("%+v", e)
	}
}

func TestEnvelope_Malformed(t *testing.T) {
	long := append([]byte{0, 0x80, 0x80, 0x04}, make([]byte, 70000)...) // target length 65536
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown flags", []byte{0x02, 0, 0}},
		{"target too long", long},
		{"varint overflow", []byte{0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"truncated sender ctx", []byte{1, 0, 0, 0}},
		{"missing type", []byte{0, 1, 'a'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseEnvelope(tt.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseEnvelope = %v", err)
			}
		})
	}
	long = AppendEnvelopeHead(nil, Envelope{Target: strings.Repeat("t", MaxNameLen+1)})
	if err := (Envelope{Target: strings.Repeat("t", MaxNameLen+1)}).Validate(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Validate = %v", err)
	}
	if e, err := ParseEnvelope(long); err != nil || len(e.Target) != MaxNameLen {
		t.Fatalf("cut target: %d bytes, %v", len(e.Target), err)
	}
}

func TestDeadReply_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		d    DeadReply
	}{
		{"empty", DeadReply{}},
		{"no route", DeadReply{Target: "$7/w", TargetCtx: 7, Code: DeadUnreachable, Reason: "no route to context 7"}},
		{"sender", DeadReply{Target: "w", TargetCtx: 3, HasSender: true, SenderCtx: 1, SenderID: "$1/c", Reason: "exit status 137"}},
		{"no actor", DeadReply{Target: "w", TargetCtx: 3, Code: DeadNoActor, Reason: "no actor \"w\""}},
		{"rejected", DeadReply{Target: "w", TargetCtx: 3, HasSender: true, SenderID: "c", Code: DeadRejected, Reason: "unknown type"}},
		{"quotes refused frame", DeadReply{TargetCtx: 3, Code: DeadRejected, Reason: "unknown kind 101", Refused: KindCallFunction, RefusedHead: "\x00\x01call-id"}},
		{"quotes empty head", DeadReply{TargetCtx: 3, Code: DeadRejected, Refused: 300, Cause: CauseExit, Detail: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDeadReply(AppendDeadReply(nil, tt.d))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.d {
				t.Fatalf("got %+v\nwant %+v", got, tt.d)
			}
		})
	}
}

func TestDeadCode_String(t *testing.T) {
	for c, want := range map[DeadCode]string{DeadUnreachable: "unreachable", DeadNoActor: "no actor", DeadRejected: "rejected", 9: "DeadCode(9)"} {
		if got := c.String(); got != want {
			t.Errorf("%d: %q, want %q", uint8(c), got, want)
		}
	}
}

func TestDeadReply_CutsLongReason(t *testing.T) {
	reason := strings.Repeat("é", MaxNameLen) // 2 bytes per rune
	d, err := ParseDeadReply(AppendDeadReply(nil, DeadReply{Reason: reason}))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Reason) != MaxNameLen-1 || !strings.HasPrefix(reason, d.Reason) {
		t.Fatalf("reason cut to %d bytes", len(d.Reason))
	}
}

func TestDeadReply_CutsLongRefusedHead(t *testing.T) {
	head := strings.Repeat("h", MaxRefusedHead+10)
	d, err := ParseDeadReply(AppendDeadReply(nil, DeadReply{Refused: KindCallFunction, RefusedHead: head}))
	if err != nil {
		t.Fatal(err)
	}
	if d.RefusedHead != head[:MaxRefusedHead] {
		t.Fatalf("head cut to %d bytes", len(d.RefusedHead))
	}
}

func TestDeadReply_Malformed(t *testing.T) {
	good := AppendDeadReply(nil, DeadReply{Target: "a", Reason: "r"})
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown flags", append([]byte{0x80}, good[1:]...)},
		{"trailing", append(append([]byte(nil), good...), 0)},
		{"unknown code", append([]byte{0, 3}, good[2:]...)},
		{"refused kind zero", append(append([]byte{deadHasRefused}, good[1:]...), 0, 0, 0)},
		{"refused head too long", append(append([]byte{deadHasRefused}, good[1:]...), 0, 101, MaxRefusedHead+1)},
		{"refused head truncated", append(append([]byte{deadHasRefused}, good[1:]...), 0, 101, 5, 'a')},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseDeadReply(tt.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseDeadReply = %v", err)
			}
		})
	}
}

// TestParsers_TruncatedAtEveryPrefix feeds every proper prefix of valid
// encodings to each parser: each must fail with ErrMalformed, not panic.
func TestParsers_TruncatedAtEveryPrefix(t *testing.T) {
	hello := AppendHello(nil, Hello{ContextID: 1, AssignedID: 2, Incarnation: uuid.New(),
		ParentIDs: []uint32{0, 1}, Name: "child", MaxFrame: MinMaxFrame})
	kv, _ := AppendKV(nil, map[string]string{"a": "1", "bb": "22"})
	dead := AppendDeadReply(nil, DeadReply{Target: "t", TargetCtx: 2, HasSender: true, SenderCtx: 3, SenderID: "s", Reason: "why"})
	envHead := AppendEnvelopeHead(nil, Envelope{Target: "t", HasSender: true, SenderCtx: 3, SenderID: "s", Type: "T"})

	parsers := []struct {
		name  string
		full  []byte
		parse func([]byte) error
	}{
		{"hello", hello, func(b []byte) error { _, err := ParseHello(b); return err }},
		{"dead", dead, func(b []byte) error { _, err := ParseDeadReply(b); return err }},
		// The envelope's payload is the rest of the body, so only prefixes
		// shorter than the head must fail.
		{"envelope", envHead, func(b []byte) error { _, err := ParseEnvelope(b); return err }},
		// A kv prefix that ends between entries is a valid smaller block;
		// check the prefixes that cut an entry.
		{"kv entry 1", kv[:5], func(b []byte) error { _, err := ParseKV(b); return err }},
	}
	for _, p := range parsers {
		if err := p.parse(p.full); err != nil {
			t.Fatalf("%s: full input: %v", p.name, err)
		}
		for n := 0; n < len(p.full); n++ {
			if p.name == "kv entry 1" && n == 0 {
				continue // empty block is valid
			}
			err := p.parse(p.full[:n])
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: prefix of %d bytes: %v", p.name, n, err)
			}
		}
	}
	for n := 1; n < len(kv); n++ {
		_, err := ParseKV(kv[:n])
		if valid := n == 5; valid != (err == nil) {
			t.Errorf("kv prefix of %d bytes: %v", n, err)
		}
	}
}
