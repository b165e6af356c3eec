package actors_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// TestRequest_RoundTrip spawns an echo actor in the other context and
// checks the answer, the sender PID and the headers the actor sees, in both
// directions of the link.
func TestRequest_RoundTrip(t *testing.T) {
	root, c, k := pair(t)
	tests := []struct {
		name     string
		from, to *actors.Node
		spawn    func(t *testing.T) *actor.PID
	}{
		{"root to child", root, c.node, func(t *testing.T) *actor.PID {
			return spawnRemote(t, root, c.link.ID, "echo", "")
		}},
		{"root to named actor in child", root, c.node, func(t *testing.T) *actor.PID {
			pid := spawnRemote(t, root, c.link.ID, "echo", "named-echo")
			if pid.Id != "named-echo" {
				t.Fatalf("SpawnRemote named: Id %q, want named-echo", pid.Id)
			}
			return pid
		}},
		{"child to root", c.node, root, func(t *testing.T) *actor.PID {
			props := actor.PropsFromFunc(func(ac actor.Context) {
				if m, ok := ac.Message().(*Ping); ok {
					offer(k.echoed, observe(ac, m))
					ac.Respond(&Pong{Text: m.Text})
				}
			})
			return root.System().Root.Spawn(props)
		}},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			pid := tt.spawn(t)
			if pid.Address != tt.to.Address() {
				t.Fatalf("target PID %s, want address %s", pidString(pid), tt.to.Address())
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			msg := &actor.MessageEnvelope{
				Header:  map[string]string{"trace-id": "abc-123", "tenant": "t1"},
				Message: &Ping{Text: "hello " + tt.name},
			}
			pong, err := actors.Request[*Pong](ctx, tt.from, pid, msg)
			if err != nil {
				t.Fatalf("Request: %v", err)
			}
			if pong.Text != "hello "+tt.name {
				t.Errorf("Pong.Text = %q, want %q", pong.Text, "hello "+tt.name)
			}
			s := recv(t, k.echoed, waitLong, "echo observation")
			if !samePID(s.self, pid) {
				t.Errorf("actor saw Self %s, want %s", pidString(s.self), pidString(pid))
			}
			if s.sender == nil || s.sender.Address != tt.from.Address() {
				t.Errorf("actor saw Sender %s, want an address of %s", pidString(s.sender), tt.from.Address())
			}
			if got := s.header["trace-id"]; got != "abc-123" {
				t.Errorf("header trace-id = %q, want abc-123 (headers %v)", got, s.header)
			}
			if got := s.header["tenant"]; got != "t1" {
				t.Errorf("header tenant = %q, want t1 (headers %v)", got, s.header)
			}
		})
	}
}

// TestRequest_Many makes concurrent requests over one link: every answer
// reaches its own requester.
func TestRequest_Many(t *testing.T) {
	root, c, _ := pair(t)
	pid := spawnRemote(t, root, c.link.ID, "echo", "")
	const n = 200
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		text := strings.Repeat("x", i%7) + string(rune('a'+i%26))
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{Text: text})
			if err == nil && pong.Text != text {
				err = errors.New("answer " + pong.Text + " for request " + text)
			}
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := recv(t, errs, waitLong, "request result"); err != nil {
			t.Error(err)
		}
	}
}

// TestRequest_NoSuchActor: a live context without the target actor answers
// IS_DEAD with code "no actor".
func TestRequest_NoSuchActor(t *testing.T) {
	root, c, _ := pair(t)
	pid := actor.NewPID(actors.Address(c.link.ID), "nobody-here")
	ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
	defer cancel()
	start := time.Now()
	_, err := actors.Request[*Pong](ctx, root, pid, &Ping{Text: "anyone?"})
	if took := time.Since(start); took > atOnce {
		t.Errorf("Request took %v, want an answer at once", took)
	}
	de := deadError(t, err, actors.ErrNoActor)
	if errors.Is(err, actors.ErrContextDead) || errors.Is(err, actors.ErrRejected) {
		t.Errorf("error %q also matches ErrContextDead or ErrRejected", err)
	}
	if de.Context != c.link.ID {
		t.Errorf("DeadError.Context = %d, want %d", de.Context, c.link.ID)
	}
	if !samePID(de.PID, pid) {
		t.Errorf("DeadError.PID = %s, want %s", pidString(de.PID), pidString(pid))
	}
	if c.link.Err() != nil || isClosed(c.link.Done()) {
		t.Errorf("link closed after a request to a missing actor: %v", c.link.Err())
	}
}

