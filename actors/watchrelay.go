package actors

import "github.com/asynkron/protoactor-go/actor"

// watchRelayID is the actor ID of a node's watch relay.
const watchRelayID = "$spindle/watch-relay"

// watchRelay is the one local watcher that stands for every remote watcher
// of this context's actors (see heldWatches): when a watched actor
// terminates, it tells each remote watcher recorded for it. It is safe for
// concurrent use.
type watchRelay struct{ n *Node }

var _ actor.Process = watchRelay{}

func (w watchRelay) SendUserMessage(*actor.PID, any) {}

func (w watchRelay) SendSystemMessage(_ *actor.PID, m any) {
	t, ok := m.(*actor.Terminated)
	if !ok || t.Who == nil {
		return
	}
	n := w.n
	for _, rw := range n.track.held.dropWatchee(t.Who.Id) {
		_ = n.sendSystem(rw.ctx, sysMsg{Op: opTerminated, Target: rw.id, PeerCtx: n.id, PeerID: t.Who.Id, Why: int32(t.Why)})
	}
}

func (w watchRelay) Stop(*actor.PID) {}

// startWatchRelay registers the node's watch relay and hands heldWatches
// the functions that make it watch and unwatch local actors.
func (n *Node) startWatchRelay() {
	relay, _ := n.sys.ProcessRegistry.Add(watchRelay{n}, watchRelayID)
	tell := func(watchee string, m actor.SystemMessage) {
		if proc, ok := n.sys.ProcessRegistry.GetLocal(watchee); ok {
			proc.SendSystemMessage(n.pidOf(n.id, watchee), m)
		}
	}
	n.track.held.init(n.cfg.MaxRemoteWatches,
		func(watchee string) { tell(watchee, &actor.Watch{Watcher: relay}) },
		func(watchee string) { tell(watchee, &actor.Unwatch{Watcher: relay}) })
}
