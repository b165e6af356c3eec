package actors_test

// Attacks on the authority and authenticity of frames (issue 11, "Replies
// are not authenticated", "SYSTEM ops lack authority"; docs/security.md):
// a hostile child (a raw peer) guesses, steals or forges reply addresses,
// dead replies and SYSTEM operations.

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/fdcount"
	"github.com/spindle-go/spindle/wire"
)

// sniffReplyID waits for the USER frame of a request to the raw peer and
// returns the reply ID it names as sender.
func (p *rawPeer) sniffReplyID() string {
	p.t.Helper()
	f := p.expect(waitLong, "a request", func(f wire.Frame) bool { return f.Header().Kind() == wire.KindUser })
	e, err := wire.ParseEnvelope(f.Body())
	if err != nil || !e.HasSender {
		p.t.Fatalf("request envelope %+v: %v", e, err)
	}
	return e.SenderID
}

// userFrameFrom is userFrame with a sender PID in the envelope.
func (p *rawPeer) userFrameFrom(s wire.FrameSpec, target string, senderCtx uint32, senderID string, msg any) []byte {
	p.t.Helper()
	buf, start := wire.BeginFrame(nil, s)
	buf = wire.AppendEnvelopeHead(buf, wire.Envelope{Target: target, HasSender: true, SenderCtx: senderCtx,
		SenderID: senderID, Type: mustTypeName(p.t, p.reg, msg)})
	buf, err := appendPayload(p.reg, buf, msg)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := wire.FinishFrame(buf, start, 0); err != nil {
		p.t.Fatal(err)
	}
	return buf
}

// sendDead sends a dead reply.
func (p *rawPeer) sendDead(dst uint32, d wire.DeadReply) {
	p.t.Helper()
	p.writeRaw(wire.AppendFrame(nil, p.spec(wire.KindDead, dst), nil, wire.AppendDeadReply(nil, d)))
}

// countLogs counts the records of s at level with message msg from src.
func countLogs(s *logStore, level string, msg string, src uint32) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.recs {
		if r.level.String() == level && r.msg == msg && r.attrs["src"] == strconv.Itoa(int(src)) {
			n++
		}
	}
	return n
}

// recorder is a local actor that records the sender of every Ping and
// never answers.
func recorder(t testing.TB, n *actors.Node, name string) (*actor.PID, <-chan *actor.PID) {
	t.Helper()
	senders := make(chan *actor.PID, 16)
	pid, err := n.System().Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*Ping); ok {
			offer(senders, c.Sender())
		}
	}), name)
	if err != nil {
		t.Fatal(err)
	}
	return pid, senders
}

// TestRequest_ReplyIDsAreUnguessable: reply IDs carry 128 bits from
// crypto/rand, in a fixed form, and never repeat.
func TestRequest_ReplyIDsAreUnguessable(t *testing.T) {
	seen := make(map[string]bool)
	for i := 0; i < 10000; i++ {
		id := actors.NewReplyID()
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(id, "$r"))
		if !strings.HasPrefix(id, "$r") || err != nil || len(raw) != 16 {
			t.Fatalf("reply ID %q is not $r + 128 bits in base64url (%v)", id, err)
		}
		if seen[id] {
			t.Fatalf("reply ID %q repeated after %d", id, i)
		}
		seen[id] = true
	}
}

