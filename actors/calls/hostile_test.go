package calls_test

// Hostile-child tests: a raw peer sends every kind of package calls, with
// bodies a Node never would, and floods; each test is named for the attack.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/wire"
)

// TestHostile_CallFunctionFromChild: a child's CALL_FUNCTION to its parent
// is refused, also with a forged source or authority (dropped by the
// reverse-path check before any handler).
func TestHostile_CallFunctionFromChild(t *testing.T) {
	root := newRoot(t, calls.Config{})
	p := attachRaw(t, root, "hostile")
	id := randID()
	p.send(wire.KindCallFunction, 0, rawRequest(id, 0, "echo", "", mustMarshal(t, &Echo{})))
	if code := p.reply(id); code != string(calls.CodeRefused) {
		t.Fatalf("CALL_FUNCTION from a child: code %q, want refused", code)
	}
	forged := randID()
	p.sendAs(wire.KindCallFunction, 0, 0, 0, rawRequest(forged, 0, "echo", "", mustMarshal(t, &Echo{}))) // "from the root"
	p.sendAs(wire.KindCallFunction, 0, p.id, 0, rawRequest(forged, 0, "echo", "", mustMarshal(t, &Echo{})))
	p.barrier(0)
	waitFor(t, waitLong, "no call held", func() bool { return calls.Of(root).Stats().Calls == 0 })
	p.linkUp()
}

// TestHostile_GarbageBodies: malformed bodies of every kind are refused or
// dropped; the link stays up and the root keeps answering.
func TestHostile_GarbageBodies(t *testing.T) {
	root := newRoot(t, calls.Config{})
	p := attachRaw(t, root, "hostile")
	id := randID()
	long := make([]byte, 300)
	bodies := [][]byte{nil, {0}, {1}, make([]byte, 16), make([]byte, 17), make([]byte, 25), make([]byte, 26), long,
		append([]byte{7}, make([]byte, 40)...), // unknown version
		rawRequest(id, 0, "", "", nil),         // empty name
		rawRequest(id, -1, "pub", "echo", nil)[:30],
		append(rawRequest(id, 0, "pub", "echo", nil)[:26], 200), // name longer than the frame
	}
	for _, kind := range []wire.Kind{wire.KindCallFunction, wire.KindCallService, wire.KindCallReply, wire.KindCallCancel} {
		for _, b := range bodies {
			p.send(kind, 0, b)
		}
	}
	// Well-formed heads with garbage msgpack: bad request.
	bad := randID()
	p.send(wire.KindCallService, 0, rawRequest(bad, 0, "pub", "echo", []byte{0xc1, 0xff, 0x00}))
	if code := p.reply(bad); code != string(calls.CodeBadRequest) {
		t.Fatalf("garbage request payload: code %q, want bad_request", code)
	}
	gen := randID() // a handler of a type with generated codecs
	p.send(wire.KindCallService, 0, rawRequest(gen, 0, "pub", "gen", []byte{0x81, 0xa2, 'I', 'D', 0xc1}))
	if code := p.reply(gen); code != string(calls.CodeBadRequest) {
		t.Fatalf("garbage generated-type payload: code %q, want bad_request", code)
	}
	trailing := randID()
	p.send(wire.KindCallService, 0, rawRequest(trailing, 0, "pub", "echo", append(mustMarshal(t, &Echo{}), 0x01)))
	if code := p.reply(trailing); code != string(calls.CodeBadRequest) {
		t.Fatalf("trailing bytes: code %q, want bad_request", code)
	}
	huge := randID()
	p.send(wire.KindCallService, 0, rawRequest(huge, 1<<63-1, "pub", "echo", mustMarshal(t, &Echo{})))
	if code := p.reply(huge); code != string(calls.CodeBadRequest) {
		t.Fatalf("absurd timeout: code %q, want bad_request", code)
	}
	p.barrier(0)
	p.linkUp()
	waitFor(t, waitLong, "no call held", func() bool { s := calls.Of(root).Stats(); return s.Calls == 0 && s.HeldBytes == 0 })
	k := attach(t, root, "good")
	if _, err := calls.Call[Echo, Echoed](ctxWith(t, waitLong), calls.Of(root), k.link.ID, "echo", &Echo{}); err != nil {
		t.Fatalf("root after garbage: %v", err)
	}
}

