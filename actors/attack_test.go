package actors_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// header builds a raw 24-byte header with arbitrary lengths.
func header(kind wire.Kind, dst, src uint32, kvLen uint16, bodyLen uint32) []byte {
	b := wire.AppendFrame(nil, wire.FrameSpec{Kind: kind, Dst: dst, Src: src, Auth: src}, nil, nil)
	binary.BigEndian.PutUint16(b[6:], kvLen)
	binary.BigEndian.PutUint32(b[20:], bodyLen)
	return b
}

// TestLink_ProtocolErrors: bytes that break the protocol close the link that
// carried them with a protocol-error reason; the context behind it is
// declared dead, and the root keeps serving its other children.
func TestLink_ProtocolErrors(t *testing.T) {
	tests := []struct {
		name  string
		bytes func(p *rawPeer) []byte
		is    error // the ProtocolError wraps this, when set
	}{
		{"garbage after handshake", func(*rawPeer) []byte {
			return []byte("GET / HTTP/1.1\r\nHost: spindle\r\n\r\n" + strings.Repeat("\x00", 64))
		}, wire.ErrBadMagic},
		{"oversize frame header", func(p *rawPeer) []byte {
			return header(wire.KindUser, 0, p.id, 0, 1<<31)
		}, wire.ErrFrameTooLarge},
		{"oversize frame just over the limit", func(p *rawPeer) []byte {
			return header(wire.KindUser, 0, p.id, 0, 256<<10-wire.HeaderSize+1)
		}, wire.ErrFrameTooLarge},
		{"other protocol version mid-stream", func(p *rawPeer) []byte {
			b := wire.AppendFrame(nil, p.spec(wire.KindUser, 0), nil, []byte{0})
			b[2] = wire.Version + 1
			return b
		}, wire.ErrVersion},
		{"second hello", func(p *rawPeer) []byte {
			return childHello(p.hello, "again")
		}, nil},
		{"malformed envelope", func(p *rawPeer) []byte {
			return wire.AppendFrame(nil, p.spec(wire.KindUser, 0), nil, []byte{0xff, 0x01})
		}, wire.ErrMalformed},
		{"empty envelope", func(p *rawPeer) []byte {
			return wire.AppendFrame(nil, p.spec(wire.KindUser, 0), nil, nil)
		}, wire.ErrMalformed},
		{"malformed kv block", func(p *rawPeer) []byte {
			body := wire.AppendEnvelopeHead(nil, wire.Envelope{Target: "sink", Type: "*test.Ping"})
			var payload []byte
			payload, _ = appendPayload(p.reg, payload, &Ping{})
			body = append(body, payload...)
			return wire.AppendFrame(nil, p.spec(wire.KindUser, 0), []byte{0x00, 0x01}, body) // empty key
		}, wire.ErrMalformed},
		{"malformed dead reply", func(p *rawPeer) []byte {
			return wire.AppendFrame(nil, p.spec(wire.KindDead, 0), nil, []byte{0x00, 0x77})
		}, wire.ErrMalformed},
		{"system frame that is not msgpack", func(p *rawPeer) []byte {
			return wire.AppendFrame(nil, p.spec(wire.KindSystem, 0), nil, []byte{0xc1})
		}, wire.ErrBadPayload},
		{"unknown system operation", func(p *rawPeer) []byte {
			body, _ := wire.Marshal(&rawSysMsg{Op: 99, Target: "sink"})
			return wire.AppendFrame(nil, p.spec(wire.KindSystem, 0), nil, body)
		}, nil},
		{"ADD_ROUTE that is not msgpack", func(p *rawPeer) []byte {
			return wire.AppendFrame(nil, p.spec(wire.KindAddRoute, 0), nil, []byte{0xc1})
		}, wire.ErrBadPayload},
		{"DEL_ROUTE that is not msgpack", func(p *rawPeer) []byte {
			return wire.AppendFrame(nil, p.spec(wire.KindDelRoute, 0), nil, []byte{0x92})
		}, wire.ErrBadPayload},
		{"stream ends inside a frame", func(p *rawPeer) []byte {
			return header(wire.KindUser, 0, p.id, 0, 100) // then the peer hangs up
		}, nil},
	}
	k := newKinds()
	root := newRoot(t, actors.Config{Setup: setups(typeSetup, k.setup), MaxFrame: 256 << 10})
	good := attach(t, root, "good", actors.Config{Setup: setups(typeSetup, k.setup)})
	echo := spawnRemote(t, root, good.link.ID, "echo", "")
	if _, err := root.System().Root.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {}), "sink"); err != nil {
		t.Fatal(err)
	}
	downs := subscribeContextDown(t, root)
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			raw, link := attachRaw(t, root, "mallory")
			raw.tryWriteRaw(tt.bytes(raw))
			if tt.name == "stream ends inside a frame" {
				_ = raw.conn.Close()
			}
			if !closedWithin(link.Done(), waitLong) {
				t.Fatal("link still up after a protocol violation")
			}
			err := link.Err()
			if tt.name == "stream ends inside a frame" {
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("link error %v, want io.ErrUnexpectedEOF", err)
				}
			} else {
				var pe *actors.ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("link error %v (%T), want a *actors.ProtocolError", err, err)
				}
				if !strings.Contains(err.Error(), "protocol error") {
					t.Errorf("link error %q does not say protocol error", err)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("link error %v does not wrap %v", err, tt.is)
				}
			}
			cd := contextDownFor(t, downs, raw.id)
			if cd.Reason == nil || cd.Reason.Reason == "" {
				t.Errorf("ContextDown without reason: %+v", cd)
			}
			ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
			defer cancel()
			_, rerr := root.Request(ctx, actor.NewPID(actors.Address(raw.id), "x"), &Ping{})
			de := deadError(t, rerr, actors.ErrContextDead)
			if tt.name != "stream ends inside a frame" && !strings.Contains(de.Reason, "protocol error") {
				t.Errorf("IS_DEAD reason %q does not carry the protocol error", de.Reason)
			}
			// The rest of the tree keeps working.
			ping(t, root, echo, "still serving")
		})
	}
	if isClosed(root.Stopping()) {
		t.Fatalf("root stopping: %v", root.StopReason())
	}
}