// guessesFrom returns reply IDs a child could guess after seeing one: the
// old counter form ("$r" + n) around and below it, and the seen ID with
// each character changed.
func guessesFrom(seen string) []string {
	var out []string
	for i := 0; i < 3000; i++ {
		out = append(out, "$r"+strconv.Itoa(i))
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for pos := 2; pos < len(seen); pos++ {
		for _, c := range []byte(alphabet[:8]) {
			if g := seen[:pos] + string(c) + seen[pos+1:]; g != seen {
				out = append(out, g)
			}
		}
	}
	return out
}

// TestRequest_ForgedPongToGuessedReplyIDs: a child that saw the root's
// reply IDs sends Pongs to the IDs it can guess; neither the root's request
// in flight to a sibling nor the one to a local actor (which any context
// may answer, as the local actor may have passed the request on) is
// answered by any of them.
func TestRequest_ForgedPongToGuessedReplyIDs(t *testing.T) {
	k := newKinds()
	cfg := actors.Config{Setup: setups(typeSetup, k.setup)}
	root := newRoot(t, cfg)
	sib := attach(t, root, "sibling", cfg)
	hole := spawnRemote(t, root, sib.link.ID, "blackhole", "")
	raw, link := attachRaw(t, root, "mallory")

	_ = requestAsync(root, actor.NewPID(actors.Address(raw.id), "x"), &Ping{Text: "to mallory"}, waitLong)
	seen := raw.sniffReplyID()
	local, senders := recorder(t, root, "local")
	victims := []<-chan outcome{
		requestAsync(root, hole, &Ping{Text: "to the sibling"}, 2*time.Second),
		requestAsync(root, local, &Ping{Text: "to a local actor"}, 2*time.Second),
	}
	recv(t, k.swallow, waitLong, "the sibling's blackhole to get the request")
	recv(t, senders, waitLong, "the local actor to get the request")
	guesses := guessesFrom(seen)
	for _, g := range guesses {
		raw.writeRaw(raw.userFrame(raw.spec(wire.KindUser, 0), g, &Pong{Text: "forged"}))
	}
	raw.barrier(0)
	for i, victim := range victims {
		out := recv(t, victim, waitLong, "the request to end")
		if out.v != nil {
			t.Fatalf("request %d was answered by a forged %#v (one of %d guesses)", i, out.v, len(guesses))
		}
		if !errors.Is(out.err, context.DeadlineExceeded) {
			t.Fatalf("request %d: %v, want its own deadline", i, out.err)
		}
	}
	if isClosed(link.Done()) {
		t.Fatalf("link closed: %v", link.Err())
	}
}

// TestRouter_ReplyIDAsSenderToSibling: a child names the root's reply
// process (whose ID it learnt from a request to itself) as the sender of a
// Ping to a sibling's echo actor, so that the echo's Pong would answer the
// root's request. The sibling refuses the message: the sender's context is
// not the frame's source. The refusal is a dead reply (rejected, policy)
// and one Warn record, however often the child repeats it.
func TestRouter_ReplyIDAsSenderToSibling(t *testing.T) {
	k := newKinds()
	cfg := actors.Config{Setup: setups(typeSetup, k.setup)}
	root := newRoot(t, cfg)
	sibLogs := newLogStore(t)
	sibCfg := cfg
	sibCfg.Logger = sibLogs.logger()
	sib := attach(t, root, "sibling", sibCfg)
	echo := spawnRemote(t, root, sib.link.ID, "echo", "")
	raw, _ := attachRaw(t, root, "mallory")

	stolen := requestAsync(root, actor.NewPID(actors.Address(raw.id), "x"), &Ping{Text: "to mallory"}, 2*time.Second)
	replyID := raw.sniffReplyID()
	for i := 0; i < 3; i++ {
		raw.writeRaw(raw.userFrameFrom(raw.spec(wire.KindUser, sib.link.ID), echo.Id, 0, replyID, &Ping{Text: "steal"}))
		d := raw.expectDead("the refusal", func(d wire.DeadReply) bool { return d.Target == echo.Id })
		if d.Code != wire.DeadRejected || d.Cause != wire.CausePolicy || d.TargetCtx != sib.link.ID {
			t.Fatalf("dead reply %+v, want rejected by policy in context %d", d, sib.link.ID)
		}
	}
	select {
	case s := <-k.echoed:
		t.Fatalf("the echo answered a Ping whose sender %s is in another context", pidString(s.sender))
	default:
	}
	out := recv(t, stolen, waitLong, "the root's request to end")
	if out.v != nil || !errors.Is(out.err, context.DeadlineExceeded) {
		t.Fatalf("the root's request ended with %#v, %v; want its own deadline", out.v, out.err)
	}
	if n := countLogs(sibLogs, "WARN", "refused message whose sender is in another context", raw.id); n != 1 {
		t.Errorf("%d Warn records for 3 refusals, want 1", n)
	}
	ping(t, root, echo, "still serving")
}

// TestRequest_ForgedIsDeadFromSibling: a child that knows a sibling's reply
// ID (here: the test tells it) forges an IS_DEAD "root is dead" for the
// sibling's request to the root. The sibling drops it: the child is not on
// the path to the root. The request still gets its real answer.
func TestRequest_ForgedIsDeadFromSibling(t *testing.T) {
	cfg := actors.Config{Setup: typeSetup}
	root := newRoot(t, cfg)
	target, senders := recorder(t, root, "slow")
	sib := attach(t, root, "sibling", cfg)
	raw, _ := attachRaw(t, root, "mallory")

	lost := make(chan *actors.Undeliverable, 4)
	sub := sib.node.System().EventStream.Subscribe(func(evt interface{}) {
		if u, ok := evt.(*actors.Undeliverable); ok {
			offer(lost, u)
		}
	})
	defer sib.node.System().EventStream.Unsubscribe(sub)

	out := requestAsync(sib.node, target, &Ping{Text: "to the root"}, waitLong)
	reply := recv(t, senders, waitLong, "the request at the root")
	raw.sendDead(sib.link.ID, wire.DeadReply{Target: target.Id, TargetCtx: 0, HasSender: true, SenderCtx: sib.link.ID,
		SenderID: reply.Id, Code: wire.DeadUnreachable, Reason: "root is dead", Cause: wire.CauseExit, Detail: 1})
	// Nor may it make up the loss of a message the sibling sent the root.
	raw.sendDead(sib.link.ID, wire.DeadReply{Target: target.Id, TargetCtx: 0, HasSender: true, SenderCtx: sib.link.ID,
		SenderID: "some-actor", Code: wire.DeadUnreachable, Reason: "lost"})
	raw.barrier(sib.link.ID)
	select {
	case u := <-lost:
		t.Errorf("the sibling published a made-up Undeliverable: %+v", u)
	default:
	}
	root.System().Root.Send(reply, &Pong{Text: "real"})
	o := recv(t, out, waitLong, "the sibling's request")
	if o.err != nil {
		t.Fatalf("the sibling's request failed on a forged IS_DEAD: %v", o.err)
	}
	if p, ok := o.v.(*Pong); !ok || p.Text != "real" {
		t.Fatalf("answer %#v, want the real Pong", o.v)
	}
}

// TestRequest_ForgedIsDeadFromCousin: inside one subtree the old rule
// ("same link as the target") let any context behind that link fail a
// request. Root -> middle -> {grandchild, mallory}: mallory forges IS_DEAD
// for the root's request to the grandchild; the root knows from ADD_ROUTE
// that mallory is not between it and the grandchild.
func TestRequest_ForgedIsDeadFromCousin(t *testing.T) {
	cfg := actors.Config{Setup: typeSetup}
	root := newRoot(t, cfg)
	mid := attach(t, root, "middle", cfg)
	grand := attach(t, mid.node, "grandchild", cfg)
	target, senders := recorder(t, grand.node, "slow")
	raw, _ := attachRaw(t, mid.node, "mallory")
	waitFor(t, waitLong, "the root to route to the grandchild and mallory", func() bool {
		r := root.Routes()
		_, g := r[grand.link.ID]
		_, m := r[raw.id]
		return g && m
	})

	out := requestAsync(root, target, &Ping{Text: "to the grandchild"}, waitLong)
	reply := recv(t, senders, waitLong, "the request at the grandchild")
	raw.sendDead(0, wire.DeadReply{Target: target.Id, TargetCtx: grand.link.ID, HasSender: true, SenderCtx: 0,
		SenderID: reply.Id, Code: wire.DeadUnreachable, Reason: "grandchild is dead"})
	raw.barrier(0)
	grand.node.System().Root.Send(reply, &Pong{Text: "real"})
	o := recv(t, out, waitLong, "the root's request")
	if o.err != nil {
		t.Fatalf("the root's request failed on a forged IS_DEAD: %v", o.err)
	}
}

// TestRequest_ForgedReplyToSiblingsRequest: a child that knows a sibling's
// reply ID sends it the answer to its request to the root. The sibling
// refuses it (only the root may answer a request to the root) and gets the
// real answer.
func TestRequest_ForgedReplyToSiblingsRequest(t *testing.T) {
	cfg := actors.Config{Setup: typeSetup}
	root := newRoot(t, cfg)
	target, senders := recorder(t, root, "slow")
	sib := attach(t, root, "sibling", cfg)
	raw, _ := attachRaw(t, root, "mallory")

	out := requestAsync(sib.node, target, &Ping{Text: "to the root"}, waitLong)
	reply := recv(t, senders, waitLong, "the request at the root")
	raw.writeRaw(raw.userFrame(raw.spec(wire.KindUser, sib.link.ID), reply.Id, &Pong{Text: "forged"}))
	d := raw.expectDead("the refusal", func(d wire.DeadReply) bool { return d.Target == reply.Id })
	if d.Code != wire.DeadRejected || d.Cause != wire.CausePolicy {
		t.Fatalf("dead reply %+v, want rejected by policy", d)
	}
	root.System().Root.Send(reply, &Pong{Text: "real"})
	o := recv(t, out, waitLong, "the sibling's request")
	if p, ok := o.v.(*Pong); o.err != nil || !ok || p.Text != "real" {
		t.Fatalf("the sibling's request ended with %#v, %v; want the real Pong", o.v, o.err)
	}
}

// TestRequest_OnPathTo pins who may fail a request with a dead reply, on a
// real tree: root -> {middle -> {grandchild -> great, mallory}, sibling}.
func TestRequest_OnPathTo(t *testing.T) {
	cfg := actors.Config{Setup: typeSetup}
	root := newRoot(t, cfg)
	mid := attach(t, root, "middle", cfg)
	sib := attach(t, root, "sibling", cfg)
	grand := attach(t, mid.node, "grandchild", cfg)
	mal := attach(t, mid.node, "mallory", cfg)
	great := attach(t, grand.node, "great", cfg)
	waitFor(t, waitLong, "the root to route to the grandchildren", func() bool {
		r := root.Routes()
		_, g := r[great.link.ID]
		_, m := r[mal.link.ID]
		return g && m
	})
	M, S, G, X, GG := mid.link.ID, sib.link.ID, grand.link.ID, mal.link.ID, great.link.ID
	tests := []struct {
		at           *actors.Node
		from, target uint32
		want         bool
	}{
		{root, G, G, true},  // the target itself
		{root, M, G, true},  // between
		{root, X, G, false}, // a cousin behind the same link
		{root, S, G, false}, // another branch
		{root, 0, G, true},  // ourselves
		{root, G, GG, true}, // two hops down (ADD_ROUTE carried the parent)
		{root, M, GG, true},
		{root, X, GG, false},
		{mid.node, G, GG, true},
		{great.node, M, 0, true},
		{great.node, X, 0, false},
		{grand.node, M, 0, true},
		{grand.node, 0, 0, true},
		{grand.node, X, 0, false}, // a sibling, "same route" as the root
		{grand.node, S, 0, false},
		{grand.node, 0, S, true}, // the common ancestor
		{grand.node, M, S, true}, // on the way up
		{grand.node, X, S, false},
		{mid.node, 0, X, false}, // the parent is not below us
		{mid.node, G, X, false},
		{sib.node, G, 0, false},
	}
	for _, tt := range tests {
		if got := tt.at.OnPathTo(tt.from, tt.target); got != tt.want {
			t.Errorf("context %d: OnPathTo(from %d, target %d) = %v, want %v", tt.at.ID(), tt.from, tt.target, got, tt.want)
		}
	}
}

// supervised spawns, in n, a parent actor "sup" (one-for-one, restarts)
// with a child "sup/worker" that panics on Ping "panic" and answers other
// Pings. Every start of the worker is reported on the returned channel.
func supervised(t testing.TB, n *actors.Node) (sup, worker *actor.PID, starts <-chan struct{}) {
	t.Helper()
	started := make(chan struct{}, 16)
	workerProps := actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			offer(started, struct{}{})
		case *Ping:
			if m.Text == "panic" {
				panic("worker: asked to")
			}
			c.Respond(&Pong{Text: m.Text})
		}
	})
	supProps := actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			c.SpawnNamed(workerProps, "worker")
		case *Ping:
			c.Respond(&Pong{Text: m.Text})
		}
	}, actor.WithSupervisor(actor.NewOneForOneStrategy(10, time.Minute, actor.DefaultDecider)))
	sup, err := n.System().Root.SpawnNamed(supProps, "sup")
	if err != nil {
		t.Fatal(err)
	}
	recv(t, started, waitLong, "the worker to start")
	return sup, actor.NewPID(sup.Address, sup.Id+"/worker"), started
}