// TestHostile_UnknownNamesAndPolicy: unknown services and methods are
// not_found; a service whose policy refuses the child is refused.
func TestHostile_UnknownNamesAndPolicy(t *testing.T) {
	root := newRoot(t, calls.Config{})
	p := attachRaw(t, root, "hostile")
	cases := []struct {
		service, method, want string
	}{
		{"nope", "echo", string(calls.CodeNotFound)},
		{"pub", "nope", string(calls.CodeNotFound)},
		{"pub", "", string(calls.CodeNotFound)},
		{"priv", "echo", string(calls.CodeRefused)},
		{"pub", "echo", ""},
	}
	for _, c := range cases {
		id := randID()
		p.send(wire.KindCallService, 0, rawRequest(id, 0, c.service, c.method, mustMarshal(t, &Echo{})))
		if got := p.reply(id); got != c.want {
			t.Errorf("%s.%s: code %q, want %q", c.service, c.method, got, c.want)
		}
	}
}

// TestHostile_ForgedAndMisdirectedReplies: an answer is accepted only for
// a pending call and only from the context the call was sent to: guessed
// IDs and a sibling that learnt a real ID are dropped.
func TestHostile_ForgedAndMisdirectedReplies(t *testing.T) {
	root := newRoot(t, calls.Config{})
	target := attachRaw(t, root, "target")
	sibling := attachRaw(t, root, "sibling")
	ep := calls.Of(root)
	done := make(chan *Echoed, 1)
	errs := make(chan error, 1)
	go func() {
		got, err := calls.Call[Echo, Echoed](ctxWith(t, ctxLong), ep, target.id, "echo", &Echo{Text: "q"})
		if err != nil {
			errs <- err
			return
		}
		done <- got
	}()
	f := target.expect("the call", func(f wire.Frame) bool { return f.Header().Kind() == wire.KindCallFunction })
	var id [16]byte
	copy(id[:], f.Body()[1:17])
	forgedAnswer := mustMarshal(t, &Echoed{Text: "forged"})
	for range 1000 { // guessed IDs, from the target itself
		target.send(wire.KindCallReply, 0, rawReply(randID(), forgedAnswer))
	}
	sibling.send(wire.KindCallReply, 0, rawReply(id, forgedAnswer)) // the real ID, from another context
	sibling.sendAs(wire.KindCallReply, 0, target.id, target.id, rawReply(id, forgedAnswer))
	sibling.barrier(0)
	target.barrier(0)
	if s := ep.Stats(); s.Pending != 1 {
		t.Fatalf("root's call no longer pending (%d) after forged replies", s.Pending)
	}
	target.send(wire.KindCallReply, 0, rawReply(id, mustMarshal(t, &Echoed{Text: "real"})))
	select {
	case got := <-done:
		if got.Text != "real" {
			t.Fatalf("answer %q, want the target's", got.Text)
		}
	case err := <-errs:
		t.Fatal(err)
	}
	target.linkUp()
	sibling.linkUp()
}

// TestHostile_ForgedCancel: only the caller can cancel its call; a cancel
// for an unknown call leaves no record.
func TestHostile_ForgedCancel(t *testing.T) {
	root := newRoot(t, calls.Config{})
	caller := attachRaw(t, root, "caller")
	other := attachRaw(t, root, "other")
	id := randID()
	caller.send(wire.KindCallService, 0, rawRequest(id, 0, "pub", "block", mustMarshal(t, &Block{Key: "fc"})))
	recv(t, stateOf(root).startedCh("fc"), waitLong, "handler start")
	other.send(wire.KindCallCancel, 0, id[:])
	other.sendAs(wire.KindCallCancel, 0, caller.id, caller.id, id[:]) // spoofed source: dropped
	for range 1000 {
		other.send(wire.KindCallCancel, 0, func() []byte { x := randID(); return x[:] }())
	}
	other.barrier(0) // the barrier's own call is forgotten just after its reply
	waitFor(t, waitLong, "the barrier call forgotten", func() bool { return calls.Of(root).Stats().Calls == 1 })
	select {
	case e := <-stateOf(root).ended:
		t.Fatalf("forged cancels ended the call: %+v", e)
	default:
	}
	caller.send(wire.KindCallCancel, 0, id[:])
	e := recv(t, stateOf(root).ended, waitLong, "handler end")
	if !e.Canceled {
		t.Fatalf("handler saw %+v, want cancelled", e)
	}
	waitFor(t, waitLong, "the call forgotten", func() bool { return calls.Of(root).Stats().Calls == 0 })
}

