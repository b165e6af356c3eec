package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors/internal/route"
	"github.com/spindle-go/spindle/wire"
)

// ErrShutdownRequested is the stop reason of a context whose parent asked it
// to shut down.
var ErrShutdownRequested = errors.New("actors: shutdown requested by parent")

// Internal message types, registered in every context.
type (
	// SpawnReply answers a SPAWN_ACTOR request.
	spawnReply struct {
		Address, ID, Err string
	}
	// idBlock answers an ALLOCATE_ID request.
	idBlock struct {
		First, Count uint32
	}
)

// Bodies of node-level requests. ReplyID comes first in each.
type (
	spawnRequest struct {
		ReplyID string // empty: no answer wanted (a child of a remote parent)
		Kind    string
		Name    string
		Parent  string `msgpack:",omitempty"` // the parent actor's ID in the sender's context
	}
	allocRequest struct {
		ReplyID string
		Count   uint32
	}
)

func registerInternalTypes(r *wire.Registry) {
	wire.MustRegister[spawnReply](r, "spindle.spawnReply")
	wire.MustRegister[idBlock](r, "spindle.idBlock")
	registerHandoffTypes(r)
}

// SpawnRemote starts an actor of a registered kind in the context ctxID
// (which must be a descendant of this one: spawning is a parent's right) and
// returns its PID. An empty name lets the context choose one.
func (n *Node) SpawnRemote(ctx context.Context, ctxID uint32, kind, name string) (*actor.PID, error) {
	if ctxID == n.id {
		return nil, ErrNotRemote
	}
	v, err := n.call(ctx, ctxID, wire.KindSpawnActor, func(id string) any {
		return &spawnRequest{ReplyID: id, Kind: kind, Name: name}
	})
	if err != nil {
		return nil, fmt.Errorf("actors: spawn %q in context %d: %w", kind, ctxID, err)
	}
	rep, ok := v.(*spawnReply)
	if !ok {
		return nil, fmt.Errorf("actors: spawn %q in context %d: unexpected reply %T", kind, ctxID, v)
	}
	if rep.Err != "" {
		return nil, fmt.Errorf("actors: spawn %q in context %d: %s", kind, ctxID, rep.Err)
	}
	return actor.NewPID(rep.Address, rep.ID), nil
}

func (n *Node) onSpawnActor(f wire.Frame) error {
	h := f.Header()
	var req spawnRequest
	if err := wire.Unmarshal(f.Body(), &req); err != nil {
		return &ProtocolError{Err: err}
	}
	if !n.isAncestor(h.Auth()) {
		n.replyDead(h.Src(), wire.DeadReply{TargetCtx: n.id, HasSender: true, SenderCtx: h.Src(),
			SenderID: req.ReplyID, Code: wire.DeadRejected, Reason: "spawn refused by policy: not from a parent"})
		return nil
	}
	rep := &spawnReply{}
	n.kindsMu.RLock()
	props, ok := n.kinds[req.Kind]
	n.kindsMu.RUnlock()
	var pid *actor.PID
	var err error
	switch {
	case !ok:
		err = fmt.Errorf("unknown actor kind %q", req.Kind)
	case req.Parent != "":
		pid, err = n.spawnAdopted(props, req.Name, n.pidOf(h.Src(), req.Parent))
	case req.Name == "":
		pid = n.sys.Root.Spawn(props)
	default:
		pid, err = n.sys.Root.SpawnNamed(props, req.Name)
	}
	if req.Parent != "" && req.ReplyID == "" {
		if err != nil {
			// The parent already holds the child's PID: it learns the
			// failure as the child's termination.
			n.log.Warn("remote child not started", "kind", req.Kind, "name", req.Name, "parent_ctx", h.Src(), "err", err)
			_ = n.sendSystem(h.Src(), sysMsg{Op: opTerminated, Target: req.Parent, PeerCtx: n.id, PeerID: req.Name,
				Why: int32(actor.TerminatedReason_NotFound)})
		}
		return nil
	}
	if err != nil {
		rep.Err = err.Error()
	} else {
		rep.Address, rep.ID = pid.Address, pid.Id
	}
	return n.answer(h.Src(), req.ReplyID, rep)
}

// answer sends msg to the reply process replyID in context ctx.
func (n *Node) answer(ctx uint32, replyID string, msg any) error {
	pid := n.pidOf(ctx, replyID)
	if ctx == n.id {
		n.sys.Root.Send(pid, msg)
		return nil
	}
	if err := n.sendUser(ctx, pid, msg, queued); err != nil {
		n.log.Debug("answer undeliverable", "to", pid, "err", err)
	}
	return nil
}

