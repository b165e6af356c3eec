package actors

import (
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/wire"
)

// Cross-context supervision: an actor in this context can have child actors
// in another context, as in Akka's remote deployment. The child's failures
// reach the parent's supervisor strategy, the strategy's directives reach
// the child, and the child's termination (or its context's death) reaches
// the parent as a system Terminated, exactly as for a local child.
//
// Two tables keep this honest:
//   - kids, in the parent's context: the remote children of local actors,
//     with the restart statistics the parent's strategy updates;
//   - adopted, in the child's context: local actors whose parent lives in
//     another context. Only that context may restart or resume them.

type kid struct {
	parent *actor.PID
	stats  *actor.RestartStatistics
}

type adoption struct {
	parentCtx uint32
	parentID  string
}

type family struct {
	mu      sync.Mutex
	kids    map[uint32]map[string]*kid // child context -> child actor ID -> record
	adopted map[string]adoption        // local actor ID -> its remote parent
}

func (f *family) init() {
	f.kids = make(map[uint32]map[string]*kid)
	f.adopted = make(map[string]adoption)
}

// PanicError is the failure reason an actor's supervisor receives when a
// child actor in another context panicked: the panic value, printed, and
// the stack of the goroutine that panicked, as the child's context saw it.
type PanicError struct {
	Context uint32 // the child's context
	Actor   string // the child's actor ID
	Value   string // fmt.Sprint of the panic value
	Stack   string // the panicking goroutine's stack
	Message string // Go type of the message being handled, if known
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("actor %s in context %d panicked: %s", e.Actor, e.Context, e.Value)
}

// ChildProps returns Props that, spawned from inside an actor (c.Spawn,
// c.SpawnNamed), start an actor of kind (registered in context ctxID with
// RegisterKind) in context ctxID as a child of the spawning actor. The PID
// is returned at once: the spawn request travels ahead of every message
// later sent to the child, so nothing waits inside Receive.
//
// From then on the child is supervised across contexts: its panics reach
// the parent's supervisor strategy as an *actor.Failure whose Reason is a
// *PanicError; the strategy's directive (resume, restart, stop, escalate)
// is carried out in ctxID; the parent receives Terminated when the child
// stops, and Terminated with AddressTerminated when ctxID dies (or the
// spawn failed there). ctxID must be a descendant of this context.
func (n *Node) ChildProps(ctxID uint32, kind string) *actor.Props {
	return actor.PropsFromFunc(func(actor.Context) {}, actor.WithSpawnFunc(
		func(_ *actor.ActorSystem, id string, _ *actor.Props, parent actor.SpawnerContext) (*actor.PID, error) {
			return n.spawnChild(ctxID, kind, id, parent.Self())
		}))
}

func (n *Node) spawnChild(ctxID uint32, kind, id string, parent *actor.PID) (*actor.PID, error) {
	if ctxID == n.id {
		return nil, ErrNotRemote
	}
	if parent == nil || n.ctxOf(parent) != n.id {
		return nil, fmt.Errorf("actors: ChildProps must be spawned from an actor of this context")
	}
	// The parent's ID path is unique in this context; the context address
	// makes it unique in the child's.
	child := n.pidOf(ctxID, n.address+"/"+id)
	n.fam.mu.Lock()
	m := n.fam.kids[ctxID]
	if m == nil {
		m = make(map[string]*kid)
		n.fam.kids[ctxID] = m
	}
	m[child.Id] = &kid{parent: parent, stats: actor.NewRestartStatistics()}
	n.fam.mu.Unlock()
	body, err := wire.Marshal(&spawnRequest{Kind: kind, Name: child.Id, Parent: parent.Id})
	if err == nil {
		err = n.sendFrame(wire.FrameSpec{Kind: wire.KindSpawnActor, Dst: ctxID, Src: n.id, Auth: n.id}, nil, body)
	}
	if err != nil {
		n.log.Warn("remote child not started", "kind", kind, "ctx_id", ctxID, "err", err)
		n.kidGone(ctxID, child.Id, actor.TerminatedReason_AddressTerminated)
	}
	return child, nil
}

