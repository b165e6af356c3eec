package actors_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// TestHandleKindReplies_BounceNamesTheReplyID: a frame of a kind
// registered with HandleKindReplies that no route leads to comes back as
// an IS_DEAD naming the reply ID its body carries, published at the source
// as an Undeliverable whose Sender is that ID in the source context.
func TestHandleKindReplies_BounceNamesTheReplyID(t *testing.T) {
	const kind wire.Kind = 4310
	got := make(chan []byte, 1)
	setup := func(n *actors.Node) error {
		return n.HandleKindReplies(kind, func(f wire.Frame) error {
			got <- append([]byte(nil), f.Body()...)
			return nil
		}, func(b []byte) (string, bool) {
			if len(b) < 4 {
				return "", false
			}
			return "$t" + string(b[:4]), true
		})
	}
	root := newRoot(t, actors.Config{Setup: setup})
	c := attach(t, root, "worker", actors.Config{Setup: setup})
	lost := make(chan *actors.Undeliverable, 1)
	sub := c.node.System().EventStream.Subscribe(func(evt any) {
		if u, ok := evt.(*actors.Undeliverable); ok {
			lost <- u
		}
	})
	defer c.node.System().EventStream.Unsubscribe(sub)
	if err := c.node.SendKindContext(context.Background(), kind, 999, []byte("abcdrest")); err != nil {
		t.Fatal(err) // routed up to the root, which has no route to 999
	}
	u := recv(t, lost, waitLong, "the Undeliverable")
	var de *actors.DeadError
	if u.Sender == nil || u.Sender.Id != "$tabcd" || u.Sender.Address != c.node.Address() ||
		!errors.As(u.Err, &de) || de.Context != 999 || !errors.Is(u.Err, actors.ErrNoRoute) {
		t.Fatalf("Undeliverable %+v (err %v)", u, u.Err)
	}
	// SendKindContext reaches a registered kind; SendKind and
	// SendKindContext refuse built-in kinds.
	if err := root.SendKindContext(context.Background(), kind, c.link.ID, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if b := recv(t, got, waitLong, "the frame"); string(b) != "hello" {
		t.Fatalf("handler got %q", b)
	}
	if err := root.SendKindContext(context.Background(), wire.KindUser, c.link.ID, nil); !errors.Is(err, actors.ErrKindTaken) {
		t.Fatalf("SendKindContext(USER) = %v, want ErrKindTaken", err)
	}
	if err := root.HandleKindReplies(kind, func(wire.Frame) error { return nil }, func([]byte) (string, bool) { return "", false }); !errors.Is(err, actors.ErrKindTaken) {
		t.Fatalf("HandleKindReplies twice = %v, want ErrKindTaken", err)
	}
}

// TestChildVia: the direct child whose link leads to a descendant; none
// for the context itself, its parent and unknown contexts.
func TestChildVia(t *testing.T) {
	root := newRoot(t, actors.Config{})
	c := attach(t, root, "mid", actors.Config{})
	gk := attach(t, c.node, "grandchild", actors.Config{})
	deadline := time.Now().Add(waitLong)
	for {
		if _, ok := root.Routes()[gk.link.ID]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the root never learnt the grandchild's route")
		}
		time.Sleep(time.Millisecond)
	}
	for _, tc := range []struct {
		n     *actors.Node
		id    uint32
		child uint32
		ok    bool
	}{
		{root, c.link.ID, c.link.ID, true}, {root, gk.link.ID, c.link.ID, true}, {root, 0, 0, false}, {root, 999, 0, false},
		{c.node, gk.link.ID, gk.link.ID, true}, {c.node, 0, 0, false}, {gk.node, 0, 0, false},
	} {
		if child, ok := tc.n.ChildVia(tc.id); ok != tc.ok || (ok && child != tc.child) {
			t.Errorf("context %d: ChildVia(%d) = %d, %v; want %d, %v", tc.n.ID(), tc.id, child, ok, tc.child, tc.ok)
		}
	}
}

// TestHandleKindRun_BlockingRunNeverStallsTheLink: a run that blocks keeps
// its goroutine and the link reads on (its watchdog gives it a new
// reader): the next frames are handled while the first run still blocks.
func TestHandleKindRun_BlockingRunNeverStallsTheLink(t *testing.T) {
	const kind wire.Kind = 4311
	release := make(chan struct{})
	handled := make(chan string, 4)
	ran := make(chan string, 4)
	setup := func(n *actors.Node) error {
		return n.HandleKindRun(kind, func(f wire.Frame) (func(), error) {
			body := string(f.Body())
			handled <- body
			return func() {
				if body == "block" {
					<-release
				}
				ran <- body
			}, nil
		}, nil)
	}
	root := newRoot(t, actors.Config{})
	c := attach(t, root, "worker", actors.Config{Setup: setup})
	defer close(release)
	for _, b := range []string{"block", "next", "last"} {
		if err := root.SendKindContext(context.Background(), kind, c.link.ID, []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"block", "next", "last"} {
		if got := recv(t, handled, waitLong, "frame "+want); got != want {
			t.Fatalf("handled %q, want %q", got, want)
		}
	}
	got := map[string]bool{} // a run may go to a goroutine (streaming): any order
	for range 2 {
		got[recv(t, ran, waitLong, "a run")] = true
	}
	if !got["next"] || !got["last"] {
		t.Fatalf("ran %v, want next and last while block blocks", got)
	}
}
