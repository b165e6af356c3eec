package actors_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

func fastHeartbeat(cfg actors.Config) actors.Config {
	cfg.HeartbeatInterval = 20 * time.Millisecond
	cfg.HeartbeatTimeout = 150 * time.Millisecond
	return cfg
}

// A peer that completes the handshake and then neither reads nor writes (a
// SIGSTOPped process, a silent network cut) is declared dead with a reason
// naming the heartbeat, and what waited on it fails.
func TestHeartbeat_SilentPeerDeclaredDead(t *testing.T) {
	root := newRoot(t, fastHeartbeat(actors.Config{Setup: typeSetup}))
	p, link := attachRawDeaf(t, root, "frozen")
	if p.hello.HeartbeatMS != 20 || p.hello.TimeoutMS != 150 {
		t.Fatalf("hello announces heartbeat %dms/%dms, want 20/150", p.hello.HeartbeatMS, p.hello.TimeoutMS)
	}
	pending := requestAsync(root, actor.NewPID(actors.Address(p.id), "x"), &Ping{Text: "?"}, waitLong)
	if !closedWithin(link.Done(), waitLong) {
		t.Fatal("silent link not declared dead")
	}
	var he *actors.HeartbeatError
	if !errors.As(link.Err(), &he) || !errors.Is(link.Err(), actors.ErrHeartbeatTimeout) {
		t.Fatalf("link reason %v, want a *HeartbeatError", link.Err())
	}
	if he.Timeout != 150*time.Millisecond || he.Silence < he.Timeout {
		t.Fatalf("HeartbeatError %+v", he)
	}
	out := <-pending
	deadError(t, out.err, actors.ErrContextDead)
	if !strings.Contains(out.err.Error(), "heartbeat timeout") {
		t.Fatalf("request error %q does not name the heartbeat", out.err)
	}
}

// An idle link with heartbeats stays up for many timeouts, both ways: each
// side pings the other, and the child adopted the parent's settings.
func TestHeartbeat_IdleLinkStaysUp(t *testing.T) {
	k := newKinds()
	// A roomier timeout than fastHeartbeat's: this test fails on a false
	// death, which a loaded machine running -race can cause at 150 ms.
	cfg := actors.Config{Setup: setups(typeSetup, k.setup), HeartbeatInterval: 50 * time.Millisecond,
		HeartbeatTimeout: 500 * time.Millisecond}
	root := newRoot(t, cfg)
	c := attach(t, root, "idle", actors.Config{Setup: setups(typeSetup, k.setup)})
	echo := spawnRemote(t, root, c.link.ID, "echo", "")
	time.Sleep(5 * cfg.HeartbeatTimeout)
	if isClosed(c.link.Done()) || isClosed(c.node.Stopping()) {
		t.Fatalf("idle link declared dead: %v", c.link.Err())
	}
	ping(t, root, echo, "still here")
}

// A PING is answered with a PONG, link-local (src and dst are the two ends).
func TestHeartbeat_PingAnswered(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup})
	p, _ := attachRaw(t, root, "pinger")
	p.send(p.spec(wire.KindPing, p.parent), nil)
	f := p.expect(waitLong, "PONG", func(f wire.Frame) bool { return f.Header().Kind() == wire.KindPong })
	if f.Header().Dst() != p.id || f.Header().Src() != p.parent {
		t.Fatalf("PONG %d->%d, want %d->%d", f.Header().Src(), f.Header().Dst(), p.parent, p.id)
	}
}

// A control frame does not wait behind a big message: the PONG answering a
// PING that arrives while 4 MiB are being written goes out between two
// pieces of it, long before its end; the message itself arrives as CHUNK
// frames that reassemble to the original frame.
func TestLink_ControlNotBehindBulk(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup, HeartbeatInterval: -1})
	parentEnd, peerEnd := net.Pipe()
	res := attachAsync(root, "slow", parentEnd, waitLong)
	r := wire.NewReader(peerEnd, 1<<20) // chunks are small
	hello := readParentHello(t, r)
	mine := wire.AppendFrame(nil,
		wire.FrameSpec{Kind: wire.KindHello, Dst: hello.ContextID, Src: hello.AssignedID, Auth: hello.AssignedID}, nil,
		wire.AppendHello(nil, wire.Hello{ContextID: hello.AssignedID, ParentIDs: hello.ParentIDs, Name: "slow",
			MaxFrame: 64 << 20}))
	if _, err := peerEnd.Write(mine); err != nil {
		t.Fatal(err)
	}
	if out := <-res; out.err != nil {
		t.Fatal(out.err)
	}
	defer peerEnd.Close()
	id := hello.AssignedID

	big := strings.Repeat("x", 4<<20)
	if err := root.Send(actor.NewPID(actors.Address(id), "sink"), &Ping{Text: big}); err != nil {
		t.Fatal(err)
	}
	// The writer is now blocked in a write of the first piece (net.Pipe
	// has no buffer); the node's reader takes the PING and queues a PONG.
	ping := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindPing, Dst: hello.ContextID, Src: id, Auth: id}, nil, nil)
	if _, err := peerEnd.Write(ping); err != nil {
		t.Fatal(err)
	}
	a := wire.NewAssembler(0)
	bulkBefore, sawPong := 0, false
	var whole []byte
	_ = peerEnd.SetReadDeadline(time.Now().Add(waitLong))
	for whole == nil {
		f, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("read: %v (pong seen: %v, bulk %d)", err, sawPong, bulkBefore)
		}
		switch f.Header().Kind() {
		case wire.KindPong:
			sawPong = true
		case wire.KindChunk:
			if f.Header().BodyLen() > wire.DefaultChunkSize {
				t.Fatalf("chunk of %d bytes", f.Header().BodyLen())
			}
			if !sawPong {
				bulkBefore += len(f.Raw)
			}
			w, done, err := a.Add(f)
			if err != nil {
				t.Fatal(err)
			}
			if done {
				whole = append([]byte(nil), w.Raw...)
			}
		case wire.KindUser:
			t.Fatalf("a %d-byte USER frame was sent whole", len(f.Raw))
		}
	}
	if !sawPong || bulkBefore > 2<<20 {
		t.Fatalf("PONG seen %v, after %d bytes of a %d-byte message", sawPong, bulkBefore, len(whole))
	}
	env, err := wire.ParseEnvelope(wire.Frame{Raw: whole}.Body())
	if err != nil || env.Target != "sink" {
		t.Fatalf("reassembled envelope %+v, %v", env, err)
	}
	if !bytes.Contains(whole, []byte(big[:1000])) || len(whole) < len(big) {
		t.Fatalf("reassembled frame of %d bytes", len(whole))
	}
}

