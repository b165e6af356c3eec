package actors_test

// A raw peer on a unix socket sends descriptors the way a well-behaved
// Node never would. Whatever it sends, every descriptor that reaches the
// node is closed or delivered, and the node never panics.

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/fdcount"
	"github.com/spindle-go/spindle/wire"
)

type unixPeer struct {
	t     *testing.T
	conn  *net.UnixConn
	id    uint32
	root  uint32
	link  *actors.ChildLink
	reg   *wire.Registry
	dead  chan wire.DeadReply
	got   chan *FDMsg
	files []*os.File // descriptors the peer sends (closed by the test)
}

// attachUnixPeer attaches a raw peer over a socketpair to a root that has
// an "fdsink" actor named "sink".
func attachUnixPeer(t *testing.T) *unixPeer {
	t.Helper()
	got := make(chan *FDMsg, 16)
	root := newRoot(t, actors.Config{Setup: fdSetup})
	if _, err := root.System().Root.SpawnNamed(fdSinkProps(got), "sink"); err != nil {
		t.Fatal(err)
	}
	parentEnd, peerEnd := socketpairConns(t)
	res := attachAsync(root, "raw", parentEnd, waitLong)
	r := wire.NewReader(peerEnd, 1<<20)
	hello := readParentHello(t, r)
	if hello.Features&wire.FeatureFDPassing == 0 {
		t.Fatalf("parent on a unix socket does not offer descriptor passing: features %#x", hello.Features)
	}
	mine := wire.AppendFrame(nil,
		wire.FrameSpec{Kind: wire.KindHello, Dst: hello.ContextID, Src: hello.AssignedID, Auth: hello.AssignedID}, nil,
		wire.AppendHello(nil, wire.Hello{ContextID: hello.AssignedID, Incarnation: uuid.New(),
			ParentIDs: hello.ParentIDs, Name: "raw", MaxFrame: 1 << 20, Features: wire.FeatureFDPassing}))
	if _, err := peerEnd.Write(mine); err != nil {
		t.Fatal(err)
	}
	out := <-res
	if out.err != nil {
		t.Fatalf("attach: %v", out.err)
	}
	p := &unixPeer{t: t, conn: peerEnd, id: hello.AssignedID, root: hello.ContextID, link: out.link,
		reg: wire.NewRegistry(), dead: make(chan wire.DeadReply, 16), got: got}
	if err := wire.Register[FDMsg](p.reg, "test.FDMsg"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			f, err := r.ReadFrame()
			if err != nil {
				return
			}
			if f.Header().Kind() == wire.KindDead {
				if d, err := wire.ParseDeadReply(f.Body()); err == nil {
					p.dead <- d
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = peerEnd.Close()
		<-done
		for _, f := range p.files {
			_ = f.Close()
		}
	})
	return p
}

// fds returns n descriptors (pipe ends) for the peer to send.
func (p *unixPeer) fds(n int) []int {
	var out []int
	for len(out) < n {
		r, w := pipe(p.t)
		p.files = append(p.files, r, w)
		out = append(out, int(r.Fd()), int(w.Fd()))
	}
	return out[:n]
}

// frame builds a USER frame to the sink: an envelope that announces count
// descriptors (FlagFDs when count > 0) and the given msgpack payload.
func (p *unixPeer) frame(count int, payload []byte) []byte {
	var flags wire.Flags
	if count > 0 {
		flags = wire.FlagFDs
	}
	b, start := wire.BeginFrame(nil, wire.FrameSpec{Kind: wire.KindUser, Flags: flags, Dst: p.root, Src: p.id, Auth: p.id})
	b = wire.AppendEnvelopeHead(b, wire.Envelope{FDs: count, Target: "sink", Type: "*test.FDMsg"})
	b = append(b, payload...)
	if err := wire.FinishFrame(b, start, 0); err != nil {
		p.t.Fatal(err)
	}
	return b
}

// payload encodes msg with its placeholders.
func (p *unixPeer) payload(msg *FDMsg) []byte {
	b, _, err := p.reg.AppendPayloadFDs(nil, msg)
	if err != nil {
		p.t.Fatal(err)
	}
	return b
}

// write sends b with fds attached to its first byte.
func (p *unixPeer) write(b []byte, fds []int) {
	p.t.Helper()
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	if _, _, err := p.conn.WriteMsgUnix(b, oob, nil); err != nil {
		p.t.Fatalf("raw peer: sendmsg: %v", err)
	}
}

// linkDown waits for the link to close and returns its reason.
func (p *unixPeer) linkDown() error {
	p.t.Helper()
	if !closedWithin(p.link.Done(), waitLong) {
		p.t.Fatal("link still up")
	}
	return p.link.Err()
}

// extFile is a msgpack map {"File": placeholder} with a raw index and kind.
func extPayload(field string, kind wire.FDKind, index byte) []byte {
	b := []byte{0x81, 0xa0 | byte(len(field))}
	b = append(b, field...)
	return append(b, 0xd4, byte(80+int(kind)), index) // fixext 1
}

func TestFDAttack_LinkErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		send  func(p *unixPeer)
		cause string
	}{
		{"descriptors with a frame that does not claim them", func(p *unixPeer) {
			p.write(p.frame(0, p.payload(&FDMsg{Tag: "plain"})), p.fds(2))
			p.write(p.frame(0, p.payload(&FDMsg{Tag: "next"})), nil)
		}, "no frame to carry them"},
		{"frame claims more than came", func(p *unixPeer) {
			p.write(p.frame(2, extPayload("File", wire.FDFile, 0)), p.fds(1))
		}, "claims 2 descriptors, 1 came"},
		{"frame claims descriptors, none came", func(p *unixPeer) {
			p.write(p.frame(1, extPayload("File", wire.FDFile, 0)), nil)
		}, "did not come with it"},
		{"descriptors on a system frame", func(p *unixPeer) {
			b := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindSystem, Flags: wire.FlagFDs, Dst: p.root, Src: p.id, Auth: p.id}, nil, []byte{0xc0})
			p.write(b, p.fds(1))
		}, "with descriptors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := attachUnixPeer(t)
			base := fdcount.Open(t)
			tc.send(p)
			err := p.linkDown()
			var pe *actors.ProtocolError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.cause) {
				t.Fatalf("link closed with %v, want a protocol error saying %q", err, tc.cause)
			}
			// The node closed its end of the socket and every descriptor
			// it got; the peer's own stay open.
			fdcount.Await(t, base+len(p.files)-1, waitLong)
		})
	}
}