// TestSend_UnregisteredType: a message of a type that was never registered
// cannot leave the context; Send and Request say so at once and name the Go
// type, and nothing is sent.
func TestSend_UnregisteredType(t *testing.T) {
	root, c, k := pair(t)
	pid := spawnRemote(t, root, c.link.ID, "echo", "")
	tests := []struct {
		name string
		call func() error
	}{
		{"Send", func() error { return root.Send(pid, &Unregistered{X: 1}) }},
		{"Send value", func() error { return root.Send(pid, Unregistered{X: 1}) }},
		{"Request", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
			defer cancel()
			_, err := actors.Request[*Pong](ctx, root, pid, &Unregistered{X: 2})
			return err
		}},
		{"Request with headers", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
			defer cancel()
			_, err := root.Request(ctx, pid, &actor.MessageEnvelope{Header: map[string]string{"k": "v"}, Message: &Unregistered{}})
			return err
		}},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.call()
			if took := time.Since(start); took > atOnce {
				t.Errorf("took %v, want an error at once", took)
			}
			if !errors.Is(err, wire.ErrUnregistered) {
				t.Fatalf("error %v, want one wrapping wire.ErrUnregistered", err)
			}
			if !strings.Contains(err.Error(), "Unregistered") {
				t.Errorf("error %q does not name the Go type", err)
			}
		})
	}
	// Nothing reached the actor, and the link still works.
	ping(t, root, pid, "after")
	if s := recv(t, k.echoed, waitLong, "echo"); s.text != "after" {
		t.Errorf("first message the echo saw is %q, want \"after\"", s.text)
	}
}

// TestRequest_UnknownTypeAtReceiver: a type registered in the sender but
// not in the receiver is refused with IS_DEAD (rejected); the link stays up.
func TestRequest_UnknownTypeAtReceiver(t *testing.T) {
	k := newKinds()
	root := newRoot(t, actors.Config{Setup: setups(typeSetup, rootOnlySetup, k.setup)})
	c := attach(t, root, "worker", actors.Config{Setup: setups(typeSetup, k.setup)})
	pid := spawnRemote(t, root, c.link.ID, "echo", "")

	ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
	defer cancel()
	start := time.Now()
	_, err := root.Request(ctx, pid, &RootOnly{X: 7})
	if took := time.Since(start); took > atOnce {
		t.Errorf("Request took %v, want an answer at once", took)
	}
	de := deadError(t, err, actors.ErrRejected)
	if !strings.Contains(de.Reason, "test.RootOnly") {
		t.Errorf("reason %q does not name the wire type", de.Reason)
	}
	if errors.Is(err, actors.ErrContextDead) {
		t.Errorf("error %q matches ErrContextDead; the context is alive", err)
	}
	// A plain Send of the same type is refused too, but only the receiver
	// knows: it is published as Undeliverable, and the link stays up.
	if err := root.Send(pid, &RootOnly{X: 8}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	ping(t, root, pid, "still up")
	if isClosed(c.link.Done()) {
		t.Fatalf("link closed: %v", c.link.Err())
	}
}

// TestRequest_UnknownTypeSendPublishesUndeliverable: a one-way message the
// receiver refuses comes back as an Undeliverable event in the sender.
func TestRequest_UnknownTypeSendPublishesUndeliverable(t *testing.T) {
	k := newKinds()
	root := newRoot(t, actors.Config{Setup: setups(typeSetup, rootOnlySetup, k.setup)})
	c := attach(t, root, "worker", actors.Config{Setup: setups(typeSetup, k.setup)})
	pid := spawnRemote(t, root, c.link.ID, "echo", "")
	// Give the message a sender so the refusal has somewhere to go.
	sender := root.System().Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))

	events := make(chan *actors.Undeliverable, 8)
	sub := root.System().EventStream.Subscribe(func(evt interface{}) {
		if u, ok := evt.(*actors.Undeliverable); ok {
			offer(events, u)
		}
	})
	defer root.System().EventStream.Unsubscribe(sub)

	if err := root.Send(pid, &actor.MessageEnvelope{Message: &RootOnly{}, Sender: sender}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	u := recv(t, events, waitLong, "Undeliverable event")
	if !errors.Is(u.Err, actors.ErrRejected) {
		t.Errorf("Undeliverable.Err = %v, want ErrRejected", u.Err)
	}
	if !samePID(u.Sender, sender) {
		t.Errorf("Undeliverable.Sender = %s, want %s", pidString(u.Sender), pidString(sender))
	}
	if !samePID(u.PID, pid) {
		t.Errorf("Undeliverable.PID = %s, want %s", pidString(u.PID), pidString(pid))
	}
}

