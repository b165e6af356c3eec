package actors_test

import (
	"errors"
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// TestHandleKind: a kind registered through the public extension point
// receives the frames of that kind addressed to its context, after the
// reverse-path check; built-in kinds cannot be taken over.
func TestHandleKind(t *testing.T) {
	const kind wire.Kind = 4300
	got := make(chan string, 4)
	root := newRoot(t, actors.Config{Setup: func(n *actors.Node) error {
		if err := typeSetup(n); err != nil {
			return err
		}
		return n.HandleKind(kind, func(f wire.Frame) error {
			got <- string(f.Body()) // copied: f.Raw is only valid during the call
			return nil
		})
	}})
	for _, k := range []wire.Kind{kind, wire.KindUser, wire.KindPing, wire.KindDelRoute, wire.KindAllocateID} {
		if err := root.HandleKind(k, func(wire.Frame) error { return nil }); !errors.Is(err, actors.ErrKindTaken) {
			t.Errorf("HandleKind(%s) again = %v, want ErrKindTaken", k, err)
		}
	}
	raw, link := attachRaw(t, root, "feature")
	spoofed := raw.spec(kind, 0)
	spoofed.Src = 77 // not behind this link: dropped before any handler
	raw.writeRaw(wire.AppendFrame(nil, spoofed, nil, []byte("spoofed")))
	raw.writeRaw(wire.AppendFrame(nil, raw.spec(kind, 0), nil, []byte("hello")))
	if b := recv(t, got, waitLong, "frame of the registered kind"); b != "hello" {
		t.Fatalf("handler got %q, want hello", b)
	}
	raw.barrier(0)
	select {
	case b := <-got:
		t.Fatalf("handler got a second frame %q", b)
	default:
	}
	if isClosed(link.Done()) {
		t.Fatalf("link closed: %v", link.Err())
	}
}

// TestHandleKind_HandlerError: a handler's error closes the link it came on
// as a protocol error.
func TestHandleKind_HandlerError(t *testing.T) {
	const kind wire.Kind = 4301
	boom := errors.New("boom")
	root := newRoot(t, actors.Config{Setup: func(n *actors.Node) error {
		return n.HandleKind(kind, func(wire.Frame) error { return boom })
	}})
	raw, link := attachRaw(t, root, "bad")
	raw.send(raw.spec(kind, 0), nil)
	if !closedWithin(link.Done(), waitLong) {
		t.Fatal("link still up after the handler failed")
	}
	if !errors.Is(link.Err(), boom) {
		t.Fatalf("link error %v, want it to wrap the handler's", link.Err())
	}
}

// TestSendKind_Refusals: built-in kinds cannot be sent through SendKind,
// and a frame of a registered kind bigger than a chunk arrives whole.
func TestSendKind_Refusals(t *testing.T) {
	const kind wire.Kind = 4302
	got := make(chan int, 1)
	setup := func(n *actors.Node) error {
		return n.HandleKind(kind, func(f wire.Frame) error {
			got <- len(f.Body())
			return nil
		})
	}
	root := newRoot(t, actors.Config{Setup: setup})
	c := attach(t, root, "worker", actors.Config{Setup: setup})
	for _, k := range []wire.Kind{wire.KindUser, wire.KindAddRoute, wire.KindDelRoute, wire.KindShutdown, wire.KindDead} {
		if err := root.SendKind(k, c.link.ID, nil); !errors.Is(err, actors.ErrKindTaken) {
			t.Errorf("SendKind(%s) = %v, want ErrKindTaken", k, err)
		}
	}
	if err := root.SendKind(kind, c.link.ID, make([]byte, 300<<10)); err != nil {
		t.Fatal(err)
	}
	if n := recv(t, got, waitLong, "the big frame"); n != 300<<10 {
		t.Fatalf("handler got %d bytes", n)
	}
	if err := root.SendKind(kind, 999, nil); !errors.Is(err, actors.ErrContextDead) {
		t.Fatalf("SendKind to nowhere = %v, want ErrContextDead", err)
	}
}
