package actors

import (
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors/internal/route"
	"github.com/spindle-go/spindle/wire"
)

// routeLocked returns the link that leads to context id: a child link for a
// descendant, the parent link otherwise (the default route). It returns nil
// for this context itself and, in the root, for unknown contexts.
// n.mu must be held.
func (n *Node) routeLocked(id uint32) *link {
	r, ok := n.rt.Route(id)
	if !ok {
		return nil
	}
	return n.linkOf(r)
}

// linkOf returns the link r names, or nil when it is gone. n.mu must be
// held.
func (n *Node) linkOf(r route.Link) *link {
	if r.IsParent() {
		return n.parent
	}
	id, _ := r.ChildID()
	return n.children[id]
}

// nameOf returns the route table's name of link l. n.mu must be held.
func nameOf(l *link) route.Link {
	if l.isParent {
		return route.Parent
	}
	return route.Child(l.peer)
}

// linkTo returns the link toward context id, or a *DeadError.
func (n *Node) linkTo(id uint32) (*link, error) {
	if l := n.hintedLink(id); l != nil {
		return l, nil
	}
	n.mu.RLock()
	l := n.routeLocked(id)
	closed := n.closed
	if l != nil && !closed {
		n.keepHint(id, l)
		n.mu.RUnlock()
		return l, nil
	}
	d, isDead := n.rt.Dead(id) // only a send that fails needs the record
	n.mu.RUnlock()
	if isDead {
		return nil, deadRecordError(id, nil, d)
	}
	if closed {
		return nil, newDeadError(id, nil, wire.DeadUnreachable, "node shut down", ErrNodeClosed)
	}
	return nil, newDeadError(id, nil, wire.DeadUnreachable, fmt.Sprintf("no route to context %d", id), ErrNoRoute)
}

// arrivedChecked is the reverse-path check of frame header h on link l
// (its source, and its authority when that is another context), made under
// n.mu once per source while the routes do not change: the last source
// that passed on l is kept with the count of n.mu's write acquisitions it
// passed at (routehint.go). Only l's reader calls it.
func (n *Node) arrivedChecked(l *link, h wire.Header) bool {
	src := h.Src()
	if h.Auth() == src && src == l.okSrc && l.okWrites == n.mu.writes.Load() {
		return true
	}
	n.mu.RLock()
	ok := n.rt.ArrivedOn(nameOf(l), src) && (h.Auth() == src || n.rt.ArrivedOn(nameOf(l), h.Auth()))
	if ok && h.Auth() == src {
		l.okSrc, l.okWrites = src, n.mu.writes.Load()
	}
	n.mu.RUnlock()
	return ok
}

// handleFrame is called by a link's reader for every frame. A non-nil error
// closes the link with that reason.
func (n *Node) handleFrame(l *link, f wire.Frame) error {
	h := f.Header()
	kind := h.Kind()
	e, known := n.kind(kind)
	if known && e.local {
		return e.handle(l, f)
	}
	if !n.arrivedChecked(l, h) {
		l.CountDrop()
		n.warnOnce(l, route.TripSpoofed, "dropped frame with spoofed source", "kind", kind, "src", h.Src(), "auth", h.Auth(),
			"dst", h.Dst())
		return nil
	}
	if h.Dst() != n.id {
		n.forward(l, f)
		return nil
	}
	return n.deliverKind(l, f, e, known)
}

// onChunk adds a chunk to the link's assembler and delivers the frame it
// completes. A broken stream is the sender's fault, not the link's: it is
// logged and answered with a dead reply, and the link stays up.
func (n *Node) onChunk(l *link, f wire.Frame) error {
	src := f.Header().Src() // Add may overwrite a placed chunk's header
	whole, done, err := l.chunks.Add(f)
	switch {
	case errors.Is(err, wire.ErrChunkQuota) && !l.isParent:
		n.quotaExceeded(l, route.TripChunks, wire.KindChunk, err) // logs once per link
	case err != nil:
		n.warnOnce(l, route.TripChunkBroken, "dropped chunked frame", "src", src, "err", err)
	}
	if err != nil {
		n.replyDead(src, wire.DeadReply{TargetCtx: n.id, Code: wire.DeadRejected, Reason: err.Error()})
		return nil
	}
	if !done {
		return nil
	}
	return n.deliver(l, whole)
}

// deliver handles a frame addressed to this context.
func (n *Node) deliver(l *link, f wire.Frame) error {
	e, known := n.kind(f.Header().Kind())
	return n.deliverKind(l, f, e, known)
}

