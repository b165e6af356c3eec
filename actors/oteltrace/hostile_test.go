package oteltrace_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// rawChild plays a child context with package wire alone, so that a test
// can send the headers a well-behaved Node never would. It is driven from
// the test's goroutine: write a frame, read until the answer.
type rawChild struct {
	t      *testing.T
	conn   net.Conn
	r      *wire.Reader
	id     uint32
	parent uint32
}

func attachRawChild(t *testing.T, parent *actors.Node, name string) *rawChild {
	t.Helper()
	pEnd, peerEnd := net.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := parent.AttachChild(ctxWith(t), name, actors.Transport{R: pEnd, W: pEnd, C: pEnd})
		errc <- err
	}()
	p := &rawChild{t: t, conn: peerEnd, r: wire.NewReader(peerEnd, 1<<20)}
	f, err := p.r.ReadFrame()
	if err != nil || f.Header().Kind() != wire.KindHello {
		t.Fatalf("raw child: parent hello: %v", err)
	}
	hello, err := wire.ParseHello(f.Body())
	if err != nil {
		t.Fatal(err)
	}
	p.id, p.parent = hello.AssignedID, hello.ContextID
	p.write(wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindHello, Dst: p.parent, Src: p.id, Auth: p.id}, nil,
		wire.AppendHello(nil, wire.Hello{ContextID: p.id, Incarnation: uuid.New(), ParentIDs: hello.ParentIDs,
			Name: name, MaxFrame: 1 << 20})))
	if err := <-errc; err != nil {
		t.Fatalf("AttachChild: %v", err)
	}
	t.Cleanup(func() { _ = p.conn.Close() })
	return p
}

func (p *rawChild) write(b []byte) {
	p.t.Helper()
	_ = p.conn.SetWriteDeadline(time.Now().Add(waitLong))
	if _, err := p.conn.Write(b); err != nil {
		p.t.Fatalf("raw child: write: %v", err)
	}
}

// callSeen calls the root's trace.seen with kv as the frame's key/value
// block (written as is, even when malformed) and returns what the handler
// found in its ctx.
func (p *rawChild) callSeen(kv []byte) Seen {
	p.t.Helper()
	var id [16]byte
	_, _ = rand.Read(id[:])
	body := []byte{0}
	body = append(body, id[:]...)
	body = binary.BigEndian.AppendUint64(body, uint64(waitLong))
	body = append(body, byte(len("trace")))
	body = append(body, "trace"...)
	body = append(body, byte(len("seen")))
	body = append(body, "seen"...)
	body = append(body, 0x80) // msgpack: an empty TraceReq
	frame := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindCallService, Dst: p.parent, Src: p.id, Auth: p.id}, kv, body)
	p.write(frame)
	_ = p.conn.SetReadDeadline(time.Now().Add(waitLong))
	for {
		f, err := p.r.ReadFrame()
		if err != nil {
			p.t.Fatalf("raw child: waiting for the reply: %v", err)
		}
		h := f.Header()
		switch h.Kind() {
		case wire.KindPing:
			p.write(wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindPong, Dst: h.Src(), Src: p.id, Auth: p.id}, nil, nil))
		case wire.KindCallReply:
			b := f.Body()
			if len(b) < 17 || !bytes.Equal(b[:16], id[:]) {
				continue
			}
			if b[16] != 0 {
				p.t.Fatalf("call refused: %q", b[17:])
			}
			var s Seen
			if err := msgpack.Unmarshal(b[17:], &s); err != nil {
				p.t.Fatal(err)
			}
			return s
		}
	}
}