// TestHostile_DuplicateCallID: a second call with an ID in use is refused;
// the first is unaffected.
func TestHostile_DuplicateCallID(t *testing.T) {
	root := newRoot(t, calls.Config{})
	p := attachRaw(t, root, "hostile")
	id := randID()
	p.send(wire.KindCallService, 0, rawRequest(id, 0, "pub", "block", mustMarshal(t, &Block{Key: "dup"})))
	recv(t, stateOf(root).startedCh("dup"), waitLong, "handler start")
	p.send(wire.KindCallService, 0, rawRequest(id, 0, "pub", "echo", mustMarshal(t, &Echo{})))
	if code := p.reply(id); code != string(calls.CodeBadRequest) {
		t.Fatalf("duplicate ID: code %q, want bad_request", code)
	}
	select {
	case e := <-stateOf(root).ended:
		t.Fatalf("the duplicate ended the first call: %+v", e)
	default:
	}
	p.send(wire.KindCallCancel, 0, id[:])
	recv(t, stateOf(root).ended, waitLong, "handler end")
}

// TestHostile_FloodBoundedAndFreedOnDeath: a child that floods an
// AnyContext service holds at most MaxPerCaller calls (the rest are busy),
// and everything it held is freed, handlers cancelled, when it dies.
func TestHostile_FloodBoundedAndFreedOnDeath(t *testing.T) {
	const perCaller, flood = 3, 1000
	root := newRoot(t, calls.Config{MaxPerCaller: perCaller})
	ep := calls.Of(root)
	p := attachRaw(t, root, "flooder")
	for i := range flood {
		p.send(wire.KindCallService, 0, rawRequest(randID(), 0, "pub", "block", mustMarshal(t, &Block{Key: fmt.Sprint("f", i)})))
	}
	got := p.replies(flood - perCaller)
	busy := 0
	for _, code := range got {
		if code == string(calls.CodeBusy) {
			busy++
		}
	}
	s := ep.Stats()
	t.Logf("flood of %d calls: %d busy, root holds %+v", flood, busy, s)
	if busy != flood-perCaller || s.Calls != perCaller || s.Callers != 1 {
		t.Fatalf("%d busy, root holds %+v; want %d busy and %d calls", busy, s, flood-perCaller, perCaller)
	}
	// A sibling has a budget of its own: its call is admitted (queued).
	q := attachRaw(t, root, "sibling")
	q.send(wire.KindCallService, 0, rawRequest(randID(), 0, "pub", "block", mustMarshal(t, &Block{Key: "sib"})))
	waitFor(t, waitLong, "the sibling's call admitted", func() bool { return ep.Stats().Callers == 2 })
	_ = p.conn.Close()
	<-p.link.Done()
	recv(t, stateOf(root).startedCh("sib"), waitLong, "the sibling's call runs once the flooder is gone")
	waitFor(t, waitLong, "the flooder's calls freed", func() bool { s := ep.Stats(); return s.Calls == 1 && s.Callers == 1 })
	for range 2 { // the running ones (the service runs 2) were cancelled
		if e := recv(t, stateOf(root).ended, waitLong, "cancelled handler"); !e.Canceled {
			t.Fatalf("handler %+v not cancelled", e)
		}
	}
}

// TestHostile_RequestBytesBounded: a request over MaxRequest is refused,
// and the bytes held by one caller's calls stay within MaxHeld.
func TestHostile_RequestBytesBounded(t *testing.T) {
	const maxReq, maxHeld = 64 << 10, 128 << 10
	root := newRoot(t, calls.Config{MaxRequest: maxReq, MaxHeld: maxHeld, MaxPerCaller: 10})
	p := attachRaw(t, root, "hoarder")
	big := randID()
	p.send(wire.KindCallService, 0, rawRequest(big, 0, "pub", "echo", mustMarshal(t, &Blob{B: make([]byte, maxReq+1)})))
	if code := p.reply(big); code != string(calls.CodeTooLarge) {
		t.Fatalf("request over MaxRequest: code %q, want too_large", code)
	}
	// "pub.block" takes a Block; a Block with a 60 KiB key holds 60 KiB.
	key := make([]byte, 60<<10)
	for i := range key {
		key[i] = 'k'
	}
	var ids [][16]byte
	for i := range 4 {
		id := randID()
		ids = append(ids, id)
		k := fmt.Sprint(i, string(key))
		p.send(wire.KindCallService, 0, rawRequest(id, 0, "pub", "block", mustMarshal(t, &Block{Key: k})))
	}
	got := p.replies(2)
	s := calls.Of(root).Stats()
	t.Logf("4 requests of 60 KiB: root holds %+v", s)
	for _, code := range got {
		if code != string(calls.CodeBusy) {
			t.Fatalf("codes %v, want busy", got)
		}
	}
	if s.HeldBytes > maxHeld || s.Calls != 2 {
		t.Fatalf("root holds %+v, want 2 calls within %d bytes", s, maxHeld)
	}
	for _, id := range ids {
		p.send(wire.KindCallCancel, 0, id[:])
	}
	waitFor(t, waitLong, "held bytes freed", func() bool { return calls.Of(root).Stats().HeldBytes == 0 })
}