// TestRouter_UnknownKind: a frame of a kind the destination does not handle
// is answered with IS_DEAD (rejected); the link stays up.
func TestRouter_UnknownKind(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup})
	raw, link := attachRaw(t, root, "mallory")
	for _, kind := range []wire.Kind{777, 0, 65535, wire.KindCallFunction, wire.KindGetBinary,
		wire.KindLoadBinary, wire.KindForwardBinary, wire.KindDetaching, wire.KindCallService} {
		kind := kind
		t.Run(kind.String(), func(t *testing.T) {
			raw.send(raw.spec(kind, 0), nil)
			d := raw.expectDead("IS_DEAD for "+kind.String(), func(wire.DeadReply) bool { return true })
			if d.Code != wire.DeadRejected {
				t.Errorf("dead reply code %v, want rejected", d.Code)
			}
			if !strings.Contains(d.Reason, "unknown kind") || !strings.Contains(d.Reason, kind.String()) {
				t.Errorf("dead reply reason %q, want it to name unknown kind %s", d.Reason, kind)
			}
			if d.TargetCtx != 0 {
				t.Errorf("dead reply target ctx %d, want 0", d.TargetCtx)
			}
			if isClosed(link.Done()) {
				t.Fatalf("link closed: %v", link.Err())
			}
		})
	}
	// The IS_DEAD frame itself is addressed to the raw peer from the root.
	raw.send(raw.spec(777, 0), nil)
	f := raw.expect(waitLong, "IS_DEAD frame", func(f wire.Frame) bool { return f.Header().Kind() == wire.KindDead })
	if h := f.Header(); h.Dst() != raw.id || h.Src() != 0 || h.Auth() != 0 {
		t.Errorf("IS_DEAD header dst=%d src=%d auth=%d, want dst=%d src=0 auth=0", h.Dst(), h.Src(), h.Auth(), raw.id)
	}
}