// TestSystem_StopFromChild: a child's SYSTEM stop, restart and resume of
// actors in the root (a supervisor and its worker) and in a sibling are
// refused with a dead reply (rejected, policy); the supervisor keeps
// supervising, the sibling's actor keeps serving, and the root, an
// ancestor, can still stop the sibling's actor.
func TestSystem_StopFromChild(t *testing.T) {
	k := newKinds()
	cfg := actors.Config{Setup: setups(typeSetup, k.setup)}
	root := newRoot(t, cfg)
	sup, worker, starts := supervised(t, root)
	sib := attach(t, root, "sibling", cfg)
	echo := spawnRemote(t, root, sib.link.ID, "echo", "")
	raw, link := attachRaw(t, root, "mallory")

	for _, tt := range []struct {
		name   string
		dst    uint32
		target string
	}{
		{"root supervisor", 0, sup.Id},
		{"root worker", 0, worker.Id},
		{"sibling's actor", sib.link.ID, echo.Id},
	} {
		for _, op := range []uint8{rawOpStop, 6 /* restart */, 7 /* resume */} {
			raw.send(raw.spec(wire.KindSystem, tt.dst), &rawSysMsg{Op: op, Target: tt.target})
			d := raw.expectDead(tt.name+" refusal", func(d wire.DeadReply) bool { return d.Target == tt.target })
			if d.Code != wire.DeadRejected || d.Cause != wire.CausePolicy || d.TargetCtx != tt.dst {
				t.Errorf("%s op %d: dead reply %+v, want rejected by policy in context %d", tt.name, op, d, tt.dst)
			}
		}
	}
	if isClosed(link.Done()) {
		t.Fatalf("link closed: %v", link.Err())
	}
	ping(t, root, sup, "supervisor alive")
	ping(t, root, worker, "worker alive")
	root.System().Root.Send(worker, &Ping{Text: "panic"})
	recv(t, starts, waitLong, "the supervisor to restart its worker")
	ping(t, root, worker, "worker restarted")
	ping(t, root, echo, "sibling's actor alive")

	events := make(chan watchEvent, 4)
	spawnWatcher(t, root, echo, events)
	root.System().Root.Stop(echo)
	if term := nextTerminated(t, events, waitLong); !samePID(term.Who, echo) {
		t.Errorf("Terminated.Who = %s, want %s", pidString(term.Who), pidString(echo))
	}
}

