package calls_test

// A raw peer plays a child context with package wire alone, so that
// hostile-child tests can send what a well-behaved Node never would.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

type rawPeer struct {
	t      testing.TB
	conn   net.Conn
	id     uint32
	parent uint32
	link   *actors.ChildLink

	mu      sync.Mutex
	frames  [][]byte
	readErr error
	signal  chan struct{}
	done    chan struct{}
}

// rawError mirrors the msgpack body of an error reply (calls.wireError).
type rawError struct {
	Code string
	Msg  string
	Name string
	Data []byte
}

// attachRaw attaches a raw peer as a child of parent, with a correct
// handshake.
func attachRaw(t testing.TB, parent *actors.Node, name string) *rawPeer {
	t.Helper()
	pEnd, peerEnd := net.Pipe()
	type res struct {
		l   *actors.ChildLink
		err error
	}
	ch := make(chan res, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		l, err := parent.AttachChild(ctx, name, actors.Transport{R: pEnd, W: pEnd, C: pEnd})
		ch <- res{l, err}
	}()
	r := wire.NewReader(peerEnd, 1<<20)
	f, err := r.ReadFrame()
	if err != nil || f.Header().Kind() != wire.KindHello {
		t.Fatalf("raw peer: parent hello: %v", err)
	}
	hello, err := wire.ParseHello(f.Body())
	if err != nil {
		t.Fatal(err)
	}
	p := &rawPeer{t: t, conn: peerEnd, id: hello.AssignedID, parent: hello.ContextID,
		signal: make(chan struct{}, 1), done: make(chan struct{})}
	p.write(wire.AppendFrame(nil,
		wire.FrameSpec{Kind: wire.KindHello, Dst: hello.ContextID, Src: hello.AssignedID, Auth: hello.AssignedID}, nil,
		wire.AppendHello(nil, wire.Hello{ContextID: hello.AssignedID, Incarnation: uuid.New(),
			ParentIDs: hello.ParentIDs, Name: name, MaxFrame: 1 << 20})))
	out := <-ch
	if out.err != nil {
		t.Fatalf("AttachChild with raw peer: %v", out.err)
	}
	p.link = out.l
	go p.readLoop(r)
	t.Cleanup(func() {
		_ = p.conn.Close()
		<-p.done
	})
	return p
}

func (p *rawPeer) readLoop(r *wire.Reader) {
	defer close(p.done)
	for {
		f, err := r.ReadFrame()
		if err == nil && f.Header().Kind() == wire.KindPing { // stay alive in long tests
			h := f.Header()
			_, _ = p.conn.Write(wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindPong, Dst: h.Src(), Src: p.id, Auth: p.id}, nil, nil))
			continue
		}
		p.mu.Lock()
		if err != nil {
			p.readErr = err
		} else {
			p.frames = append(p.frames, append([]byte(nil), f.Raw...))
		}
		p.mu.Unlock()
		select {
		case p.signal <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	_ = p.conn.SetWriteDeadline(time.Now().Add(waitLong))
	if _, err := p.conn.Write(b); err != nil {
		p.t.Fatalf("raw peer: write: %v", err)
	}
}

// sendAs writes one frame with the given source and authority.
func (p *rawPeer) sendAs(kind wire.Kind, dst, src, auth uint32, body []byte) {
	p.t.Helper()
	p.write(wire.AppendFrame(nil, wire.FrameSpec{Kind: kind, Dst: dst, Src: src, Auth: auth}, nil, body))
}

// send writes one frame from this peer.
func (p *rawPeer) send(kind wire.Kind, dst uint32, body []byte) {
	p.t.Helper()
	p.sendAs(kind, dst, p.id, p.id, body)
}

// next returns the next frame from the node, waiting up to d.
func (p *rawPeer) next(d time.Duration) (wire.Frame, error) {
	deadline := time.After(d)
	for {
		p.mu.Lock()
		if len(p.frames) > 0 {
			f := p.frames[0]
			p.frames = p.frames[1:]
			p.mu.Unlock()
			return wire.Frame{Raw: f}, nil
		}
		err := p.readErr
		p.mu.Unlock()
		if err != nil {
			return wire.Frame{}, err
		}
		select {
		case <-p.signal:
		case <-deadline:
			return wire.Frame{}, errors.New("timed out waiting for a frame")
		}
	}
}

// expect returns the next frame matching match, dropping others.
func (p *rawPeer) expect(what string, match func(wire.Frame) bool) wire.Frame {
	p.t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		f, err := p.next(time.Until(deadline))
		if err != nil {
			p.t.Fatalf("raw peer %d: waiting for %s: %v", p.id, what, err)
		}
		if match(f) {
			return f
		}
	}
}

// replies collects n CALL_REPLY frames (others are dropped): id -> error
// code ("" for an answer).
func (p *rawPeer) replies(n int) map[[16]byte]string {
	p.t.Helper()
	got := map[[16]byte]string{}
	for len(got) < n {
		f := p.expect("a call reply", func(f wire.Frame) bool { return f.Header().Kind() == wire.KindCallReply })
		id, code := p.parseReply(f.Body())
		got[id] = code
	}
	return got
}

// reply waits for the CALL_REPLY of call id and returns its error code
// ("" for an answer).
func (p *rawPeer) reply(id [16]byte) string {
	p.t.Helper()
	var code string
	p.expect("the reply of a call", func(f wire.Frame) bool {
		if f.Header().Kind() != wire.KindCallReply {
			return false
		}
		var got [16]byte
		got, code = p.parseReply(f.Body())
		return got == id
	})
	return code
}

func (p *rawPeer) parseReply(b []byte) ([16]byte, string) {
	p.t.Helper()
	var id [16]byte
	if len(b) < 17 {
		p.t.Fatalf("raw peer: reply of %d bytes", len(b))
	}
	copy(id[:], b)
	if b[16] == 0 {
		return id, ""
	}
	var e rawError
	if err := wire.Unmarshal(b[17:], &e); err != nil {
		p.t.Fatalf("raw peer: error reply: %v", err)
	}
	return id, e.Code
}

// barrier returns once the node at dst has handled every frame this peer
// sent before: frames of one link are handled in order, and a call to the
// AnyContext service "probe" always gets a reply (an answer or busy).
func (p *rawPeer) barrier(dst uint32) {
	p.t.Helper()
	id := randID()
	p.send(wire.KindCallService, dst, rawRequest(id, 0, "probe", "echo", mustMarshal(p.t, &Echo{Text: "barrier"})))
	p.reply(id)
}

func randID() [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return id
}

// rawRequest encodes a request body by the layout of actors/calls/frame.go.
func rawRequest(id [16]byte, timeout int64, name, method string, body []byte) []byte {
	b := []byte{0}
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(timeout))
	b = append(b, byte(len(name)))
	b = append(b, name...)
	b = append(b, byte(len(method)))
	b = append(b, method...)
	return append(b, body...)
}

// rawReply encodes a successful reply.
func rawReply(id [16]byte, body []byte) []byte {
	return append(append(id[:], 0), body...)
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := wire.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// linkUp fails the test if the peer's link has closed.
func (p *rawPeer) linkUp() {
	p.t.Helper()
	select {
	case <-p.link.Done():
		p.t.Fatalf("raw peer %d's link closed: %v", p.id, p.link.Err())
	default:
	}
}