// TestRouter_PrivilegedKindsFromChild: spawning and shutting down are a
// parent's rights. A child asking its parent or a sibling is refused (spawn
// with IS_DEAD rejected), and nobody stops.
func TestRouter_PrivilegedKindsFromChild(t *testing.T) {
	k := newKinds()
	cfg := actors.Config{Setup: setups(typeSetup, k.setup)}
	root := newRoot(t, cfg)
	sib := attach(t, root, "sibling", cfg)
	raw, link := attachRaw(t, root, "mallory")

	tests := []struct {
		name string
		dst  uint32
		node *actors.Node
	}{
		{"to the root", 0, root},
		{"to a sibling", sib.link.ID, sib.node},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			replyID := "$rEvil-" + strings.ReplaceAll(tt.name, " ", "-")
			raw.send(raw.spec(wire.KindSpawnActor, tt.dst), &rawSpawnRequest{ReplyID: replyID, Kind: "echo", Name: "evil"})
			d := raw.expectDead("spawn refusal", func(d wire.DeadReply) bool { return d.SenderID == replyID })
			if d.Code != wire.DeadRejected {
				t.Errorf("spawn answered with code %v, want rejected", d.Code)
			}
			if !d.HasSender || d.SenderCtx != raw.id {
				t.Errorf("dead reply sender %v/%d, want %d", d.HasSender, d.SenderCtx, raw.id)
			}
			if _, ok := tt.node.System().ProcessRegistry.GetLocal("evil"); ok {
				t.Error("the actor was spawned")
			}

			raw.send(raw.spec(wire.KindShutdown, tt.dst), nil)
			raw.barrier(tt.dst)
			if isClosed(tt.node.Stopping()) {
				t.Fatalf("%s stops on a child's SHUTDOWN: %v", tt.node.Name(), tt.node.StopReason())
			}
		})
	}
	t.Run("forged parent authority", func(t *testing.T) {
		// Claiming the root's authority does not pass the root's
		// reverse-path check, so the sibling never sees the frame.
		raw.send(wire.FrameSpec{Kind: wire.KindSpawnActor, Dst: sib.link.ID, Src: raw.id, Auth: 0},
			&rawSpawnRequest{ReplyID: "$rForged", Kind: "echo", Name: "forged"})
		raw.send(wire.FrameSpec{Kind: wire.KindShutdown, Dst: sib.link.ID, Src: raw.id, Auth: 0}, nil)
		raw.barrier(sib.link.ID) // the sibling has handled whatever reached it
		if _, ok := sib.node.System().ProcessRegistry.GetLocal("forged"); ok {
			t.Error("the sibling spawned an actor on a forged authority")
		}
		if isClosed(sib.node.Stopping()) {
			t.Errorf("the sibling stopped on a forged SHUTDOWN: %v", sib.node.StopReason())
		}
		for _, f := range raw.drain() {
			if f.Header().Kind() == wire.KindUser {
				t.Errorf("raw peer got a USER frame (a spawn reply?) from %d", f.Header().Src())
			}
		}
	})
	t.Run("bad ALLOCATE_ID", func(t *testing.T) {
		for _, count := range []uint32{0, 1025, 1 << 31} {
			replyID := "$rAlloc"
			raw.send(raw.spec(wire.KindAllocateID, 0), &rawAllocRequest{ReplyID: replyID, Count: count})
			d := raw.expectDead("ALLOCATE_ID refusal", func(d wire.DeadReply) bool { return d.SenderID == replyID })
			if d.Code != wire.DeadRejected {
				t.Errorf("ALLOCATE_ID(%d) answered with code %v, want rejected", count, d.Code)
			}
		}
	})
	if isClosed(link.Done()) {
		t.Fatalf("link closed: %v", link.Err())
	}
	// The root and the sibling are fine.
	ping(t, root, spawnRemote(t, root, sib.link.ID, "echo", ""), "fine")
}

// TestRouter_SpoofedTerminated: a child must not be able to tell a root
// watcher that an actor in another context terminated (the SYSTEM body
// names the terminated actor's context; only that context may say so).
func TestRouter_SpoofedTerminated(t *testing.T) {
	root, c, _ := pair(t)
	raw, _ := attachRaw(t, root, "mallory")
	victim := spawnRemote(t, root, c.link.ID, "echo", "")
	events := make(chan watchEvent, 8)
	watcher := spawnWatcher(t, root, victim, events)
	ping(t, root, victim, "watch in place")

	raw.send(raw.spec(wire.KindSystem, 0), &rawSysMsg{Op: rawOpTerminated, Target: watcher.Id,
		PeerCtx: c.link.ID, PeerID: victim.Id, Why: int32(actor.TerminatedReason_Stopped)})
	raw.barrier(0)
	root.System().Root.Send(watcher, &Ping{Text: "marker"})
	ev := recv(t, events, waitLong, "the marker")
	if ev.term != nil {
		t.Fatalf("watcher got a forged Terminated{%s, %v} from context %d",
			pidString(ev.term.Who), ev.term.Why, raw.id)
	}
	// The real thing still arrives.
	root.System().Root.Stop(victim)
	if term := nextTerminated(t, events, waitLong); !samePID(term.Who, victim) {
		t.Errorf("Terminated.Who = %s, want %s", pidString(term.Who), pidString(victim))
	}
}

