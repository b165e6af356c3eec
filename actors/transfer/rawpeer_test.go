package transfer_test

// A raw peer plays a child context with package wire alone over
// net.Pipe, so that tests can send what a well-behaved Transfer never
// would. The stream bodies are built here byte by byte (the layout of
// docs/protocol.md, "Streams").

import (
	"context"
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

const fromAcceptor = uint64(1) << 63

type rawPeer struct {
	t      testing.TB
	conn   net.Conn
	id     uint32
	parent uint32

	mu     sync.Mutex
	frames []wire.Frame
	err    error
	signal chan struct{}
	done   chan struct{}
}

// attachRaw attaches a raw peer as a child of parent (heartbeats must be
// off in parent: the raw peer answers no PING).
func attachRaw(t testing.TB, parent *actors.Node, name string) *rawPeer {
	t.Helper()
	a, b := net.Pipe()
	res := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		_, err := parent.AttachChild(ctx, name, actors.Transport{R: a, W: a, C: a})
		res <- err
	}()
	r := wire.NewReader(b, 1<<20)
	f, err := r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	h, err := wire.ParseHello(f.Body())
	if err != nil {
		t.Fatal(err)
	}
	p := &rawPeer{t: t, conn: b, id: h.AssignedID, parent: h.ContextID, signal: make(chan struct{}, 1), done: make(chan struct{})}
	p.write(wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindHello, Dst: h.ContextID, Src: p.id, Auth: p.id}, nil,
		wire.AppendHello(nil, wire.Hello{ContextID: p.id, Incarnation: uuid.New(), ParentIDs: h.ParentIDs, Name: name,
			MaxFrame: 1 << 20})))
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	go p.readLoop(r)
	t.Cleanup(func() { _ = b.Close(); <-p.done })
	return p
}

func (p *rawPeer) readLoop(r *wire.Reader) {
	defer close(p.done)
	for {
		f, err := r.ReadFrame()
		p.mu.Lock()
		if err != nil {
			p.err = err
		} else {
			p.frames = append(p.frames, wire.Frame{Raw: append([]byte(nil), f.Raw...)})
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
		p.t.Fatalf("raw peer write: %v", err)
	}
}

// send writes a frame of kind with body to the parent.
func (p *rawPeer) send(kind wire.Kind, flags wire.Flags, body []byte) {
	p.t.Helper()
	p.write(wire.AppendFrame(nil, wire.FrameSpec{Kind: kind, Flags: flags, Dst: p.parent, Src: p.id, Auth: p.id}, nil, body))
}

// expect returns the next frame of kind, dropping others.
func (p *rawPeer) expect(kind wire.Kind) wire.Frame {
	p.t.Helper()
	deadline := time.After(waitLong)
	for {
		p.mu.Lock()
		for len(p.frames) > 0 {
			f := p.frames[0]
			p.frames = p.frames[1:]
			if f.Header().Kind() == kind {
				p.mu.Unlock()
				return f
			}
		}
		err := p.err
		p.mu.Unlock()
		if err != nil {
			p.t.Fatalf("raw peer: waiting for %s: %v", kind, err)
		}
		select {
		case <-p.signal:
		case <-deadline:
			p.t.Fatalf("raw peer: no %s", kind)
		}
	}
}

// barrier returns once the parent handled every frame sent before it: an
// unknown kind is answered with IS_DEAD, in order.
func (p *rawPeer) barrier() {
	p.t.Helper()
	p.send(4343, 0, nil)
	p.expect(wire.KindDead)
}

// Raw stream bodies.
func openBody(id uint64, window uint32, name string) []byte {
	b := binary.BigEndian.AppendUint64(nil, id)
	b = binary.BigEndian.AppendUint32(b, window)
	return append(append(b, byte(len(name))), name...)
}

func dataBody(id, offset uint64, data []byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, id)
	return append(binary.BigEndian.AppendUint64(b, offset), data...)
}

func creditBody(id uint64, add uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, id), add)
}

func resetBody(id uint64, code uint16) []byte {
	b := binary.BigEndian.AppendUint64(nil, id)
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, code), 0)
}

func bodyID(f wire.Frame) uint64 { return binary.BigEndian.Uint64(f.Body()) }

func resetCode(t testing.TB, f wire.Frame) uint16 {
	t.Helper()
	if len(f.Body()) < 10 {
		t.Fatalf("short reset body % x", f.Body())
	}
	return binary.BigEndian.Uint16(f.Body()[8:])
}

// rawRoot is a root without heartbeats, for raw peers.
func rawRoot(t testing.TB, setup func(*actors.Node) error) *actors.Node {
	return newRoot(t, actors.Config{Setup: setup, HeartbeatInterval: -1, HeartbeatTimeout: -1})
}

var errNo = errors.New("no")