// TestRequest_LinkBreakFailsPending: a request waiting on a context whose
// link breaks fails at once with ErrContextDead and a reason, whichever side
// closes the link; later requests and sends fail at once too, and
// ContextDown is published.
func TestRequest_LinkBreakFailsPending(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, c *child)
	}{
		{"child end closed", func(t *testing.T, c *child) { c.kill() }},
		{"parent closes the link", func(t *testing.T, c *child) { c.link.Close() }},
		{"child node shuts down", func(t *testing.T, c *child) { shutdown(t, c.node) }},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			root, c, k := pair(t)
			downs := subscribeContextDown(t, root)
			hole := spawnRemote(t, root, c.link.ID, "blackhole", "")
			echo := spawnRemote(t, root, c.link.ID, "echo", "")

			pending := requestAsync(root, hole, &Ping{Text: "into the void"}, ctxLong)
			recv(t, k.swallow, waitLong, "the blackhole to receive the request")
			broken := time.Now()
			tt.break_(t, c)

			out := recv(t, pending, ctxLong+time.Second, "the pending request")
			if took := time.Since(broken); took > atOnce {
				t.Errorf("pending request failed %v after the link broke, want at once", took)
			}
			de := deadError(t, out.err, actors.ErrContextDead)
			if de.Reason == "" {
				t.Errorf("DeadError has no reason: %v", de)
			}
			if de.Context != c.link.ID {
				t.Errorf("DeadError.Context = %d, want %d", de.Context, c.link.ID)
			}

			cd := contextDownFor(t, downs, c.link.ID)
			if cd.Reason == nil || !errors.Is(cd.Reason, actors.ErrContextDead) || cd.Reason.Reason == "" {
				t.Errorf("ContextDown.Reason = %v, want an IS_DEAD reason", cd.Reason)
			}
			if cd.Name != "worker" {
				t.Errorf("ContextDown.Name = %q, want worker", cd.Name)
			}
			if !closedWithin(c.link.Done(), waitLong) {
				t.Fatal("ChildLink.Done not closed")
			}

			// Everything later fails at once.
			ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
			defer cancel()
			start := time.Now()
			_, err := actors.Request[*Pong](ctx, root, echo, &Ping{Text: "late"})
			if took := time.Since(start); took > atOnce {
				t.Errorf("late Request took %v", took)
			}
			if de := deadError(t, err, actors.ErrContextDead); !samePID(de.PID, echo) {
				t.Errorf("late Request DeadError.PID = %s, want %s", pidString(de.PID), pidString(echo))
			}
			deadError(t, root.Send(echo, &Ping{Text: "late"}), actors.ErrContextDead)
			if _, err := root.SpawnRemote(ctx, c.link.ID, "echo", ""); !errors.Is(err, actors.ErrContextDead) {
				t.Errorf("SpawnRemote in a dead context: %v, want ErrContextDead", err)
			}
			if _, ok := root.Routes()[c.link.ID]; ok {
				t.Errorf("root still routes to dead context %d", c.link.ID)
			}
		})
	}
}