// TestHandshake_BadPeer: AttachChild fails cleanly, on time, and without
// adding a route when the child answers the hello wrongly.
func TestHandshake_BadPeer(t *testing.T) {
	tests := []struct {
		name   string
		answer func(h wire.Hello) []byte // nil: hang up
		check  func(t *testing.T, err error)
		reject bool // the peer must then read a version reject
	}{
		{"wrong version", func(h wire.Hello) []byte {
			b := childHello(h, "x")
			b[2] = wire.Version + 1
			return b
		}, func(t *testing.T, err error) {
			if !errors.Is(err, wire.ErrVersion) {
				t.Errorf("AttachChild: %v, want wire.ErrVersion", err)
			}
			var ve *wire.VersionError
			if errors.As(err, &ve) && (ve.Local != wire.Version || ve.Remote != wire.Version+1) {
				t.Errorf("VersionError %+v", ve)
			}
		}, true},
		{"first frame not hello", func(h wire.Hello) []byte {
			return wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindUser, Dst: h.ContextID, Src: h.AssignedID, Auth: h.AssignedID}, nil, []byte{0})
		}, wantProtocolError, false},
		{"refused hello", func(h wire.Hello) []byte {
			return wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindHello, Flags: wire.FlagError}, nil, []byte("go away"))
		}, wantProtocolError, false},
		{"malformed hello body", func(h wire.Hello) []byte {
			return wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindHello, Dst: h.ContextID, Src: h.AssignedID, Auth: h.AssignedID}, nil, []byte{1, 2, 3})
		}, func(t *testing.T, err error) {
			if !errors.Is(err, wire.ErrMalformed) {
				t.Errorf("AttachChild: %v, want wire.ErrMalformed", err)
			}
		}, false},
		{"claims another context ID", func(h wire.Hello) []byte {
			h.AssignedID += 100
			return childHello(h, "x")
		}, func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "claims context") {
				t.Errorf("AttachChild: %v, want a refusal of the claimed ID", err)
			}
		}, false},
		{"garbage", func(wire.Hello) []byte { return []byte("SSH-2.0-OpenSSH_9.6\r\n" + strings.Repeat("x", 64)) },
			func(t *testing.T, err error) {
				if !errors.Is(err, wire.ErrBadMagic) {
					t.Errorf("AttachChild: %v, want wire.ErrBadMagic", err)
				}
			}, false},
		{"hang up", nil, func(t *testing.T, err error) {
			if err == nil {
				t.Error("AttachChild succeeded with a peer that hung up")
			}
		}, false},
		{"oversize hello", func(h wire.Hello) []byte {
			return header(wire.KindHello, h.ContextID, h.AssignedID, 0, 1<<30)
		}, func(t *testing.T, err error) {
			if !errors.Is(err, wire.ErrFrameTooLarge) {
				t.Errorf("AttachChild: %v, want wire.ErrFrameTooLarge", err)
			}
		}, false},
	}
	root := newRoot(t, actors.Config{Setup: typeSetup})
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			parentEnd, peerEnd := net.Pipe()
			defer peerEnd.Close()
			res := attachAsync(root, "bad", parentEnd, ctxLong)
			r := wire.NewReader(peerEnd, 1<<20)
			h := readParentHello(t, r)
			if tt.answer == nil {
				_ = peerEnd.Close()
			} else {
				_ = peerEnd.SetDeadline(time.Now().Add(waitLong))
				_, _ = peerEnd.Write(tt.answer(h))
			}
			if tt.reject {
				f, err := r.ReadFrame()
				if err != nil {
					t.Fatalf("peer: reading the reject: %v", err)
				}
				if f.Header().Kind() != wire.KindHello || !f.Header().Flags().Has(wire.FlagError) {
					t.Errorf("peer read %s flags %s, want HELLO with ERROR", f.Header().Kind(), f.Header().Flags())
				}
				if !strings.Contains(string(f.Body()), "version") {
					t.Errorf("reject body %q does not mention the version", f.Body())
				}
			}
			out := recv(t, res, waitLong, "AttachChild to return")
			if out.err == nil {
				out.link.Close()
				t.Fatal("AttachChild succeeded")
			}
			if out.took > atOnce {
				t.Errorf("AttachChild took %v", out.took)
			}
			tt.check(t, out.err)
			if _, ok := root.Routes()[h.AssignedID]; ok {
				t.Errorf("root routes to %d after a failed handshake", h.AssignedID)
			}
		})
	}
	// The root still attaches a good child afterwards.
	ok := attach(t, root, "good", actors.Config{Setup: typeSetup})
	if _, found := root.Routes()[ok.link.ID]; !found {
		t.Error("no route to the good child")
	}
}

