package actors_test

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// TestZeroHop_BlockingReceiveDoesNotStallLink: a local actor whose Receive
// blocks, run on the link's reader by zero-hop delivery, does not stall the
// link it came from: the watchdog gives the link a new reader, which
// answers heartbeats, delivers to other actors, and reports the link's
// death to a waiting request at once.
func TestZeroHop_BlockingReceiveDoesNotStallLink(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup, HeartbeatInterval: -1})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the root's shutdown (cleanups run last first)
	onReader := make(chan bool, 1)
	blocker := func(c actor.Context) {
		if _, ok := c.Message().(*Ping); ok {
			on := strings.Contains(string(debug.Stack()), "link.(*Link).readFrames")
			onReader <- on
			if on {
				<-release
			}
		}
	}
	spawnLocal(t, root, "echo", func(c actor.Context) {
		if m, ok := c.Message().(*Ping); ok {
			c.Respond(&Pong{Text: m.Text})
		}
	})
	p, link := attachRaw(t, root, "raw")

	// Another goroutine's Schedule may take the slot of a post (see
	// hopDispatcher): the blocker then runs on a goroutine of its own and
	// does not block; a fresh one is tried.
	for attempt := 0; ; attempt++ {
		if attempt == 10 {
			t.Fatal("the blocker never ran on the link's reader: zero-hop delivery is off")
		}
		name := fmt.Sprintf("blocker-%d", attempt)
		spawnLocal(t, root, name, blocker)
		p.writeRaw(p.userFrame(p.spec(wire.KindUser, p.parent), name, &Ping{Text: "block"}))
		if recv(t, onReader, waitLong, "the blocker's Receive") {
			break
		}
	}

	// Heartbeats: a PING is answered while the Receive blocks.
	p.send(p.spec(wire.KindPing, p.parent), nil)
	p.expect(waitLong, "PONG", func(f wire.Frame) bool { return f.Header().Kind() == wire.KindPong })

	// Other actors: a Ping to echo is answered.
	p.writeRaw(p.userFrameFrom(p.spec(wire.KindUser, p.parent), "echo", p.id, "me", &Ping{Text: "other"}))
	p.expect(waitLong, "echo's Pong", func(f wire.Frame) bool { return f.Header().Kind() == wire.KindUser })

	// IS_DEAD: a request waiting on the raw child fails at once when its
	// link breaks, which only the link's reader can notice.
	out := requestAsync(root, actor.NewPID(actors.Address(p.id), "nobody"), &Ping{}, ctxLong)
	p.expect(waitLong, "the request", func(f wire.Frame) bool { return f.Header().Kind() == wire.KindUser })
	_ = p.conn.Close()
	o := recv(t, out, atOnce, "the request's error")
	if !errors.Is(o.err, actors.ErrContextDead) {
		t.Fatalf("request error %v, want ErrContextDead", o.err)
	}
	if link.Detached() == 0 {
		t.Fatal("the link's reader was never handed on while the Receive blocked")
	}
}

// TestZeroHop_OneAtATimeAndInOrder: an actor that gets messages from a
// child link (run on its reader) and from local goroutines at once still
// runs one message at a time, and sees each sender's messages in the order
// sent; two such actors fed by two links run side by side.
func TestZeroHop_OneAtATimeAndInOrder(t *testing.T) {
	for _, tr := range []struct {
		name string
		mk   transportMaker
	}{{"net.Pipe", netPipe}, {"os.Pipe", osPipes}} {
		t.Run(tr.name, func(t *testing.T) {
			const n = 2000
			k := newKinds()
			cfg := actors.Config{Setup: setups(typeSetup, k.setup)}
			root := newRoot(t, cfg)
			type tally struct {
				ticks, outOfOrder, overlaps int32
			}
			done := make(chan tally, 2)
			names := []string{"colA", "colB"}
			for _, name := range names {
				var inside atomic.Int32
				var tl tally
				next := 0
				spawnLocal(t, root, name, func(c actor.Context) {
					if inside.Add(1) > 1 {
						tl.overlaps++ // racy on purpose: -race reports two Receives at once too
					}
					defer inside.Add(-1)
					switch m := c.Message().(type) {
					case *Tick:
						if m.I != next {
							tl.outOfOrder++
						}
						next = m.I + 1
						tl.ticks++
					case *Pong: // the end marker
						done <- tl
					}
				})
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for _, name := range names {
				wg.Add(1)
				go func() { // local senders, at the same time as the links
					defer wg.Done()
					pid := actor.NewPID(root.Address(), name)
					for {
						select {
						case <-stop:
							return
						default:
							root.System().Root.Send(pid, &Ping{})
						}
					}
				}()
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			errs := make(chan error, len(names))
			for _, name := range names {
				c := attachOver(t, root, "w-"+name, cfg, tr.mk)
				burst := spawnRemote(t, root, c.link.ID, "burst", "")
				go func() {
					_, err := actors.Request[*Pong](ctx, root, burst, &Burst{N: n, To: name})
					errs <- err
				}()
			}
			for range names {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			close(stop)
			wg.Wait()
			for _, name := range names {
				// The Burst's answer came behind its Ticks on the same
				// link, so they are all in the mailbox; the marker goes last.
				root.System().Root.Send(actor.NewPID(root.Address(), name), &Pong{})
			}
			for range names {
				tl := recv(t, done, waitLong, "a collector's tally")
				if tl.ticks != n || tl.outOfOrder != 0 || tl.overlaps != 0 {
					t.Errorf("collector saw %d of %d ticks, %d out of order, %d Receives overlapping another",
						tl.ticks, n, tl.outOfOrder, tl.overlaps)
				}
			}
		})
	}
}

// spawnLocal spawns an actor named name in n with receive as its Receive.
func spawnLocal(t testing.TB, n *actors.Node, name string, receive actor.ReceiveFunc) *actor.PID {
	t.Helper()
	pid, err := n.System().Root.SpawnNamed(actor.PropsFromFunc(receive), name)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