// kidGone delivers Terminated for a remote child to its parent as a system
// message (so the parent's context drops it from its children) and forgets
// it. It reports whether the child was known.
func (n *Node) kidGone(ctxID uint32, childID string, why actor.TerminatedReason) bool {
	n.fam.mu.Lock()
	k := n.fam.kids[ctxID][childID]
	if k != nil {
		delete(n.fam.kids[ctxID], childID)
		if len(n.fam.kids[ctxID]) == 0 {
			delete(n.fam.kids, ctxID)
		}
	}
	n.fam.mu.Unlock()
	if k == nil {
		return false
	}
	if proc, ok := n.sys.ProcessRegistry.GetLocal(k.parent.Id); ok {
		proc.SendSystemMessage(k.parent, &actor.Terminated{Who: n.pidOf(ctxID, childID), Why: why})
	}
	return true
}

// kidsDown reports every remote child in a dead context to its parent.
func (n *Node) kidsDown(ctxID uint32) {
	n.fam.mu.Lock()
	ids := make([]string, 0, len(n.fam.kids[ctxID]))
	for id := range n.fam.kids[ctxID] {
		ids = append(ids, id)
	}
	n.fam.mu.Unlock()
	for _, id := range ids {
		n.kidGone(ctxID, id, actor.TerminatedReason_AddressTerminated)
	}
}

// onChildFailure hands a remote child's failure to its parent's strategy.
func (n *Node) onChildFailure(src uint32, m *sysMsg) {
	n.fam.mu.Lock()
	k := n.fam.kids[src][m.PeerID]
	n.fam.mu.Unlock()
	if k == nil || k.parent.Id != m.Target {
		n.log.Warn("dropped failure of an actor that is no child here", "src", src, "child", m.PeerID, "parent", m.Target)
		return
	}
	proc, ok := n.sys.ProcessRegistry.GetLocal(k.parent.Id)
	if !ok {
		return
	}
	reason := &PanicError{Context: src, Actor: m.PeerID, Value: m.Reason, Stack: m.Stack, Message: m.Message}
	n.log.Warn("remote child failed", "child", FormatPID(n.pidOf(src, m.PeerID)), "parent", k.parent.Id, "reason", m.Reason)
	proc.SendSystemMessage(k.parent, &actor.Failure{Who: n.pidOf(src, m.PeerID), Reason: reason, RestartStats: k.stats})
}

// spawnAdopted starts a registered kind as the child of a remote parent.
func (n *Node) spawnAdopted(props *actor.Props, id string, parent *actor.PID) (*actor.PID, error) {
	n.fam.mu.Lock()
	if _, taken := n.fam.adopted[id]; taken {
		n.fam.mu.Unlock()
		return nil, actor.ErrNameExists
	}
	n.fam.adopted[id] = adoption{parentCtx: n.ctxOf(parent), parentID: parent.Id}
	n.fam.mu.Unlock()
	pid, err := actor.DefaultSpawner(n.sys, id, props, adoptiveContext{n.sys.Root, parent})
	if err != nil {
		n.fam.mu.Lock()
		delete(n.fam.adopted, id)
		n.fam.mu.Unlock()
	}
	return pid, err
}

// adoptiveContext is the spawner context of an adopted actor: protoactor
// takes the new actor's parent from Self.
type adoptiveContext struct {
	*actor.RootContext
	parent *actor.PID
}

func (c adoptiveContext) Self() *actor.PID { return c.parent }

// parentOf reports whether ctx/parentID is the remote parent of local actor
// id.
func (n *Node) parentOf(id string, ctx uint32) bool {
	n.fam.mu.Lock()
	defer n.fam.mu.Unlock()
	a, ok := n.fam.adopted[id]
	return ok && a.parentCtx == ctx
}

// sendFailure carries a local child's failure to its parent in context ctx.
// It runs inside protoactor's recover, on the panicking goroutine, so the
// stack still shows where the panic happened.
func (n *Node) sendFailure(ctx uint32, parent *actor.PID, f *actor.Failure) {
	m := sysMsg{Op: opFailure, Target: parent.Id, PeerCtx: n.id, PeerID: f.Who.Id,
		Reason: fmt.Sprint(f.Reason), Stack: string(debug.Stack())}
	if f.Message != nil {
		m.Message = typeName(f.Message)
	}
	if err := n.sendSystem(ctx, m); err != nil {
		n.log.Warn("failure not delivered to remote parent", "child", f.Who.Id, "err", err)
	}
}

// orphaned forgets an adopted actor once it has stopped.
func (n *Node) orphaned(id string) {
	n.fam.mu.Lock()
	delete(n.fam.adopted, id)
	n.fam.mu.Unlock()
}