// TestHostile_ConcurrentCallsToHostileTarget: a target that answers the
// root's concurrent calls with garbage fails each of them with a typed
// error and leaves nothing pending.
func TestHostile_ConcurrentCallsToHostileTarget(t *testing.T) {
	root := newRoot(t, calls.Config{})
	p := attachRaw(t, root, "target")
	ep := calls.Of(root)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	ctx, cancel := context.WithCancel(context.Background())
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := calls.Call[Echo, Echoed](ctx, ep, p.id, "echo", &Echo{})
			errs <- err
		}()
	}
	// The target answers each call with garbage: a bad answer is an error
	// at the caller, never a crash.
	for range n {
		f := p.expect("a call", func(f wire.Frame) bool { return f.Header().Kind() == wire.KindCallFunction })
		var id [16]byte
		copy(id[:], f.Body()[1:17])
		p.send(wire.KindCallReply, 0, rawReply(id, []byte{0xc1}))
	}
	wg.Wait()
	cancel()
	close(errs)
	for err := range errs {
		if err == nil || !errors.Is(err, wire.ErrBadPayload) {
			t.Fatalf("garbage answer = %v, want ErrBadPayload", err)
		}
	}
	if s := ep.Stats(); s.Pending != 0 {
		t.Fatalf("%d calls still pending", s.Pending)
	}
}

// TestHostile_AnswerOverMaxReply: a target that answers with more than
// the caller's MaxReply fails the call with ErrTooLarge; nothing is kept.
func TestHostile_AnswerOverMaxReply(t *testing.T) {
	const maxReply = 64 << 10
	root := newRoot(t, calls.Config{MaxReply: maxReply})
	p := attachRaw(t, root, "target")
	ep := calls.Of(root)
	errs := make(chan error, 1)
	go func() {
		_, err := calls.Call[Big, Blob](ctxWith(t, ctxLong), ep, p.id, "big", &Big{})
		errs <- err
	}()
	f := p.expect("the call", func(f wire.Frame) bool { return f.Header().Kind() == wire.KindCallFunction })
	var id [16]byte
	copy(id[:], f.Body()[1:17])
	p.send(wire.KindCallReply, 0, rawReply(id, mustMarshal(t, &Blob{B: make([]byte, maxReply)})))
	if err := recv(t, errs, waitLong, "Call's return"); !errors.Is(err, calls.ErrTooLarge) {
		t.Fatalf("answer over MaxReply = %v, want ErrTooLarge", err)
	}
	if s := ep.Stats(); s.Pending != 0 {
		t.Fatalf("%d calls pending", s.Pending)
	}
}

// TestHostile_ForgedIsDeadForCall: a sibling that learnt a call's ID
// cannot fail it with a forged IS_DEAD (only a context on the path to the
// call's target may); the target itself may.
func TestHostile_ForgedIsDeadForCall(t *testing.T) {
	root := newRoot(t, calls.Config{})
	target := attachRaw(t, root, "target")
	sibling := attachRaw(t, root, "sibling")
	ep := calls.Of(root)
	errs := make(chan error, 1)
	go func() {
		_, err := calls.Call[Echo, Echoed](ctxWith(t, ctxLong), ep, target.id, "echo", &Echo{})
		errs <- err
	}()
	f := target.expect("the call", func(f wire.Frame) bool { return f.Header().Kind() == wire.KindCallFunction })
	var id [16]byte
	copy(id[:], f.Body()[1:17])
	sender := "$c" + base64.RawURLEncoding.EncodeToString(id[:])
	forged := wire.DeadReply{TargetCtx: target.id, HasSender: true, SenderCtx: 0, SenderID: sender,
		Code: wire.DeadUnreachable, Reason: "forged: target is dead"}
	sibling.send(wire.KindDead, 0, wire.AppendDeadReply(nil, forged))
	sibling.barrier(0)
	if s := ep.Stats(); s.Pending != 1 {
		t.Fatalf("a sibling's forged IS_DEAD failed the call (%d pending)", s.Pending)
	}
	target.send(wire.KindDead, 0, wire.AppendDeadReply(nil, forged)) // the target may say so itself
	if err := recv(t, errs, waitLong, "Call's return"); !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("the target's IS_DEAD = %v, want ErrContextDead", err)
	}
}