// deliverKind hands a frame addressed here to its kind's handler; a frame
// of a kind nobody handles (or a link-local kind inside chunks) is answered
// with a dead reply.
func (n *Node) deliverKind(l *link, f wire.Frame, e kindEntry, known bool) error {
	if known && !e.local {
		return e.handle(l, f)
	}
	h := f.Header()
	body := f.Body()
	n.replyDead(h.Src(), wire.DeadReply{
		TargetCtx: n.id,
		Code:      wire.DeadRejected,
		Reason:    fmt.Sprintf("unknown kind %s", h.Kind()),
		// The quote lets the source name the request this was (see
		// senderOfRefused): this context does not know the kind's layout.
		Refused:     h.Kind(),
		RefusedHead: string(body[:min(len(body), wire.MaxRefusedHead)]),
	})
	return nil
}

// forward passes a frame that is not for this context to the next hop
// without decoding its body.
func (n *Node) forward(in *link, f wire.Frame) {
	h := f.Header()
	out, recorded, err := n.relayRoute(in, h.Src(), h.Dst())
	if err == nil && out == in {
		err = newDeadError(h.Dst(), nil, wire.DeadUnreachable, fmt.Sprintf("no route to context %d", h.Dst()), ErrNoRoute)
	}
	if err == nil {
		if why := n.crossRefused(in, out); why != "" {
			in.CountDrop()
			n.pol.refused(n.log, h.Src(), "refused frame between child links", "dst", h.Dst(), "kind", h.Kind())
			err = newDeadError(h.Dst(), nil, wire.DeadRejected, why, ErrRefused)
		}
	}
	if in.relaySkip(f) { // a chunk of a stream this hop already failed back
		return
	}
	fds := in.takeFDs() // the frame's descriptors travel on with it
	if err == nil {
		if !recorded {
			n.noteEgress(in, out, h.Src(), h.Dst())
		}
		err = out.sendFDs(f.Raw, fds, noWait) // closes fds, sent or not; never waits
		fds = nil
		if fdRefused(err) {
			err = &DeadError{Context: h.Dst(), Code: wire.DeadRejected,
				Reason: fmt.Sprintf("context %d cannot pass the message's descriptors on: %v", n.id, err)}
		} else if errors.Is(err, ErrCongested) {
			err = n.congested(h.Dst(), out)
		} else {
			err = n.sendErr(h.Dst(), nil, err)
		}
	}
	closeFDs(fds)
	if f = in.relayed(f, err != nil); err != nil {
		n.bounce(f, err)
	}
}

// relayRoute is linkTo for a frame from src to dst that came in on link in
// and is forwarded: it also says whether the egress records of in and of
// the link out already cover the frame (see noteEgress), in the same read
// lock.
func (n *Node) relayRoute(in *link, src, dst uint32) (out *link, recorded bool, err error) {
	n.mu.RLock()
	out = n.routeLocked(dst)
	if out != nil && !n.closed {
		recorded = n.rt.Talked(nameOf(in), dst) && n.rt.Talked(nameOf(out), src)
		n.mu.RUnlock()
		return out, recorded, nil
	}
	n.mu.RUnlock()
	out, err = n.linkTo(dst) // the error, with the death's record
	return out, false, err
}

// noteEgress records that the subtree behind link in talked with context
// dst and the one behind link out with src, so that their deaths reach
// those subtrees (scoped DEL_ROUTE, route/egress.go). It runs under the
// write lock that contextsDown takes to mark deaths: a record is either
// made before a death is planned (and the death goes to that link) or not
// at all (the context is dead here already, and the frame is answered with
// IS_DEAD by the next hop or by this one).
func (n *Node) noteEgress(in, out *link, src, dst uint32) {
	n.mu.Lock()
	n.rt.NoteTalk(nameOf(in), dst)
	n.rt.NoteTalk(nameOf(out), src)
	n.mu.Unlock()
}

// bounce answers an undeliverable frame with an IS_DEAD reply to its source.
// Dead replies themselves are never bounced, so they cannot loop.
func (n *Node) bounce(f wire.Frame, cause error) {
	h := f.Header()
	d := wire.DeadReply{TargetCtx: h.Dst(), Code: wire.DeadUnreachable, Reason: cause.Error()}
	var de *DeadError
	if errors.As(cause, &de) {
		d.Code, d.Reason = de.Code, de.Reason
	}
	d.Cause, d.Detail = causeOf(cause)
	if e, ok := n.kind(h.Kind()); ok && e.bounce != nil && !e.bounce(f, &d) {
		return
	}
	n.replyDead(h.Src(), d)
}

