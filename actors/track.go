package actors

import (
	"fmt"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// tracker records what this context waits for in other contexts: pending
// requests (replies) and remote watches, keyed by the context they depend
// on, so that a context's death fails them all at once.
type tracker struct {
	mu      sync.Mutex
	replies map[string]*reply              // by reply actor ID
	byCtx   map[uint32]map[*reply]struct{} // replies awaited from each context
	watches map[uint32]map[watchKey]*actor.PID
	dead    map[uint32]*DeadError
	held    heldWatches // the other direction: watches other contexts hold here
}

type watchKey struct {
	watchee string // actor ID in the remote context
	watcher string // address/ID of the local watcher
}

func (t *tracker) init() {
	t.replies = make(map[string]*reply)
	t.byCtx = make(map[uint32]map[*reply]struct{})
	t.watches = make(map[uint32]map[watchKey]*actor.PID)
	t.dead = make(map[uint32]*DeadError)
}

func (t *tracker) addReply(r *reply, remote bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if remote {
		if err, ok := t.dead[r.ctx]; ok {
			return err
		}
		set := t.byCtx[r.ctx]
		if set == nil {
			set = make(map[*reply]struct{})
			t.byCtx[r.ctx] = set
		}
		set[r] = struct{}{}
	}
	t.replies[r.id] = r
	return nil
}

// keepEmptySets is how many contexts keep their set of awaited replies
// while it is empty, so that a loop of requests to one context makes no
// map per request; beyond that many contexts an emptied set is deleted.
// A context's set goes when it dies (contextDown).
const keepEmptySets = 64

func (t *tracker) dropReply(r *reply) {
	t.mu.Lock()
	delete(t.replies, r.id)
	if set := t.byCtx[r.ctx]; set != nil {
		delete(set, r)
		if len(set) == 0 && len(t.byCtx) > keepEmptySets {
			delete(t.byCtx, r.ctx)
		}
	}
	t.mu.Unlock()
}

func (t *tracker) reply(id string) (*reply, bool) {
	t.mu.Lock()
	r, ok := t.replies[id]
	t.mu.Unlock()
	return r, ok
}

// replyFor is reply for an ID that aliases a frame (no copy).
func (t *tracker) replyFor(id []byte) (*reply, bool) {
	if len(id) < len(replyIDPrefix) || string(id[:len(replyIDPrefix)]) != replyIDPrefix {
		return nil, false
	}
	t.mu.Lock()
	r, ok := t.replies[string(id)]
	t.mu.Unlock()
	return r, ok
}

func (t *tracker) addWatch(ctx uint32, watchee string, watcher *actor.PID) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err, ok := t.dead[ctx]; ok {
		return err
	}
	set := t.watches[ctx]
	if set == nil {
		set = make(map[watchKey]*actor.PID)
		t.watches[ctx] = set
	}
	set[watchKey{watchee, watcher.String()}] = watcher
	return nil
}

// dropWatch forgets a remote watch and reports whether it was recorded.
func (t *tracker) dropWatch(ctx uint32, watchee string, watcher *actor.PID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	set := t.watches[ctx]
	k := watchKey{watchee, watcher.String()}
	if _, ok := set[k]; !ok {
		return false
	}
	delete(set, k)
	if len(set) == 0 {
		delete(t.watches, ctx)
	}
	return true
}

// contextDown fails every reply awaited from ctx, tells every watcher of
// an actor in ctx that it terminated with AddressTerminated, and removes
// every watch that ctx held on local actors.
func (t *tracker) contextDown(n *Node, ctx uint32, err *DeadError) {
	t.mu.Lock()
	t.dead[ctx] = err
	replies := t.byCtx[ctx]
	delete(t.byCtx, ctx)
	watches := t.watches[ctx]
	delete(t.watches, ctx)
	t.mu.Unlock()
	for r := range replies {
		r.fail(err)
	}
	for k, watcher := range watches {
		n.deliverTerminated(watcher, n.pidOf(ctx, k.watchee), actor.TerminatedReason_AddressTerminated)
	}
	t.held.dropCtx(ctx)
}

// awaited returns the contexts that replies or watches wait on.
func (t *tracker) awaited() []uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]uint32, 0, len(t.byCtx)+len(t.watches))
	for id, set := range t.byCtx {
		if len(set) > 0 {
			ids = append(ids, id)
		}
	}
	for id := range t.watches {
		if len(t.byCtx[id]) == 0 {
			ids = append(ids, id)
		}
	}
	return ids
}

// failAll fails every pending reply (the node is shutting down).
func (t *tracker) failAll(err error) {
	t.mu.Lock()
	all := make([]*reply, 0, len(t.replies))
	for _, r := range t.replies {
		all = append(all, r)
	}
	t.mu.Unlock()
	for _, r := range all {
		r.fail(err)
	}
}

// Remote watch bounds (Config.MaxRemoteWatches, MaxWatchIDLen).
const (
	// DefaultMaxRemoteWatches is how many watches one other context may
	// hold on this context's actors when Config.MaxRemoteWatches is 0.
	DefaultMaxRemoteWatches = 10000
	// MaxWatchIDLen is the longest watcher or watched actor ID a remote
	// watch may name, in bytes.
	MaxWatchIDLen = 1024
	// linkWatchFactor bounds the watches that all the contexts behind one
	// child link may hold here together: linkWatchFactor times
	// Config.MaxRemoteWatches.
	linkWatchFactor = 4
)

// noLink stands for "not behind a child link" in heldWatches: watchers
// reached through the parent are bounded per context only.
const noLink = ^uint32(0)

