package actors_test

// A raw peer plays the child side of a link with package wire alone, so
// that tests can send what a well-behaved Node never would.

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// Bodies of node-level frames, mirroring the unexported types of package
// actors (msgpack encodes structs as maps keyed by field name).
type (
	rawSpawnRequest struct {
		ReplyID string
		Kind    string
		Name    string
	}
	rawAllocRequest struct {
		ReplyID string
		Count   uint32
	}
	rawRouteUpdate struct {
		IDs    []uint32
		Names  []string
		Reason string
		Code   uint8
	}
	rawSysMsg struct {
		Op      uint8
		Target  string
		PeerCtx uint32
		PeerID  string
		Why     int32
	}
)

// System operations (actors/inbound.go).
const (
	rawOpWatch uint8 = iota + 1
	rawOpUnwatch
	rawOpStop
	rawOpTerminated
)

// barrierKind is an unknown kind the raw peer sends to learn that the node
// has handled everything it sent before (the node answers IS_DEAD).
const barrierKind wire.Kind = 4242

type rawPeer struct {
	t      testing.TB
	conn   net.Conn
	id     uint32 // context ID assigned by the parent
	parent uint32
	hello  wire.Hello // the parent's hello
	reg    *wire.Registry

	mu      sync.Mutex
	frames  [][]byte
	readErr error
	signal  chan struct{}
	done    chan struct{}
}

// attachRaw attaches a raw peer as a child of parent and completes the
// handshake correctly.
func attachRaw(t testing.TB, parent *actors.Node, name string) (*rawPeer, *actors.ChildLink) {
	t.Helper()
	return attachRawOpts(t, parent, name, true)
}

// attachRawDeaf attaches a raw peer that never reads after the handshake:
// a stuck consumer.
func attachRawDeaf(t testing.TB, parent *actors.Node, name string) (*rawPeer, *actors.ChildLink) {
	t.Helper()
	return attachRawOpts(t, parent, name, false)
}

func attachRawOpts(t testing.TB, parent *actors.Node, name string, read bool) (*rawPeer, *actors.ChildLink) {
	t.Helper()
	parentEnd, peerEnd := net.Pipe()
	res := attachAsync(parent, name, parentEnd, waitLong)
	r := wire.NewReader(peerEnd, 1<<20)
	hello := readParentHello(t, r)
	p := &rawPeer{t: t, conn: peerEnd, id: hello.AssignedID, parent: hello.ContextID, hello: hello,
		reg: wire.NewRegistry(), signal: make(chan struct{}, 1), done: make(chan struct{})}
	if err := typeSetupRegistry(p.reg); err != nil {
		t.Fatal(err)
	}
	p.writeRaw(childHello(hello, name))
	out := <-res
	if out.err != nil {
		_ = peerEnd.Close()
		t.Fatalf("AttachChild with raw peer: %v", out.err)
	}
	if out.link.ID != p.id {
		t.Fatalf("ChildLink.ID = %d, hello assigned %d", out.link.ID, p.id)
	}
	if read {
		go p.readLoop(r)
	} else {
		close(p.done)
	}
	t.Cleanup(func() {
		_ = p.conn.Close()
		<-p.done
	})
	return p, out.link
}

type attachResult struct {
	link *actors.ChildLink
	err  error
	took time.Duration
}

func attachAsync(parent *actors.Node, name string, conn net.Conn, timeout time.Duration) <-chan attachResult {
	ch := make(chan attachResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		l, err := parent.AttachChild(ctx, name, actors.Transport{R: conn, W: conn, C: conn})
		ch <- attachResult{l, err, time.Since(start)}
	}()
	return ch
}

func readParentHello(t testing.TB, r *wire.Reader) wire.Hello {
	t.Helper()
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatalf("raw peer: read parent hello: %v", err)
	}
	if k := f.Header().Kind(); k != wire.KindHello {
		t.Fatalf("raw peer: first frame is %s, want HELLO", k)
	}
	h, err := wire.ParseHello(f.Body())
	if err != nil {
		t.Fatalf("raw peer: parse parent hello: %v", err)
	}
	return h
}

// childHello is the correct answer to the parent's hello.
func childHello(parent wire.Hello, name string) []byte {
	return wire.AppendFrame(nil,
		wire.FrameSpec{Kind: wire.KindHello, Dst: parent.ContextID, Src: parent.AssignedID, Auth: parent.AssignedID}, nil,
		wire.AppendHello(nil, wire.Hello{ContextID: parent.AssignedID, Incarnation: uuid.New(),
			ParentIDs: parent.ParentIDs, Name: name, MaxFrame: 1 << 20}))
}