func wantProtocolError(t *testing.T, err error) {
	t.Helper()
	var pe *actors.ProtocolError
	if !errors.As(err, &pe) {
		t.Errorf("AttachChild: %v (%T), want a *actors.ProtocolError", err, err)
	}
}

// TestHandshake_JoinWrongVersion: the child side rejects a parent speaking
// another version with a version reject, and reports wire.ErrVersion.
func TestHandshake_JoinWrongVersion(t *testing.T) {
	parentEnd, childEnd := net.Pipe()
	defer parentEnd.Close()
	type joined struct {
		n   *actors.Node
		err error
	}
	ch := make(chan joined, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		n, err := actors.Join(ctx, actors.Config{Logger: newLogStore(t).logger()},
			actors.Transport{R: childEnd, W: childEnd, C: childEnd})
		ch <- joined{n, err}
	}()
	hello := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindHello, Dst: 5, Src: 0, Auth: 0}, nil,
		wire.AppendHello(nil, wire.Hello{ContextID: 0, AssignedID: 5, Incarnation: uuid.New(),
			ParentIDs: []uint32{0}, Name: "x", MaxFrame: 1 << 20}))
	hello[2] = wire.Version + 1
	_ = parentEnd.SetDeadline(time.Now().Add(waitLong))
	if _, err := parentEnd.Write(hello); err != nil {
		t.Fatalf("write hello: %v", err)
	}
	f, err := wire.NewReader(parentEnd, 1<<20).ReadFrame()
	if err != nil {
		t.Fatalf("reading the reject: %v", err)
	}
	if f.Header().Kind() != wire.KindHello || !f.Header().Flags().Has(wire.FlagError) {
		t.Errorf("child answered %s flags %s, want HELLO with ERROR", f.Header().Kind(), f.Header().Flags())
	}
	j := recv(t, ch, waitLong, "Join to return")
	if j.err == nil {
		shutdown(t, j.n)
		t.Fatal("Join succeeded")
	}
	if !errors.Is(j.err, wire.ErrVersion) {
		t.Errorf("Join: %v, want wire.ErrVersion", j.err)
	}
}

// TestHandshake_Timeout: a child that never answers makes AttachChild fail
// at the caller's deadline.
func TestHandshake_Timeout(t *testing.T) {
	root := newRoot(t, actors.Config{})
	parentEnd, peerEnd := net.Pipe()
	defer peerEnd.Close()
	res := attachAsync(root, "silent", parentEnd, 200*time.Millisecond)
	readParentHello(t, wire.NewReader(peerEnd, 1<<20)) // read, never answer
	out := recv(t, res, waitLong, "AttachChild to time out")
	if !errors.Is(out.err, context.DeadlineExceeded) {
		t.Fatalf("AttachChild: %v, want context.DeadlineExceeded", out.err)
	}
}

// TestHandshake_PeerNeverReads: the handshake timeout bounds the whole
// handshake, including writing our hello to a peer that does not read.
func TestHandshake_PeerNeverReads(t *testing.T) {
	root := newRoot(t, actors.Config{HandshakeTimeout: 200 * time.Millisecond})
	parentEnd, peerEnd := net.Pipe() // synchronous: a write waits for a reader
	res := attachAsync(root, "deaf", parentEnd, 200*time.Millisecond)
	select {
	case out := <-res:
		if out.err == nil {
			out.link.Close()
			t.Fatal("AttachChild succeeded with a peer that never read")
		}
	case <-time.After(3 * time.Second):
		t.Errorf("AttachChild still blocked 3s after its 200ms deadline: writing the hello is not bounded by " +
			"the handshake context (actors/handshake.go AttachChild, t.W.Write before readHello)")
		_ = peerEnd.Close() // unblock it
		<-res
	}
	_ = peerEnd.Close()
	_ = parentEnd.Close()
}