// onAllocateID grants a block of context IDs to a direct child, which asks
// its parent (never the root directly), so every context knows which IDs
// live behind each of its child links. The root counts; other contexts ask
// their own parent for a fresh block, off the reader goroutine.
func (n *Node) onAllocateID(l *link, f wire.Frame) error {
	h := f.Header()
	var req allocRequest
	if err := wire.Unmarshal(f.Body(), &req); err != nil {
		return &ProtocolError{Err: err}
	}
	refuse := func(why string) {
		n.replyDead(h.Src(), wire.DeadReply{TargetCtx: n.id, HasSender: true, SenderCtx: h.Src(),
			SenderID: req.ReplyID, Code: wire.DeadRejected, Reason: why})
	}
	if l.isParent || h.Src() != l.peer || req.Count == 0 || req.Count > 1024 {
		refuse("bad ALLOCATE_ID request")
		return nil
	}
	n.mu.Lock()
	err := n.rt.AllowGrant(l.peer, req.Count, n.now())
	n.mu.Unlock()
	if err != nil {
		n.quotaExceeded(l, route.TripIDs, wire.KindAllocateID, err)
		refuse(err.Error())
		return nil
	}
	grant := func(first uint32) {
		n.mu.Lock()
		n.rt.Grant(first, req.Count, l.peer)
		n.mu.Unlock()
		_ = n.answer(h.Src(), req.ReplyID, &idBlock{First: first, Count: req.Count})
	}
	if n.id == 0 {
		first, err := n.ids.take(req.Count)
		if err != nil {
			refuse(err.Error())
			return nil
		}
		grant(first)
		return nil
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.HandshakeTimeout)
		defer cancel()
		b, err := n.ids.block(ctx, req.Count)
		if err != nil {
			refuse(err.Error())
			return
		}
		grant(b)
	}()
	return nil
}

func (n *Node) onShutdown(l *link, f wire.Frame) error {
	if !n.isAncestor(f.Header().Auth()) {
		n.warnOnce(l, route.TripShutdown, "SHUTDOWN refused: not from a parent", "src", f.Header().Src())
		return nil
	}
	n.requestStop(ErrShutdownRequested)
	return nil
}

// RequestShutdown asks the child context id to shut down (it stops its own
// children first). The spawn package calls it before signals.
func (n *Node) RequestShutdown(id uint32) error {
	return n.sendFrame(wire.FrameSpec{Kind: wire.KindShutdown, Dst: id, Src: n.id, Auth: n.id}, nil, nil)
}

// idBlockSize is how many IDs a non-root context asks the root for at once.
const idBlockSize = 32

// idAllocator hands out context IDs. The root counts; other contexts ask the
// root for blocks (Mitogen's ALLOCATE_ID), so IDs are unique in the tree and
// never reused.
type idAllocator struct {
	node      *Node
	mu        sync.Mutex
	next, end uint32
}

// take reserves count IDs in the root.
func (a *idAllocator) take(count uint32) (uint32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next+count < a.next {
		return 0, errors.New("actors: context IDs exhausted")
	}
	first := a.next
	a.next += count
	return first, nil
}

// allocate returns an ID for a new direct child of this context.
func (a *idAllocator) allocate(ctx context.Context) (uint32, error) {
	if a.node.id == 0 {
		return a.take(1)
	}
	a.mu.Lock()
	if a.next < a.end {
		id := a.next
		a.next++
		a.mu.Unlock()
		return id, nil
	}
	a.mu.Unlock()
	first, err := a.block(ctx, idBlockSize)
	if err != nil {
		return 0, err
	}
	a.mu.Lock()
	a.next, a.end = first+1, first+idBlockSize
	a.mu.Unlock()
	return first, nil
}

// block asks the parent for count fresh IDs (non-root contexts).
func (a *idAllocator) block(ctx context.Context, count uint32) (uint32, error) {
	n := a.node
	parent := n.parents[len(n.parents)-1]
	v, err := n.call(ctx, parent, wire.KindAllocateID, func(id string) any {
		return &allocRequest{ReplyID: id, Count: count}
	})
	if err != nil {
		return 0, fmt.Errorf("actors: allocate context IDs: %w", err)
	}
	b, ok := v.(*idBlock)
	if !ok || b.Count != count {
		return 0, fmt.Errorf("actors: allocate context IDs: unexpected reply %T", v)
	}
	return b.First, nil
}
