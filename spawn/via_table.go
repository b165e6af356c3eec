package spawn

import (
	"context"
	"fmt"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
)

// viaTableID is the ID under which a node's via table is registered in its
// process registry (one per node, found again by viaTableOf).
const viaTableID = "$spindle.via"

// maxEarlyDeaths bounds the deaths remembered while starts are in flight
// (a child may die before the answer to its start arrives).
const maxEarlyDeaths = 4096

// viaTable holds the via-children a node started, and turns its
// ContextDown events into their deaths: one event subscription per node.
type viaTable struct {
	mu       sync.Mutex
	kids     map[uint32]*viaChild
	starting int              // starts in flight
	early    map[uint32]error // deaths seen while starting > 0
	sub      *eventstream.Subscription
	prompts  prompts // the prompts of starts in flight
}

// tableProc registers a viaTable in the process registry; it takes no
// messages.
type tableProc struct{ t *viaTable }

func (tableProc) SendUserMessage(*actor.PID, any)   {}
func (tableProc) SendSystemMessage(*actor.PID, any) {}
func (tableProc) Stop(*actor.PID)                   {}

var viaTableMu sync.Mutex // makes the first viaTableOf of a node atomic

// viaTableOf returns node's via table and calls endpoint, making them on
// first use (the endpoint only when the node has none).
func viaTableOf(node *actors.Node) (*viaTable, *calls.Endpoint, error) {
	viaTableMu.Lock()
	defer viaTableMu.Unlock()
	ep := calls.Of(node)
	if ep == nil {
		var err error
		if ep, err = calls.New(node, calls.Config{}); err != nil {
			return nil, nil, fmt.Errorf("spawn: via needs a calls endpoint: %w", err)
		}
	}
	if p, ok := node.System().ProcessRegistry.GetLocal(viaTableID); ok {
		return p.(tableProc).t, ep, nil
	}
	if err := registerViaErrors(node, ep); err != nil {
		return nil, nil, err
	}
	t := &viaTable{kids: map[uint32]*viaChild{}, early: map[uint32]error{}}
	node.System().ProcessRegistry.Add(tableProc{t}, viaTableID)
	t.sub = node.System().EventStream.Subscribe(t.onEvent)
	node.OnShutdown(func(context.Context) error {
		node.System().EventStream.Unsubscribe(t.sub)
		return nil
	})
	return t, ep, nil
}

func (t *viaTable) onEvent(evt any) {
	down, ok := evt.(*actors.ContextDown)
	if !ok {
		return
	}
	var err error = down.Reason
	if down.Reason == nil {
		err = actors.ErrContextDead
	}
	t.mu.Lock()
	h := t.kids[down.ID]
	delete(t.kids, down.ID)
	if h == nil && t.starting > 0 && len(t.early) < maxEarlyDeaths {
		t.early[down.ID] = err
	}
	t.mu.Unlock()
	if h != nil {
		h.markDead(err)
	}
}

func (t *viaTable) beginStart() {
	t.mu.Lock()
	t.starting++
	t.mu.Unlock()
}

func (t *viaTable) endStart() {
	t.mu.Lock()
	if t.starting--; t.starting == 0 {
		clear(t.early)
	}
	t.mu.Unlock()
}

// add records h, or marks it dead at once when its death came first.
func (t *viaTable) add(h *viaChild) {
	t.mu.Lock()
	err, died := t.early[h.id]
	if !died {
		t.kids[h.id] = h
	}
	t.mu.Unlock()
	if died {
		h.markDead(err)
	}
}