// replyDead sends an IS_DEAD reply to context dst (or handles it here).
func (n *Node) replyDead(dst uint32, d wire.DeadReply) {
	if dst == n.id {
		n.deliverDead(d, n.id)
		return
	}
	body := wire.AppendDeadReply(nil, d)
	_ = n.sendFrame(wire.FrameSpec{Kind: wire.KindDead, Dst: dst, Src: n.id, Auth: n.id}, nil, body)
}

// sendFrame routes one frame built from parts. It only queues, control
// kinds on the control queue (see modeOf); a failure is a *DeadError.
func (n *Node) sendFrame(s wire.FrameSpec, kv, body []byte) error {
	l, err := n.linkTo(s.Dst)
	if err != nil {
		return err
	}
	buf := getBuf()
	*buf = wire.AppendFrame((*buf)[:0], s, kv, body)
	err = l.send(*buf, modeOf(s.Kind))
	putBuf(buf)
	return n.sendErr(s.Dst, nil, err)
}

// sendErr turns the error of a link send into a *DeadError for context id,
// with the context's death reason when it is already known.
func (n *Node) sendErr(id uint32, pid *actor.PID, err error) error {
	if err == nil {
		return nil
	}
	n.mu.RLock()
	d, known := n.rt.Dead(id)
	n.mu.RUnlock()
	if known {
		return deadRecordError(id, pid, d)
	}
	return newDeadError(id, pid, wire.DeadUnreachable, err.Error(), err)
}

// routeUpdate is the body of ADD_ROUTE and DEL_ROUTE.
type routeUpdate struct {
	IDs    []uint32
	Names  []string
	Reason string
	Code   uint8
	// Cause and Detail (DEL_ROUTE) are the stable code of the death and,
	// for wire.CauseExit, the exit status (see wire.DeadReply).
	Cause  uint8 `msgpack:",omitempty"`
	Detail int32 `msgpack:",omitempty"`
	// Parents (ADD_ROUTE) is the parent context of each of IDs, so that
	// every context knows the shape of its subtree (see onPathTo).
	Parents []uint32 `msgpack:",omitempty"`
}

// sendRouteUpdate sends u to the peer of l in as many frames as it takes
// for each to travel whole: a route update is never cut into chunks (a
// context handles route updates as they arrive, before reassembly).
func (n *Node) sendRouteUpdate(l *link, kind wire.Kind, u routeUpdate) {
	for _, part := range splitUpdate(u) {
		body, err := wire.Marshal(&part)
		if err != nil {
			return
		}
		buf := getBuf()
		*buf = wire.AppendFrame((*buf)[:0], wire.FrameSpec{Kind: kind, Dst: l.peer, Src: n.id, Auth: n.id}, nil, body)
		_ = l.send(*buf, control)
		putBuf(buf)
	}
}

// updateBudget bounds the encoded body of one route update frame, well
// under wire.DefaultChunkSize (the size above which links chunk frames).
const updateBudget = 64 << 10

// splitUpdate cuts u into updates of at most route.MaxUpdateIDs IDs whose
// bodies fit updateBudget, each with u's reason (cut to route.MaxReason)
// and code, and names cut to route.MaxName.
func splitUpdate(u routeUpdate) []routeUpdate {
	u.Reason = route.Bound(u.Reason, route.MaxReason)
	var parts []routeUpdate
	head := routeUpdate{Reason: u.Reason, Code: u.Code, Cause: u.Cause, Detail: u.Detail} // every part's
	cur := head
	size := 0
	for i, id := range u.IDs {
		name := ""
		if i < len(u.Names) {
			name = route.Bound(u.Names[i], route.MaxName)
		}
		cost := 5 + 3 + len(name) + 5 // uint32, a str8/fixstr head, and a parent uint32, at most
		if len(cur.IDs) == route.MaxUpdateIDs || (len(cur.IDs) > 0 && size+cost > updateBudget-len(u.Reason)-64) {
			parts = append(parts, cur)
			cur = head
			size = 0
		}
		cur.IDs = append(cur.IDs, id)
		if len(u.Names) > 0 {
			cur.Names = append(cur.Names, name)
		}
		if i < len(u.Parents) {
			cur.Parents = append(cur.Parents, u.Parents[i])
		}
		size += cost
	}
	return append(parts, cur)
}

