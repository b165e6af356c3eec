package actors

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/spindle-go/spindle/wire"
)

// ChildLink is a parent's side of the link to a child context.
type ChildLink struct {
	ID          uint32
	Name        string
	Incarnation uuid.UUID
	l           *link
}

// Done is closed when the link is gone and everything behind it has been
// declared dead.
func (c *ChildLink) Done() <-chan struct{} { return c.l.done }

// Err returns why the link ended; valid after Done is closed.
func (c *ChildLink) Err() error {
	select {
	case <-c.l.done:
		return c.l.err
	default:
		return nil
	}
}

// Close closes the link from the parent's side and waits for its goroutines.
func (c *ChildLink) Close() { c.l.close() }

// AttachChild joins a new child context over t: it allocates the child's
// context ID, performs the handshake as the parent, adds the route (and
// tells the ancestors with ADD_ROUTE) and starts the link.
func (n *Node) AttachChild(ctx context.Context, name string, t Transport) (*ChildLink, error) {
	if len(name) > 255 {
		return nil, errors.New("actors: context name longer than 255 bytes")
	}
	ctx, cancel := n.handshakeContext(ctx)
	defer cancel()
	id, err := n.ids.allocate(ctx)
	if err != nil {
		return nil, err
	}
	hello := wire.Hello{
		ContextID:   n.id,
		AssignedID:  id,
		Incarnation: n.incarnation,
		ParentIDs:   append(append([]uint32(nil), n.parents...), n.id),
		Name:        name,
		MaxFrame:    uint32(n.cfg.MaxFrame),
	}
	hb := n.cfg.heartbeat()
	hello.HeartbeatMS, hello.TimeoutMS = hb.hello()
	in := linkReader(t, n.cfg.MaxFrame)
	hello.Features = in.features()
	frame := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindHello, Dst: id, Src: n.id, Auth: n.id}, nil,
		wire.AppendHello(nil, hello))
	peer, err := exchangeHello(ctx, in.r, t, frame)
	if err != nil {
		in.abandon()
		return nil, fmt.Errorf("actors: handshake with %q: %w", name, n.linkErr(t, err))
	}
	if peer.ContextID != id {
		_ = t.C.Close()
		in.abandon()
		return nil, fmt.Errorf("actors: handshake with %q: child claims context %d, assigned %d", name, peer.ContextID, id)
	}
	l := newLink(n, t, in, peer, hb)
	l.peer, l.peerName, l.peerMax = id, name, int(peer.MaxFrame)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		_ = t.C.Close()
		in.abandon()
		return nil, ErrNodeClosed
	}
	n.children[id] = l
	n.rt.AddChild(id, name)
	parent := n.parent
	n.mu.Unlock()
	if parent != nil {
		n.sendRouteUpdate(parent, wire.KindAddRoute, routeUpdate{IDs: []uint32{id}, Names: []string{name}})
	}
	l.start()
	n.log.Debug("child attached", "child", name, "child_id", id)
	return &ChildLink{ID: id, Name: name, Incarnation: peer.Incarnation, l: l}, nil
}

// linkErr maps a handshake IO error through the transport's Reason hook, so
// that a child that died during the handshake reports its exit status.
func (n *Node) linkErr(t Transport, err error) error {
	if t.Reason != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		var ve *wire.VersionError
		if !errors.As(err, &ve) {
			return t.Reason(err)
		}
	}
	return err
}

