package actors_test

import (
	"context"
	"strings"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// keyProp is a Propagator of one context value under the header "k" (and
// reads "k2" too): the core's hook without OpenTelemetry.
type keyProp struct{}

type propKey struct{}

func (keyProp) Inject(ctx context.Context, h *actors.Headers) {
	if v, ok := ctx.Value(propKey{}).(string); ok {
		h.Set("k", v)
	}
}

func (keyProp) Extract(ctx context.Context, h *actors.Headers) context.Context {
	return context.WithValue(ctx, propKey{}, h.Get("k")+h.Get("k2"))
}

func (keyProp) Fields() []string { return []string{"k", "k2"} }

// TestHeaders_Bounds: Set leaves out what is beyond the bounds and
// replaces a key's value; a nil *Headers is empty.
func TestHeaders_Bounds(t *testing.T) {
	var h actors.Headers
	h.Set("", "v")
	h.Set(strings.Repeat("k", wire.MaxKeyLen+1), "v")
	h.Set("big", strings.Repeat("v", actors.MaxPropagatedValue+1))
	h.Set("empty", "")
	if h.Len() != 0 {
		t.Fatalf("out-of-bounds pairs kept: %v", h.Keys())
	}
	h.Set("a", "1")
	h.Set("a", "2")
	h.Set(strings.Repeat("k", wire.MaxKeyLen), strings.Repeat("v", actors.MaxPropagatedValue))
	if h.Len() != 2 || h.Get("a") != "2" {
		t.Fatalf("headers %v, a=%q", h.Keys(), h.Get("a"))
	}
	for i := range 2 * actors.MaxPropagated {
		h.Set(string(rune('A'+i)), "x")
	}
	if h.Len() != actors.MaxPropagated {
		t.Fatalf("%d headers kept, at most %d", h.Len(), actors.MaxPropagated)
	}
	var none *actors.Headers
	if none.Len() != 0 || none.Get("a") != "" || none.Keys() != nil {
		t.Fatal("nil Headers not empty")
	}
}

// TestFrameHeaders: only the propagator's Fields are taken from a frame,
// within the bounds; a malformed block, a frame without one, and a node
// without propagator give nil.
func TestFrameHeaders(t *testing.T) {
	root := newRoot(t, actors.Config{Propagator: keyProp{}})
	frame := func(kv []byte) wire.Frame {
		return wire.Frame{Raw: wire.AppendFrame(nil, wire.FrameSpec{Kind: 200, Dst: 0, Src: 1, Auth: 1}, kv, []byte("body"))}
	}
	kv, err := wire.AppendKV(nil, map[string]string{"k": "v", "k2": strings.Repeat("x", actors.MaxPropagatedValue+1),
		"other": "o", "traceparent": "t"})
	if err != nil {
		t.Fatal(err)
	}
	h := root.FrameHeaders(frame(kv))
	if h.Len() != 1 || h.Get("k") != "v" {
		t.Fatalf("FrameHeaders = %v", h.Keys())
	}
	if got := root.ExtractContext(context.Background(), h).Value(propKey{}); got != "v" {
		t.Fatalf("ExtractContext gave %v", got)
	}
	for name, f := range map[string]wire.Frame{"no block": frame(nil), "malformed": frame(append(kv, 5, 'k')),
		"no field": frame(must(wire.AppendKV(nil, map[string]string{"other": "o"})))} {
		if h := root.FrameHeaders(f); h != nil {
			t.Errorf("%s: FrameHeaders = %v", name, h.Keys())
		}
	}
	root.SetPropagator(nil)
	if h := root.FrameHeaders(frame(kv)); h != nil {
		t.Fatalf("no propagator: FrameHeaders = %v", h.Keys())
	}
	ctx := context.Background()
	if root.ExtractContext(ctx, h) != ctx || root.Propagate(context.WithValue(ctx, propKey{}, "v")) != nil {
		t.Fatal("no propagator: ExtractContext or Propagate did something")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestPropagator_RequestAndSendContext: Request and SendContext carry
// the value to an actor in a child context, which reads it with
// ExtractContext from its message headers (the caller's envelope headers
// go along; its header map is not changed); Send, without a ctx, carries
// none.
func TestPropagator_RequestAndSendContext(t *testing.T) {
	got := make(chan string, 4)
	setup := func(n *actors.Node) error {
		n.RegisterKind("prop", actor.PropsFromFunc(func(c actor.Context) {
			if _, ok := c.Message().(*Ping); ok {
				v, _ := n.ExtractContext(context.Background(), c.MessageHeader()).Value(propKey{}).(string)
				if h := c.MessageHeader(); h != nil { // nil for a message without headers
					v += "/" + h.Get("user")
				} else {
					v += "/"
				}
				if c.Sender() != nil {
					c.Respond(&Pong{Text: v})
					return
				}
				got <- v
			}
		}))
		return nil
	}
	cfg := actors.Config{Setup: setups(typeSetup, setup), Propagator: keyProp{}}
	root := newRoot(t, cfg)
	c := attach(t, root, "worker", cfg)
	pid := spawnRemote(t, root, c.link.ID, "prop", "")
	cx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	ctx := context.WithValue(cx, propKey{}, "span-1")
	user := map[string]string{"user": "u"}
	r, err := actors.Request[*Pong](ctx, root, pid, &actor.MessageEnvelope{Message: &Ping{}, Header: user})
	if err != nil || r.Text != "span-1/u" {
		t.Fatalf("Request: %+v, %v", r, err)
	}
	if len(user) != 1 {
		t.Fatalf("the caller's header map was changed: %v", user)
	}
	if err := root.SendContext(ctx, pid, &Ping{}); err != nil {
		t.Fatal(err)
	}
	if err := root.Send(pid, &Ping{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"span-1/", "/"} {
		if v := <-got; v != want {
			t.Fatalf("actor saw %q, want %q", v, want)
		}
	}
}

// TestPropagator_SameCtxReused: sends under one ctx reuse its injection
// (Inject runs once), whether it carries a value or nothing, and a new
// ctx is injected anew.
func TestPropagator_SameCtxReused(t *testing.T) {
	p := &countingProp{}
	root := newRoot(t, actors.Config{Propagator: p})
	ctx := context.WithValue(context.Background(), propKey{}, "a")
	for range 3 {
		if h := root.Propagate(ctx); h.Get("k") != "a" {
			t.Fatalf("Propagate = %v", h.Keys())
		}
	}
	empty := context.WithValue(context.Background(), propKey{}, 1) // not a string: nothing set
	for range 3 {
		if h := root.Propagate(empty); h != nil {
			t.Fatalf("Propagate(nothing) = %v", h.Keys())
		}
	}
	if h := root.Propagate(context.WithValue(ctx, propKey{}, "b")); h.Get("k") != "b" {
		t.Fatalf("a new ctx: %v", h.Get("k"))
	}
	if p.n != 3 {
		t.Fatalf("Inject ran %d times, want 3", p.n)
	}
}

type countingProp struct {
	keyProp
	n int
}

func (p *countingProp) Inject(ctx context.Context, h *actors.Headers) {
	p.n++
	p.keyProp.Inject(ctx, h)
}

// TestExtractContext_HostileHeaders: an actor's message headers (what a
// hostile context put in the kv block of a USER frame, up to 64 KiB) reach
// the Propagator only as its Fields within the bounds: an oversize value is
// not read, and other keys never are.
func TestExtractContext_HostileHeaders(t *testing.T) {
	root := newRoot(t, actors.Config{Propagator: keyProp{}})
	ctx := context.Background()
	src := map[string]string{"k": strings.Repeat("x", 60000), "k2": "ok", "other": strings.Repeat("y", 4000)}
	got := root.ExtractContext(ctx, mapSource(src)).Value(propKey{})
	if got != "ok" {
		t.Fatalf("ExtractContext read %q, want only k2", got)
	}
	if root.ExtractContext(ctx, mapSource{"other": "v"}) != ctx || root.ExtractContext(ctx, nil) != ctx {
		t.Fatal("ExtractContext changed ctx without a field")
	}
}

type mapSource map[string]string

func (m mapSource) Get(k string) string { return m[k] }

// TestPropagator_SharedHeadersPerMessage: the receiving link reuses the
// header map of the last kv block for frames that carry the same bytes;
// every message must still see its own headers, in the order of its
// sends: runs under one ctx, another ctx in between, a message with
// headers of its own, one without any, and the first ctx again.
func TestPropagator_SharedHeadersPerMessage(t *testing.T) {
	got := make(chan string, 16)
	setup := func(n *actors.Node) error {
		n.RegisterKind("prop", actor.PropsFromFunc(func(c actor.Context) {
			if p, ok := c.Message().(*Ping); ok {
				v, _ := n.ExtractContext(context.Background(), c.MessageHeader()).Value(propKey{}).(string)
				if h := c.MessageHeader(); h != nil {
					v += "/" + h.Get("user")
				}
				got <- p.Text + ":" + v
			}
		}))
		return nil
	}
	cfg := actors.Config{Setup: setups(typeSetup, setup), Propagator: keyProp{}}
	root := newRoot(t, cfg)
	c := attach(t, root, "worker", cfg)
	pid := spawnRemote(t, root, c.link.ID, "prop", "")
	a := context.WithValue(context.Background(), propKey{}, "span-a")
	b := context.WithValue(context.Background(), propKey{}, "span-b")
	sends := []struct {
		ctx  context.Context
		msg  any
		want string
	}{
		{a, &Ping{Text: "1"}, "1:span-a/"},
		{a, &Ping{Text: "2"}, "2:span-a/"},
		{b, &Ping{Text: "3"}, "3:span-b/"},
		{a, &actor.MessageEnvelope{Message: &Ping{Text: "4"}, Header: map[string]string{"user": "u"}}, "4:span-a/u"},
		{a, &Ping{Text: "5"}, "5:span-a/"},
		{context.Background(), &Ping{Text: "6"}, "6:"},
		{b, &Ping{Text: "7"}, "7:span-b/"},
		{b, &Ping{Text: "8"}, "8:span-b/"},
	}
	for _, s := range sends {
		if err := root.SendContext(s.ctx, pid, s.msg); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range sends {
		if v := <-got; v != s.want {
			t.Fatalf("actor saw %q, want %q", v, s.want)
		}
	}
}