// checkUpdate bounds a route update that arrived: at most
// route.MaxUpdateIDs IDs and names.
func checkUpdate(u *routeUpdate) error {
	if len(u.IDs) > route.MaxUpdateIDs || len(u.Names) > route.MaxUpdateIDs || len(u.Parents) > route.MaxUpdateIDs {
		return &ProtocolError{Err: fmt.Errorf("%w: %d IDs, %d names, %d parents (limit %d)", ErrRouteUpdate,
			len(u.IDs), len(u.Names), len(u.Parents), route.MaxUpdateIDs)}
	}
	return nil
}

// onAddRoute learns contexts that live behind a child link.
func (n *Node) onAddRoute(l *link, f wire.Frame) error {
	if l.isParent {
		return &ProtocolError{Err: errors.New("ADD_ROUTE from the parent")}
	}
	var u routeUpdate
	if err := wire.Unmarshal(f.Body(), &u); err != nil {
		return &ProtocolError{Err: err}
	}
	if err := checkUpdate(&u); err != nil {
		return err
	}
	n.mu.Lock()
	parent := n.parent
	accepted := routeUpdate{}
	var refused []uint32
	accepted.IDs, accepted.Names, refused = n.rt.AddRoutes(l.peer, u.IDs, u.Names)
	accepted.Parents = n.learnParents(l, u, accepted.IDs)
	n.mu.Unlock()
	if len(refused) > 0 {
		n.warnOnce(l, route.TripAddRoute, "refused ADD_ROUTE for IDs not granted through this link", "id", refused[0], "count", len(refused),
			"ids", idList(refused))
	}
	if parent != nil && len(accepted.IDs) > 0 {
		n.sendRouteUpdate(parent, wire.KindAddRoute, accepted)
	}
	return nil
}

func (n *Node) isAncestor(id uint32) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.rt.IsAncestor(id)
}

// onDelRoute learns that contexts died somewhere else in the tree.
func (n *Node) onDelRoute(l *link, f wire.Frame) error {
	var u routeUpdate
	if err := wire.Unmarshal(f.Body(), &u); err != nil {
		return &ProtocolError{Err: err}
	}
	if err := checkUpdate(&u); err != nil {
		return err
	}
	n.mu.Lock()
	// Only the link a context lives behind may declare it dead.
	ids := n.rt.RoutedVia(nameOf(l), u.IDs)
	n.mu.Unlock()
	for _, id := range ids {
		l.chunks.Drop(id) // the reader owns the assembler, and runs this
	}
	n.contextsDown(l, ids, wire.DeadCode(u.Code), u.Reason, remoteCause(wire.Cause(u.Cause), u.Detail, u.Reason))
	return nil
}

// linkDown is called once by a link's reader when the link is gone.
func (n *Node) linkDown(l *link, reason error) {
	l.chunks.Reset() // the reader owns the assembler, and runs this
	if reason == nil {
		reason = errLinkClosed
	}
	why := reason.Error()
	n.mu.Lock()
	var ids []uint32
	if l.isParent {
		n.parent = nil
		n.rt.ParentDown()
	} else {
		ids = n.rt.ChildDown(l.peer)
		delete(n.children, l.peer)
	}
	n.mu.Unlock()
	if l.isParent {
		n.log.Debug("parent link down", "reason", why)
		// Everything not behind a child link was reached through the parent:
		// what we wait on there is dead now, as for a child link.
		var beyond []uint32
		n.mu.RLock()
		for _, id := range n.track.awaited() {
			if !n.rt.Below(id) && id != n.id {
				beyond = append(beyond, id)
			}
		}
		n.mu.RUnlock()
		n.contextsDown(l, beyond, wire.DeadUnreachable, why, reason)
		n.requestStop(fmt.Errorf("parent link down: %s", why))
		return
	}
	n.log.Debug("child link down", "child", l.peerName, "child_id", l.peer, "reason", why)
	n.contextsDown(l, ids, wire.DeadUnreachable, why, reason)
}

