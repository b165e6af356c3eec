package actors

import (
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

func (t *tracker) dropReply(r *reply) {
	t.mu.Lock()
	delete(t.replies, r.id)
	if set := t.byCtx[r.ctx]; set != nil {
		delete(set, r)
		if len(set) == 0 {
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

func (t *tracker) dropWatch(ctx uint32, watchee string, watcher *actor.PID) {
	t.mu.Lock()
	if set := t.watches[ctx]; set != nil {
		delete(set, watchKey{watchee, watcher.String()})
		if len(set) == 0 {
			delete(t.watches, ctx)
		}
	}
	t.mu.Unlock()
}

// contextDown fails every reply awaited from ctx and tells every watcher of
// an actor in ctx that it terminated with AddressTerminated.
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
}

// awaited returns the contexts that replies or watches wait on.
func (t *tracker) awaited() []uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]uint32, 0, len(t.byCtx)+len(t.watches))
	for id := range t.byCtx {
		ids = append(ids, id)
	}
	for id := range t.watches {
		if _, dup := t.byCtx[id]; !dup {
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