// countHandler counts log records by level and message.
type countHandler struct {
	mu *sync.Mutex
	n  map[string]int // "WARN refused call: busy" -> count
}

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.n[r.Level.String()+" "+r.Message]++
	h.mu.Unlock()
	return nil
}
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

// TestHostile_RefusalsLogOnce: a child repeating refused calls costs one
// Warn record per kind of refusal; the rest are Debug.
func TestHostile_RefusalsLogOnce(t *testing.T) {
	logs := countHandler{mu: &sync.Mutex{}, n: map[string]int{}}
	root := newRoot(t, calls.Config{MaxPerCaller: 1, Logger: slog.New(logs)})
	p := attachRaw(t, root, "noisy")
	const n = 200
	p.send(wire.KindCallService, 0, rawRequest(randID(), 0, "pub", "block", mustMarshal(t, &Block{Key: "hold"})))
	for range n { // the last frame is a call: its reply comes after every frame was handled
		p.send(wire.KindCallReply, 0, []byte{1})
		p.send(wire.KindCallFunction, 0, rawRequest(randID(), 0, "echo", "", mustMarshal(t, &Echo{})))
		p.send(wire.KindCallService, 0, rawRequest(randID(), 0, "pub", "echo", mustMarshal(t, &Echo{})))
	}
	p.replies(2 * n)
	logs.mu.Lock()
	defer logs.mu.Unlock()
	t.Logf("log records: %v", logs.n)
	for _, msg := range []string{"refused call", "refused call: busy", "dropped malformed call reply"} {
		if logs.n["WARN "+msg] != 1 || logs.n["DEBUG "+msg] != n-1 {
			t.Errorf("%q: %d Warn, %d Debug; want 1 and %d", msg, logs.n["WARN "+msg], logs.n["DEBUG "+msg], n-1)
		}
	}
}

// TestHostile_QuotedRefusalForAnotherContextsCall: an IS_DEAD that quotes
// a refused frame (a kind its sender does not handle) names the call the
// quote's head names, but only for a call to the context that refused it:
// a sibling that learnt a call's ID and quotes it as its own refusal does
// not fail a call to another context, and quotes that name nothing (a
// head too short, a link-local kind, a kind nobody handles here) change
// nothing and keep the link up.
func TestHostile_QuotedRefusalForAnotherContextsCall(t *testing.T) {
	root := newRoot(t, calls.Config{})
	target := attachRaw(t, root, "target")
	sibling := attachRaw(t, root, "sibling")
	ep := calls.Of(root)
	errs := make(chan error, 1)
	go func() {
		_, err := calls.Call[Echo, Echoed](ctxWith(t, ctxLong), ep, target.id, "echo", &Echo{})
		errs <- err
	}()
	f := target.expect("the call", func(f wire.Frame) bool { return f.Header().Kind() == wire.KindCallFunction })
	head := string(f.Body()[:min(len(f.Body()), wire.MaxRefusedHead)])
	for _, q := range []wire.DeadReply{
		{TargetCtx: sibling.id, Code: wire.DeadRejected, Refused: wire.KindCallFunction, RefusedHead: head},
		{TargetCtx: sibling.id, Code: wire.DeadRejected, Refused: wire.KindCallFunction, RefusedHead: head[:3]},
		{TargetCtx: sibling.id, Code: wire.DeadRejected, Refused: wire.KindPing, RefusedHead: head},
		{TargetCtx: sibling.id, Code: wire.DeadRejected, Refused: 4000, RefusedHead: head},
	} {
		sibling.send(wire.KindDead, 0, wire.AppendDeadReply(nil, q))
	}
	sibling.barrier(0) // the link is still up and every quote was handled
	if s := ep.Stats(); s.Pending != 1 {
		t.Fatalf("a sibling's quoted refusal failed a call to another context (%d pending)", s.Pending)
	}
	select {
	case err := <-errs:
		t.Fatalf("the call ended: %v", err)
	default:
	}
	// The target quoting the call as its own refusal fails it at once.
	target.send(wire.KindDead, 0, wire.AppendDeadReply(nil, wire.DeadReply{TargetCtx: target.id,
		Code: wire.DeadRejected, Reason: "unknown kind", Refused: wire.KindCallFunction, RefusedHead: head}))
	if err := recv(t, errs, waitLong, "Call's return"); !errors.Is(err, actors.ErrRejected) {
		t.Fatalf("the target's quoted refusal = %v, want ErrRejected", err)
	}
}