// TestRequest_ShutdownFailsPending: shutting the requester down fails its
// pending requests instead of leaving them to their timeout.
func TestRequest_ShutdownFailsPending(t *testing.T) {
	root, c, k := pair(t)
	hole := spawnRemote(t, root, c.link.ID, "blackhole", "")
	pending := requestAsync(root, hole, &Ping{Text: "wait"}, ctxLong)
	recv(t, k.swallow, waitLong, "the blackhole to receive the request")
	stopped := time.Now()
	shutdown(t, root)
	out := recv(t, pending, ctxLong+time.Second, "the pending request")
	if took := time.Since(stopped); took > atOnce {
		t.Errorf("pending request returned %v after Shutdown began, want at once", took)
	}
	if out.err == nil {
		t.Fatal("pending request succeeded after Shutdown")
	}
	if errors.Is(out.err, context.DeadlineExceeded) {
		t.Fatalf("pending request ran into its timeout: %v", out.err)
	}
}

// TestRequest_ContextDeadline: a request to an actor that never answers
// ends at the caller's deadline.
func TestRequest_ContextDeadline(t *testing.T) {
	root, c, _ := pair(t)
	hole := spawnRemote(t, root, c.link.ID, "blackhole", "")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := actors.Request[*Pong](ctx, root, hole, &Ping{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request: %v, want context.DeadlineExceeded", err)
	}
	// The late answer slot is gone; the link is fine.
	ping(t, root, spawnRemote(t, root, c.link.ID, "echo", ""), "after timeout")
}

// TestRequest_WrongReplyType: Request[R] reports an answer that is not an R.
func TestRequest_WrongReplyType(t *testing.T) {
	root, c, _ := pair(t)
	pid := spawnRemote(t, root, c.link.ID, "echo", "")
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	_, err := actors.Request[*Tick](ctx, root, pid, &Ping{Text: "x"})
	if err == nil || !strings.Contains(err.Error(), "Pong") {
		t.Fatalf("Request[*Tick] answered by a *Pong: %v, want an error naming the type", err)
	}
}

// TestSpawnRemote_Errors covers refusals of remote spawn.
func TestSpawnRemote_Errors(t *testing.T) {
	root, c, _ := pair(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if _, err := root.SpawnRemote(ctx, c.link.ID, "no-such-kind", ""); err == nil ||
		!strings.Contains(err.Error(), "no-such-kind") {
		t.Errorf("unknown kind: %v, want an error naming it", err)
	}
	if _, err := root.SpawnRemote(ctx, root.ID(), "echo", ""); !errors.Is(err, actors.ErrNotRemote) {
		t.Errorf("spawn in own context: %v, want ErrNotRemote", err)
	}
	spawnRemote(t, root, c.link.ID, "echo", "taken")
	if _, err := root.SpawnRemote(ctx, c.link.ID, "echo", "taken"); err == nil {
		t.Error("second spawn under the same name succeeded")
	}
	if _, err := root.SpawnRemote(ctx, 4000, "echo", ""); !errors.Is(err, actors.ErrContextDead) {
		t.Errorf("spawn in an unknown context: %v, want ErrContextDead (no route)", err)
	}
	// A child may not spawn in its parent: spawning is a parent's right.
	_, err := c.node.SpawnRemote(ctx, root.ID(), "echo", "")
	if !errors.Is(err, actors.ErrRejected) {
		t.Errorf("child spawning in its parent: %v, want ErrRejected", err)
	}
}

// TestRequest_ForwardedToMissingActor: when the remote actor forwards the
// request to a local actor that does not exist, protoactor's dead letter
// answer travels back as IS_DEAD and the request fails with ErrNoActor.
func TestRequest_ForwardedToMissingActor(t *testing.T) {
	root, c, _ := pair(t)
	fwd := spawnRemote(t, root, c.link.ID, "forwarder", "")
	ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
	defer cancel()
	start := time.Now()
	_, err := root.Request(ctx, fwd, &Ping{Text: "pass it on"})
	if took := time.Since(start); took > atOnce {
		t.Errorf("Request took %v, want an answer at once", took)
	}
	deadError(t, err, actors.ErrNoActor)
}

// TestRequest_LocalNoSuchActor: a request to a missing actor of the own
// context fails with ErrNoActor too.
func TestRequest_LocalNoSuchActor(t *testing.T) {
	root, _, _ := pair(t)
	ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
	defer cancel()
	_, err := root.Request(ctx, actor.NewPID(root.Address(), "nobody"), &Ping{})
	deadError(t, err, actors.ErrNoActor)
}