// heldWatches records the watches that other contexts hold on local
// actors. protoactor would keep each remote watcher in the watched actor
// until the actor stops (and keeps stale pointers in its watcher slice even
// after an Unwatch), so remote watchers never enter protoactor: each
// watched actor is watched once by the node's watch relay, and the remote
// watchers live here, bounded per watcher context (max) and per child link
// (max*linkWatchFactor for all the contexts behind it), and all removed
// when their context dies. Safe for concurrent use; watchFn and unwatchFn
// run under the lock, so that the relay's Watch and Unwatch of an actor
// reach it in the order the records changed.
type heldWatches struct {
	mu     sync.Mutex
	max    int
	by     map[uint32]*ctxWatches                // watcher context -> its watches
	of     map[string]map[remoteWatcher]struct{} // watchee -> its remote watchers
	onLink map[uint32]int                        // child link -> watches charged to it
	// watchFn and unwatchFn make the relay watch or stop watching a local
	// actor, when it gets its first or loses its last remote watcher.
	watchFn, unwatchFn func(watchee string)
}

// ctxWatches are the watches of one watcher context, charged to the child
// link it lives behind (noLink for none).
type ctxWatches struct {
	via uint32
	set map[watchKey]struct{} // local watchee, watcher's ID in its context
}

// remoteWatcher is a watcher in another context.
type remoteWatcher struct {
	ctx uint32
	id  string
}

func (h *heldWatches) init(max int, watchFn, unwatchFn func(string)) {
	h.max, h.watchFn, h.unwatchFn = max, watchFn, unwatchFn
	h.by = make(map[uint32]*ctxWatches)
	h.of = make(map[string]map[remoteWatcher]struct{})
	h.onLink = make(map[uint32]int)
}

// add records a watch of local actor watchee by watcher in context ctx,
// which lives behind child link via (or noLink). It fails with
// ErrWatchLimit when ctx or via is at its bound or an ID is longer than
// MaxWatchIDLen; a watch already recorded is no new one.
func (h *heldWatches) add(ctx, via uint32, watchee, watcher string) error {
	if len(watchee) > MaxWatchIDLen || len(watcher) > MaxWatchIDLen {
		return fmt.Errorf("%w: actor ID longer than %d bytes", ErrWatchLimit, MaxWatchIDLen)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cw := h.by[ctx]
	k := watchKey{watchee, watcher}
	if cw != nil {
		if _, ok := cw.set[k]; ok {
			return nil
		}
		via = cw.via // charged where its first watch was
	}
	if cw != nil && len(cw.set) >= h.max {
		return fmt.Errorf("%w: context %d holds %d watches here already", ErrWatchLimit, ctx, len(cw.set))
	}
	if via != noLink && h.onLink[via] >= h.max*linkWatchFactor {
		return fmt.Errorf("%w: the contexts behind link %d hold %d watches here already", ErrWatchLimit, via, h.onLink[via])
	}
	if cw == nil {
		cw = &ctxWatches{via: via, set: make(map[watchKey]struct{})}
		h.by[ctx] = cw
	}
	cw.set[k] = struct{}{}
	if via != noLink {
		h.onLink[via]++
	}
	ws := h.of[watchee]
	if ws == nil {
		ws = make(map[remoteWatcher]struct{})
		h.of[watchee] = ws
		h.watchFn(watchee)
	}
	ws[remoteWatcher{ctx, watcher}] = struct{}{}
	return nil
}

// unrecordLocked removes a watch from the watcher context's record and its
// link's charge. h.mu must be held.
func (h *heldWatches) unrecordLocked(ctx uint32, k watchKey) {
	cw := h.by[ctx]
	if cw == nil {
		return
	}
	if _, ok := cw.set[k]; !ok {
		return
	}
	delete(cw.set, k)
	if cw.via != noLink {
		if h.onLink[cw.via]--; h.onLink[cw.via] <= 0 {
			delete(h.onLink, cw.via)
		}
	}
	if len(cw.set) == 0 {
		delete(h.by, ctx)
	}
}

// dropLocked forgets one watch. h.mu must be held.
func (h *heldWatches) dropLocked(ctx uint32, watchee, watcher string) {
	h.unrecordLocked(ctx, watchKey{watchee, watcher})
	if ws := h.of[watchee]; ws != nil {
		delete(ws, remoteWatcher{ctx, watcher})
		if len(ws) == 0 {
			delete(h.of, watchee)
			h.unwatchFn(watchee)
		}
	}
}

// drop forgets one watch (an Unwatch).
func (h *heldWatches) drop(ctx uint32, watchee, watcher string) {
	h.mu.Lock()
	h.dropLocked(ctx, watchee, watcher)
	h.mu.Unlock()
}

// dropCtx forgets every watch that context ctx held (it died).
func (h *heldWatches) dropCtx(ctx uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cw := h.by[ctx]; cw != nil {
		for k := range cw.set {
			h.dropLocked(ctx, k.watchee, k.watcher)
		}
	}
}

// dropWatchee forgets and returns the remote watchers of a local actor that
// terminated (the relay, its only local watcher, was told).
func (h *heldWatches) dropWatchee(watchee string) []remoteWatcher {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.of[watchee]
	delete(h.of, watchee)
	out := make([]remoteWatcher, 0, len(ws))
	for w := range ws {
		out = append(out, w)
		h.unrecordLocked(w.ctx, watchKey{watchee, w.id})
	}
	return out
}

// count returns how many remote watches are held here.
func (h *heldWatches) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	total := 0
	for _, cw := range h.by {
		total += len(cw.set)
	}
	return total
}