// Join starts a child context over t (its link to the parent): it reads the
// parent's hello, takes the context ID and name the parent assigned, runs
// cfg.Setup, answers the hello and starts the link. The node stops (see
// Stopping) when the parent link breaks or the parent asks it to.
func Join(ctx context.Context, cfg Config, t Transport) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
	defer cancel()
	in := linkReader(t, cfg.MaxFrame)
	hello, err := exchangeHello(hctx, in.r, t, nil)
	if err != nil {
		in.abandon()
		return nil, fmt.Errorf("actors: handshake with parent: %w", err)
	}
	if len(hello.ParentIDs) == 0 || hello.ParentIDs[len(hello.ParentIDs)-1] != hello.ContextID {
		_ = t.C.Close()
		in.abandon()
		return nil, fmt.Errorf("actors: handshake with parent: parent %d not last of parent IDs %v", hello.ContextID, hello.ParentIDs)
	}
	// The parent's heartbeat governs the link to it, and is this
	// context's default for its own children.
	hb := heartbeatFromHello(hello)
	if cfg.HeartbeatInterval == DefaultHeartbeatInterval && cfg.HeartbeatTimeout == DefaultHeartbeatTimeout {
		cfg.HeartbeatInterval, cfg.HeartbeatTimeout = hb.interval, hb.timeout
		if !hb.on() {
			cfg.HeartbeatInterval, cfg.HeartbeatTimeout = -1, -1
		}
	}
	n := newNode(cfg, hello.AssignedID, hello.ParentIDs, hello.Name)
	if err := n.runSetup(); err != nil {
		_ = t.C.Close()
		in.abandon()
		return nil, err
	}
	mine := wire.Hello{
		ContextID:   n.id,
		Incarnation: n.incarnation,
		ParentIDs:   hello.ParentIDs,
		Name:        n.name,
		MaxFrame:    uint32(cfg.MaxFrame),
		Features:    in.features(),
	}
	mine.HeartbeatMS, mine.TimeoutMS = hb.hello()
	frame := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindHello, Dst: hello.ContextID, Src: n.id, Auth: n.id},
		nil, wire.AppendHello(nil, mine))
	if _, err := exchangeHello(hctx, nil, t, frame); err != nil {
		n.sys.Shutdown()
		in.abandon()
		return nil, fmt.Errorf("actors: handshake with parent: %w", err)
	}
	l := newLink(n, t, in, hello, hb)
	l.peer, l.peerName, l.isParent, l.peerMax = hello.ContextID, "parent", true, int(hello.MaxFrame)
	n.mu.Lock()
	n.parent = l
	n.rt.ParentUp(hello.ContextID)
	n.mu.Unlock()
	l.start()
	return n, nil
}

func (n *Node) handshakeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, n.cfg.HandshakeTimeout)
}

// exchangeHello writes out (when not nil) and then reads the peer's hello
// (when r is not nil), honouring ctx by closing the transport: a peer that
// neither reads nor writes cannot hold the caller past its deadline. A peer
// speaking another protocol version gets a reject frame naming ours, and
// both sides report a *wire.VersionError.
func exchangeHello(ctx context.Context, r *wire.Reader, t Transport, out []byte) (wire.Hello, error) {
	type result struct {
		h   wire.Hello
		err error
	}
	ch := make(chan result, 1)
	go func() {
		if out != nil {
			if _, err := t.W.Write(out); err != nil {
				ch <- result{err: err}
				return
			}
		}
		if r == nil {
			ch <- result{}
			return
		}
		h, err := parseHelloFrame(r, t.W)
		ch <- result{h, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			_ = t.C.Close()
		}
		return res.h, res.err
	case <-ctx.Done():
		_ = t.C.Close()
		<-ch
		return wire.Hello{}, ctx.Err()
	}
}

func parseHelloFrame(r *wire.Reader, w io.Writer) (wire.Hello, error) {
	f, err := r.ReadFrame()
	var ve *wire.VersionError
	if errors.As(err, &ve) {
		_, _ = w.Write(wire.AppendVersionReject(nil, ve.Remote))
		return wire.Hello{}, err
	}
	if err != nil {
		return wire.Hello{}, err
	}
	h := f.Header()
	if h.Kind() != wire.KindHello {
		return wire.Hello{}, &ProtocolError{Err: fmt.Errorf("first frame is %s, want HELLO", h.Kind())}
	}
	if h.Flags()&wire.FlagError != 0 {
		return wire.Hello{}, &ProtocolError{Err: fmt.Errorf("peer refused the handshake: %s", f.Body())}
	}
	hello, err := wire.ParseHello(f.Body())
	if err != nil {
		return wire.Hello{}, &ProtocolError{Err: err}
	}
	return hello, nil
}
