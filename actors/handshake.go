package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	lnk "github.com/spindle-go/spindle/actors/internal/link"
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
func (c *ChildLink) Done() <-chan struct{} { return c.l.Done() }

// Err returns why the link ended; valid after Done is closed.
func (c *ChildLink) Err() error { return c.l.Err() }

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
	hello.HeartbeatMS, hello.TimeoutMS = hb.HelloMS()
	in := lnk.NewInput(linkTransport(t), n.cfg.MaxFrame)
	hello.Features = in.Features()
	frame := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindHello, Dst: id, Src: n.id, Auth: n.id}, nil,
		wire.AppendHello(nil, hello))
	peer, err := lnk.ExchangeHello(ctx, in.Reader(), linkTransport(t), frame)
	if err != nil {
		in.Abandon()
		return nil, fmt.Errorf("actors: handshake with %q: %w", name, n.linkErr(t, err))
	}
	if peer.ContextID != id {
		_ = t.C.Close()
		in.Abandon()
		return nil, fmt.Errorf("actors: handshake with %q: child claims context %d, assigned %d", name, peer.ContextID, id)
	}
	l := newLink(n, t, in, id, name, peer, hb)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		_ = t.C.Close()
		in.Abandon()
		return nil, ErrNodeClosed
	}
	n.children[id] = l
	n.rt.AddChild(id, name)
	parent := n.parent
	n.mu.Unlock()
	n.pol.learnParent(id, n.id)
	if t.Isolated {
		n.pol.isolate(id)
	}
	if parent != nil {
		n.sendRouteUpdate(parent, wire.KindAddRoute, routeUpdate{IDs: []uint32{id}, Names: []string{name}, Parents: []uint32{n.id}})
	}
	l.Start()
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
	in := lnk.NewInput(linkTransport(t), cfg.MaxFrame)
	hello, err := lnk.ExchangeHello(hctx, in.Reader(), linkTransport(t), nil)
	if err != nil {
		in.Abandon()
		return nil, fmt.Errorf("actors: handshake with parent: %w", err)
	}
	if len(hello.ParentIDs) == 0 || hello.ParentIDs[len(hello.ParentIDs)-1] != hello.ContextID {
		_ = t.C.Close()
		in.Abandon()
		return nil, fmt.Errorf("actors: handshake with parent: parent %d not last of parent IDs %v", hello.ContextID, hello.ParentIDs)
	}
	// The parent's heartbeat governs the link to it, and is this
	// context's default for its own children.
	hb := lnk.HeartbeatFromHello(hello)
	if cfg.HeartbeatInterval == DefaultHeartbeatInterval && cfg.HeartbeatTimeout == DefaultHeartbeatTimeout {
		cfg.HeartbeatInterval, cfg.HeartbeatTimeout = hb.Interval, hb.Timeout
		if !hb.On() {
			cfg.HeartbeatInterval, cfg.HeartbeatTimeout = -1, -1
		}
	}
	n := newNode(cfg, hello.AssignedID, hello.ParentIDs, hello.Name)
	if err := n.runSetup(); err != nil {
		_ = t.C.Close()
		in.Abandon()
		return nil, err
	}
	mine := wire.Hello{
		ContextID:   n.id,
		Incarnation: n.incarnation,
		ParentIDs:   hello.ParentIDs,
		Name:        n.name,
		MaxFrame:    uint32(cfg.MaxFrame),
		Features:    in.Features(),
	}
	mine.HeartbeatMS, mine.TimeoutMS = hb.HelloMS()
	frame := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindHello, Dst: hello.ContextID, Src: n.id, Auth: n.id},
		nil, wire.AppendHello(nil, mine))
	if _, err := lnk.ExchangeHello(hctx, nil, linkTransport(t), frame); err != nil {
		n.sys.Shutdown()
		in.Abandon()
		return nil, fmt.Errorf("actors: handshake with parent: %w", err)
	}
	l := newLink(n, t, in, hello.ContextID, "parent", hello, hb)
	l.isParent = true
	n.mu.Lock()
	n.parent = l
	n.rt.ParentUp(hello.ContextID)
	n.mu.Unlock()
	l.Start()
	return n, nil
}

func (n *Node) handshakeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, n.cfg.HandshakeTimeout)
}