// TestRouter_ForgedSenderWithDescriptors: a message refused for its forged
// sender is refused before decoding; the descriptors it carried are closed
// and the link keeps carrying descriptors.
func TestRouter_ForgedSenderWithDescriptors(t *testing.T) {
	p := attachUnixPeer(t)
	base := fdcount.Open(t)
	msg := p.payload(&FDMsg{Tag: "forged", File: nil})
	fds := p.fds(1)
	b, start := wire.BeginFrame(nil, wire.FrameSpec{Kind: wire.KindUser, Flags: wire.FlagFDs, Dst: p.root, Src: p.id, Auth: p.id})
	b = wire.AppendEnvelopeHead(b, wire.Envelope{FDs: 1, Target: "sink", HasSender: true, SenderCtx: p.root,
		SenderID: "$rSomeonesReply", Type: "*test.FDMsg"})
	b = append(b, msg...)
	if err := wire.FinishFrame(b, start, 0); err != nil {
		t.Fatal(err)
	}
	p.write(b, fds)
	d := recv(t, p.dead, waitLong, "IS_DEAD reply")
	if d.Code != wire.DeadRejected || d.Cause != wire.CausePolicy {
		t.Fatalf("dead reply %+v, want rejected by policy", d)
	}
	fdcount.Await(t, base+len(p.files), waitLong) // the received duplicate is closed
	good := p.fds(1)
	p.write(p.frame(1, p.payload(&FDMsg{Tag: "ok", File: p.files[len(p.files)-2]})), good)
	m := recv(t, p.got, waitLong, "a good message after the refused one")
	if m.File == nil {
		t.Fatal("no file in the good message")
	}
	_ = m.File.Close()
	if isClosed(p.link.Done()) {
		t.Fatalf("link closed: %v", p.link.Err())
	}
}