func kvOf(t *testing.T, m map[string]string) []byte {
	t.Helper()
	b, err := wire.AppendKV(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const goodParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestHostileChild_TraceHeaders: a child calling the root's service with
// bogus, huge and malformed trace headers never panics the root, never
// makes its handler's ctx carry a span context that is not a valid
// traceparent within the bounds, and the link stays up. (A valid
// traceparent from a child is taken: a child can choose the trace its
// calls' spans join; docs/security.md.)
func TestHostileChild_TraceHeaders(t *testing.T) {
	root := newRoot(t)
	p := attachRawChild(t, root, "hostile")
	huge := strings.Repeat("f", 60000)
	malformed := append(kvOf(t, map[string]string{"traceparent": goodParent}), 11, 't', 'r') // truncated entry after a good one
	many := map[string]string{"traceparent": goodParent}
	for i := range 400 {
		many[strings.Repeat("k", 1+i%200)+string(rune('a'+i/200))] = "v"
	}
	cases := []struct {
		name  string
		kv    []byte
		valid bool
		state string
	}{
		{"valid", kvOf(t, map[string]string{"traceparent": goodParent, "tracestate": "a=1,b=2"}), true, "a=1,b=2"},
		{"huge traceparent", kvOf(t, map[string]string{"traceparent": huge}), false, ""},
		{"huge valid-looking traceparent", kvOf(t, map[string]string{"traceparent": goodParent + "-" + huge}), false, ""},
		{"long version 00 suffix", kvOf(t, map[string]string{"traceparent": goodParent + "-" + strings.Repeat("x", 900)}), false, ""},
		{"version ff", kvOf(t, map[string]string{"traceparent": "ff" + goodParent[2:]}), false, ""},
		{"zero trace ID", kvOf(t, map[string]string{"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}), false, ""},
		{"zero span ID", kvOf(t, map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"}), false, ""},
		{"upper case", kvOf(t, map[string]string{"traceparent": strings.ToUpper(goodParent)}), false, ""},
		{"not hex", kvOf(t, map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01"}), false, ""},
		{"binary", kvOf(t, map[string]string{"traceparent": "\x00\xff\n-\x80"}), false, ""},
		{"huge tracestate dropped", kvOf(t, map[string]string{"traceparent": goodParent, "tracestate": "a=" + huge}), true, ""},
		{"bogus tracestate", kvOf(t, map[string]string{"traceparent": goodParent, "tracestate": ",,=,\x00=\xff"}), true, ""},
		{"many keys", kvOf(t, many), true, ""},
		{"malformed block", malformed, false, ""},
		{"empty value", kvOf(t, map[string]string{"traceparent": ""}), false, ""},
	}
	for _, c := range cases {
		got := p.callSeen(c.kv)
		if got.Valid != c.valid || (c.valid && got.TraceID != goodParent[3:35]) || got.State != c.state {
			t.Errorf("%s: the handler saw %+v; want valid %v, state %q", c.name, got, c.valid, c.state)
		}
	}
	if got := p.callSeen(nil); got.Valid {
		t.Fatalf("no headers: the handler saw %+v", got)
	}
}

// TestHostileChild_TraceHeadersHoldNothing: thousands of calls with the
// largest key/value block a frame can carry (two 32 KiB trace headers)
// leave the root's heap where it was: the core copies out at most
// MaxPropagated values of at most MaxPropagatedValue bytes and frees them
// with the call.
func TestHostileChild_TraceHeadersHoldNothing(t *testing.T) {
	root := newRoot(t)
	p := attachRawChild(t, root, "hostile")
	kv := kvOf(t, map[string]string{"traceparent": goodParent + strings.Repeat("0", 32000), "tracestate": strings.Repeat("a=b,", 8000)})
	p.callSeen(kv) // warm up: pools, caches
	before := heapInUse()
	const calls = 3000
	for range calls {
		if got := p.callSeen(kv); got.Valid {
			t.Fatalf("oversize traceparent taken: %+v", got)
		}
	}
	grew := int64(heapInUse()) - int64(before)
	t.Logf("heap in use %d -> %d bytes after %d calls with a %d-byte kv block", before, heapInUse(), calls, len(kv))
	if grew > 4<<20 {
		t.Fatalf("heap grew by %d bytes over %d calls (%d bytes of headers sent)", grew, calls, calls*len(kv))
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

var _ = context.Background