// contextsDown marks contexts dead, raises IS_DEAD for everything waiting on
// them here, and tells the rest of the tree: DEL_ROUTE up to the parent,
// and down to the other children whose subtrees talked with the dead
// (delRoutesLocked). cause, when known, is the error behind
// reason; it travels on as a cause code (see DeadError.Err).
func (n *Node) contextsDown(from *link, ids []uint32, code wire.DeadCode, reason string, cause error) {
	if len(ids) == 0 {
		return
	}
	if code == 0 {
		code = wire.DeadUnreachable
	}
	reason = route.Bound(reason, route.MaxReason) // one bounded copy, shared by every record
	n.mu.Lock()
	wc, detail := causeOf(cause)
	fresh := n.rt.MarkDead(ids, route.Dead{Code: code, Reason: reason, Cause: wc, Detail: detail, Err: localCause(cause)})
	for _, id := range fresh {
		delete(n.children, id)
		delete(n.notes, id)
	}
	var targets []delRoute
	if len(fresh) > 0 {
		targets = n.delRoutesLocked(from, fresh)
	}
	n.mu.Unlock()
	if len(fresh) == 0 {
		return
	}
	for _, t := range targets {
		u := routeUpdate{IDs: t.ids, Reason: reason, Code: uint8(code), Cause: uint8(wc), Detail: detail}
		n.sendRouteUpdate(t.l, wire.KindDelRoute, u)
	}
	n.pol.forget(fresh)
	for _, id := range fresh {
		err := newDeadError(id, nil, code, reason, cause)
		n.track.contextDown(n, id, err)
		n.kidsDown(id)
		n.sys.EventStream.Publish(&ContextDown{ID: id, Name: n.contextName(id), Reason: err})
	}
	// One record per update, however many contexts it names.
	n.log.Info("context down", "id", fresh[0], "name", n.contextName(fresh[0]), "count", len(fresh),
		"ids", idList(fresh), "reason", reason)
}

// learnDeath marks context d.TargetCtx dead here when a hop on the path
// to it (an ancestor: it routes to everything outside this subtree)
// answered a frame of ours with IS_DEAD "unreachable" for it. With scoped
// DEL_ROUTE a context that never talked to another one is not told of its
// death; it learns it from the first frame it sends there, so that a later
// Watch answers Terminated and a later send fails here, as for a context
// that was told. A dead reply that says only "no route" (an ID the hop
// never knew, or whose record it forgot) teaches nothing: such an ID may
// not have been allocated yet.
func (n *Node) learnDeath(d wire.DeadReply, from uint32) {
	id := d.TargetCtx
	if d.Code != wire.DeadUnreachable || wire.Cause(d.Cause) == wire.CauseNoRoute || from == id || from == n.id || id == n.id {
		return
	}
	n.mu.RLock()
	parent := n.parent
	_, dead := n.rt.Dead(id)
	skip := parent == nil || dead || n.rt.Below(id) || n.rt.IsAncestor(id) || !n.rt.IsAncestor(from)
	n.mu.RUnlock()
	if skip {
		return
	}
	// From the parent's side: nothing goes up, and down only to the child
	// links that talked with it.
	n.contextsDown(parent, []uint32{id}, wire.DeadUnreachable, d.Reason, remoteCause(wire.Cause(d.Cause), d.Detail, d.Reason))
}

// delRoute is one DEL_ROUTE to send: the link and the dead it names.
type delRoute struct {
	l   *link
	ids []uint32
}

// delRoutesLocked plans the DEL_ROUTE updates for contexts ids that just
// died, learnt from link from: all of them up to the parent (every
// ancestor learns of every death below it), and to each other child link
// the ones its subtree exchanged frames with (its egress records), or all
// of them to a link that is flooded (over its Quotas.EgressIDs). A context
// waiting on a dead one (a request, a watch, a stream) sent it frames, so
// every hop between them recorded it. n.mu must be held.
func (n *Node) delRoutesLocked(from *link, ids []uint32) []delRoute {
	kids := make([]uint32, 0, len(n.children))
	for id := range n.children {
		kids = append(kids, id)
	}
	plan := n.rt.DelRoutes(nameOf(from), ids, kids)
	out := make([]delRoute, 0, len(plan))
	for _, u := range plan {
		if l := n.linkOf(u.Link); l != nil && l != from {
			out = append(out, delRoute{l, u.IDs})
		}
	}
	return out
}

// idList formats the first few of ids for a log record.
func idList(ids []uint32) string {
	const show = 8
	s := fmt.Sprint(ids[:min(len(ids), show)])
	if len(ids) > show {
		s = s[:len(s)-1] + fmt.Sprintf(" ... +%d]", len(ids)-show)
	}
	return s
}

func (n *Node) contextName(id uint32) string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.rt.Name(id)
}

// ContextDown is published on the actor system's event stream when a
// context becomes unreachable (IS_DEAD).
type ContextDown struct {
	ID     uint32
	Name   string
	Reason *DeadError
}

// Routes returns the IDs of the contexts this node routes to through its
// child links (its descendants), for diagnostics.
func (n *Node) Routes() map[uint32]string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.rt.Descendants()
}
