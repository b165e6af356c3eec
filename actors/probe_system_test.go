package actors_test

// Acceptance probe of issue 11 ("SYSTEM ops lack authority": a child's
// SYSTEM stop stopped actors in the root, including a supervisor, and in a
// sibling), with the frame's source and authority forged as well:
// TestSystem_StopFromChild sends them under the child's own name; here the
// child claims to be the root (the ancestor that may stop anything) or the
// sibling itself.

import (
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

func TestProbe_SystemStopWithForgedAuthority(t *testing.T) {
	k := newKinds()
	cfg := actors.Config{Setup: setups(typeSetup, k.setup)}
	root := newRoot(t, cfg)
	sup, worker, starts := supervised(t, root)
	sib := attach(t, root, "sibling", cfg)
	echo := spawnRemote(t, root, sib.link.ID, "echo", "")
	raw, link := attachRaw(t, root, "mallory")
	for _, claim := range []struct {
		name      string
		src, auth uint32
	}{
		{"claims the root", 0, 0},
		{"own source, root authority", raw.id, 0},
		{"claims the sibling", sib.link.ID, sib.link.ID},
		{"sibling source, root authority", sib.link.ID, 0},
	} {
		for _, target := range []struct {
			dst uint32
			id  string
		}{{0, sup.Id}, {0, worker.Id}, {sib.link.ID, echo.Id}} {
			for _, op := range []uint8{rawOpStop, 6 /* restart */, 7 /* resume */} {
				raw.send(wire.FrameSpec{Kind: wire.KindSystem, Dst: target.dst, Src: claim.src, Auth: claim.auth},
					&rawSysMsg{Op: op, Target: target.id})
			}
		}
		raw.barrier(0)
		raw.barrier(sib.link.ID)
		if isClosed(link.Done()) {
			t.Fatalf("%s: link closed: %v", claim.name, link.Err())
		}
		ping(t, root, sup, claim.name+": supervisor alive")
		ping(t, root, worker, claim.name+": worker alive")
		ping(t, root, echo, claim.name+": sibling's actor alive")
	}
	// The supervisor still supervises.
	root.System().Root.Send(worker, &Ping{Text: "panic"})
	recv(t, starts, waitLong, "the supervisor to restart its worker")
	ping(t, root, worker, "worker restarted")
}