func TestFDAttack_RejectedMessages(t *testing.T) {
	for _, tc := range []struct {
		name    string
		count   int
		payload func(p *unixPeer) []byte
		reason  string
	}{
		{"index out of range", 1, func(*unixPeer) []byte { return extPayload("File", wire.FDFile, 5) }, "bad descriptor"},
		{"descriptor without a placeholder", 2, func(*unixPeer) []byte { return extPayload("File", wire.FDFile, 0) }, "no placeholder"},
		{"same index twice", 2, func(p *unixPeer) []byte {
			b := []byte{0x82, 0xa4, 'F', 'i', 'l', 'e', 0xd4, 81, 0, 0xa1, 'C', 0xd4, 81, 0}
			return b
		}, "used twice"},
		{"a pipe claimed to be a TCP connection", 1, func(*unixPeer) []byte { return extPayload("C", wire.FDTCPConn, 0) }, "bad descriptor"},
		{"a placeholder in the wrong field", 1, func(*unixPeer) []byte { return extPayload("L", wire.FDFile, 0) }, "bad payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := attachUnixPeer(t)
			base := fdcount.Open(t)
			p.write(p.frame(tc.count, tc.payload(p)), p.fds(tc.count))
			d := recv(t, p.dead, waitLong, "IS_DEAD reply")
			if d.Code != wire.DeadRejected || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("dead reply %v %q, want rejected with %q", d.Code, d.Reason, tc.reason)
			}
			fdcount.Await(t, base+len(p.files), waitLong) // the peer's own stay open
			// The link stays up and still carries descriptors.
			fds := p.fds(1)
			p.write(p.frame(1, p.payload(&FDMsg{Tag: "ok", File: p.files[len(p.files)-2]})), fds)
			m := recv(t, p.got, waitLong, "a good message after the bad one")
			if m.File == nil {
				t.Fatal("no file in the good message")
			}
			_ = m.File.Close()
			select {
			case <-p.link.Done():
				t.Fatalf("link closed: %v", p.link.Err())
			case <-time.After(10 * time.Millisecond):
			}
		})
	}
}

// TestFDAttack_PeerWithoutFeatureGetsNone: a child that does not offer
// descriptor passing in its hello gets none, even over a unix socket.
func TestFDAttack_PeerWithoutFeatureGetsNone(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: fdSetup})
	parentEnd, peerEnd := socketpairConns(t)
	defer peerEnd.Close()
	res := attachAsync(root, "old", parentEnd, waitLong)
	r := wire.NewReader(peerEnd, 1<<20)
	hello := readParentHello(t, r)
	if _, err := peerEnd.Write(childHello(hello, "old")); err != nil { // Features 0
		t.Fatal(err)
	}
	out := <-res
	if out.err != nil {
		t.Fatal(out.err)
	}
	rp, wp := pipe(t)
	defer rp.Close()
	defer wp.Close()
	err := root.Send(actor.NewPID(actors.Address(hello.AssignedID), "x"), &FDMsg{File: wp})
	if !errors.Is(err, actors.ErrNoFDPassing) {
		t.Fatalf("Send = %v, want ErrNoFDPassing", err)
	}
}