func typeSetupRegistry(reg *wire.Registry) error {
	for _, err := range []error{
		wire.Register[Ping](reg, "test.Ping"),
		wire.Register[Pong](reg, "test.Pong"),
		wire.Register[Tick](reg, "test.Tick"),
		wire.Register[Burst](reg, "test.Burst"),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *rawPeer) readLoop(r *wire.Reader) {
	defer close(p.done)
	for {
		f, err := r.ReadFrame()
		if err != nil {
			p.mu.Lock()
			p.readErr = err
			p.mu.Unlock()
			p.notify()
			return
		}
		p.mu.Lock()
		p.frames = append(p.frames, append([]byte(nil), f.Raw...))
		p.mu.Unlock()
		p.notify()
	}
}

func (p *rawPeer) notify() {
	select {
	case p.signal <- struct{}{}:
	default:
	}
}

// writeRaw writes bytes to the link, failing the test on error.
func (p *rawPeer) writeRaw(b []byte) {
	p.t.Helper()
	_ = p.conn.SetWriteDeadline(time.Now().Add(waitLong))
	if _, err := p.conn.Write(b); err != nil {
		p.t.Fatalf("raw peer: write: %v", err)
	}
}

// tryWriteRaw writes bytes and ignores errors (the node may already have
// closed the link).
func (p *rawPeer) tryWriteRaw(b []byte) {
	_ = p.conn.SetWriteDeadline(time.Now().Add(waitLong))
	_, _ = p.conn.Write(b)
}

// spec returns a frame spec from this peer (src = auth = its ID).
func (p *rawPeer) spec(kind wire.Kind, dst uint32) wire.FrameSpec {
	return wire.FrameSpec{Kind: kind, Dst: dst, Src: p.id, Auth: p.id}
}

// send writes one frame with a msgpack body (nil body for none).
func (p *rawPeer) send(s wire.FrameSpec, body any) {
	p.t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = wire.Marshal(body); err != nil {
			p.t.Fatal(err)
		}
	}
	p.writeRaw(wire.AppendFrame(nil, s, nil, b))
}

// userFrame builds a USER frame for actor target carrying msg.
func (p *rawPeer) userFrame(s wire.FrameSpec, target string, msg any) []byte {
	p.t.Helper()
	buf, start := wire.BeginFrame(nil, s)
	buf = wire.AppendEnvelopeHead(buf, wire.Envelope{Target: target, Type: mustTypeName(p.t, p.reg, msg)})
	buf, err := appendPayload(p.reg, buf, msg)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := wire.FinishFrame(buf, start, 0); err != nil {
		p.t.Fatal(err)
	}
	return buf
}

func mustTypeName(t testing.TB, reg *wire.Registry, msg any) string {
	t.Helper()
	name, err := reg.TypeName(msg)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func appendPayload(reg *wire.Registry, buf []byte, msg any) ([]byte, error) {
	_, out, err := reg.AppendEncode(buf, msg)
	return out, err
}

// next returns the next frame the node sent, waiting up to d.
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

// expect returns the next frame matching match, dropping others (route
// updates and the like), and fails the test when none comes within d.
func (p *rawPeer) expect(d time.Duration, what string, match func(wire.Frame) bool) wire.Frame {
	p.t.Helper()
	deadline := time.Now().Add(d)
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

// expectDead waits for an IS_DEAD frame whose reply matches match.
func (p *rawPeer) expectDead(what string, match func(wire.DeadReply) bool) wire.DeadReply {
	p.t.Helper()
	var d wire.DeadReply
	p.expect(waitLong, what, func(f wire.Frame) bool {
		if f.Header().Kind() != wire.KindDead {
			return false
		}
		var err error
		if d, err = wire.ParseDeadReply(f.Body()); err != nil {
			p.t.Fatalf("raw peer: bad IS_DEAD body: %v", err)
		}
		return match(d)
	})
	return d
}

// barrier returns once the node at dst has handled every frame this peer
// sent to dst before it: frames of one link are handled in order, and an
// unknown kind is answered with IS_DEAD.
func (p *rawPeer) barrier(dst uint32) {
	p.t.Helper()
	p.send(p.spec(barrierKind, dst), nil)
	want := barrierKind.String()
	p.expectDead("barrier "+want, func(d wire.DeadReply) bool { return strings.Contains(d.Reason, want) })
}

// drain returns every frame received so far.
func (p *rawPeer) drain() []wire.Frame {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]wire.Frame, len(p.frames))
	for i, f := range p.frames {
		out[i] = wire.Frame{Raw: f}
	}
	p.frames = nil
	return out
}