// Big messages cross a middle context that forwards their chunks without
// reassembling them, both ways.
func TestChunks_DepthTwoBigEcho(t *testing.T) {
	tr := newTree(t)
	echo := spawnRemote(t, tr.root, tr.leaf.link.ID, "echo", "")
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	for _, n := range []int{wire.DefaultChunkSize - 100, wire.DefaultChunkSize + 1, 3 << 20} {
		text := strings.Repeat("y", n)
		pong, err := actors.Request[*Pong](ctx, tr.root, echo, &Ping{Text: text})
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if pong.Text != text {
			t.Fatalf("%d bytes: echo of %d bytes differs", n, len(pong.Text))
		}
	}
}

// A chunk stream from a source that breaks the rules is dropped and
// answered with a dead reply; the link stays up and a fresh stream works.
func TestChunks_BrokenStreamKeepsLink(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup})
	p, link := attachRaw(t, root, "chunker")
	whole := p.userFrame(p.spec(wire.KindUser, p.parent), "nobody", &Ping{Text: strings.Repeat("z", 300<<10)})
	chunks := wire.AppendChunks(nil, whole, 0)
	first := wire.Header(chunks).FrameLen()
	p.writeRaw(chunks[first:]) // no START
	p.expectDead("rejected chunk", func(d wire.DeadReply) bool {
		return d.Code == wire.DeadRejected && strings.Contains(d.Reason, "without START")
	})
	p.writeRaw(chunks) // whole stream: delivered (to a missing actor)
	p.expectDead("no actor", func(d wire.DeadReply) bool { return d.Code == wire.DeadNoActor })
	if isClosed(link.Done()) {
		t.Fatalf("link closed: %v", link.Err())
	}
}

// slowWriter writes at most rate bytes per second, in small steps: a link
// slower than the heartbeat timeout for a big message.
type slowWriter struct {
	w    interface{ Write([]byte) (int, error) }
	rate int
}

func (s slowWriter) Write(p []byte) (int, error) {
	const step = 8 << 10
	n := 0
	for n < len(p) {
		k := min(step, len(p)-n)
		m, err := s.w.Write(p[n : n+k])
		n += m
		if err != nil {
			return n, err
		}
		time.Sleep(time.Duration(k) * time.Second / time.Duration(s.rate))
	}
	return n, nil
}

// A peer busy moving a message that takes several heartbeat timeouts to
// cross a slow link, both ways, is not declared dead: bytes keep arriving,
// and heartbeats pass between the chunks.
func TestHeartbeat_SlowBulkIsNotSilence(t *testing.T) {
	k := newKinds()
	// A timeout roomy enough for a loaded machine under -race (400 ms still
	// flaked), with a message long enough to outlast it in each direction.
	cfg := actors.Config{Setup: setups(typeSetup, k.setup), HeartbeatInterval: 100 * time.Millisecond,
		HeartbeatTimeout: time.Second}
	root := newRoot(t, cfg)
	slow := func(t testing.TB) (parent, child actors.Transport) {
		p, c := osPipes(t)
		p.W = slowWriter{p.W, 2 << 20} // 2 MiB/s each way
		c.W = slowWriter{c.W, 2 << 20}
		return p, c
	}
	c := attachOver(t, root, "slow", actors.Config{Setup: cfg.Setup}, slow)
	echo := spawnRemote(t, root, c.link.ID, "echo", "")
	text := strings.Repeat("s", 3<<20) // about 1.5 s each way, 3 timeouts in all
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	start := time.Now()
	pong, err := actors.Request[*Pong](ctx, root, echo, &Ping{Text: text})
	if err != nil {
		t.Fatalf("after %v: %v (link: %v)", time.Since(start), err, c.link.Err())
	}
	if pong.Text != text {
		t.Fatal("echo differs")
	}
	if took := time.Since(start); took < 3*cfg.HeartbeatTimeout {
		t.Logf("round trip took %v only; the link was not slow enough to test much", took)
	}
}
