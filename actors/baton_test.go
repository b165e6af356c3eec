package actors_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
)

// The read baton (docs/links.md, "The read baton"): a requester that waits
// for its answer reads the link itself. These tests run real nodes over
// each transport and try to break it.

// tickCollector is a root actor that counts the Ticks of bursts of n, each
// numbered from 0, and reports a Tick out of order.
func tickCollector(t *testing.T, root *actors.Node, name string, n int) (count func() (int, error)) {
	t.Helper()
	var mu sync.Mutex
	got, bad := 0, error(nil)
	props := actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*Tick); ok {
			mu.Lock()
			if m.I != got%n && bad == nil {
				bad = fmt.Errorf("tick %d after %d ticks, want %d", m.I, got, got%n)
			}
			got++
			mu.Unlock()
		}
	})
	if _, err := root.System().Root.SpawnNamed(props, name); err != nil {
		t.Fatal(err)
	}
	return func() (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return got, bad
	}
}

// TestBaton_ConcurrentRequestsWhileOtherFramesArrive: requesters at once to
// many actors of a child, while the child sends bursts of messages to a
// root actor on the same link (frames that whoever holds the read side
// must deliver in order): every answer reaches its own requester, every
// message arrives once and in order, and requesters did read the link.
func TestBaton_ConcurrentRequestsWhileOtherFramesArrive(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			k := newKinds()
			cfg := actors.Config{Setup: setups(typeSetup, k.setup)}
			root := newRoot(t, cfg)
			c := attachOver(t, root, "worker", cfg, tr.mk)
			const actorsN, requesters, each, bursts, burstN = 8, 6, 150, 6, 300
			echoes := make([]*actor.PID, actorsN)
			for i := range echoes {
				echoes[i] = spawnRemote(t, root, c.link.ID, "echo", "")
			}
			burst := spawnRemote(t, root, c.link.ID, "burst", "")
			count := tickCollector(t, root, "ticks", burstN)
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			var wg sync.WaitGroup
			errs := make(chan error, requesters+1)
			for r := range requesters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						text := fmt.Sprintf("%d/%d", r, i)
						pong, err := actors.Request[*Pong](ctx, root, echoes[(r+i)%actorsN], &Ping{Text: text})
						if err != nil {
							errs <- fmt.Errorf("request %s: %w", text, err)
							return
						}
						if pong.Text != text {
							errs <- fmt.Errorf("request %s answered %q", text, pong.Text)
							return
						}
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range bursts {
					if _, err := actors.Request[*Pong](ctx, root, burst, &Burst{N: burstN, To: "ticks"}); err != nil {
						errs <- fmt.Errorf("burst: %w", err)
						return
					}
				}
			}()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			waitFor(t, waitLong, "every tick", func() bool { n, err := count(); return n == bursts*burstN || err != nil })
			if _, err := count(); err != nil {
				t.Error(err)
			}
			if c.link.HeldFrames() == 0 {
				t.Error("no requester read the link itself")
			}
		})
	}
}

// TestBaton_ChildDiesWhileRequestWaits: the child's end of the link goes
// away while a request to it waits (its requester holding the read side)
// or while nobody reads the link (the baton idle after the last answer):
// the waiting request fails at once with the death, and the watcher of one
// of its actors gets Terminated at once.
func TestBaton_ChildDiesWhileRequestWaits(t *testing.T) {
	for _, pending := range []bool{true, false} {
		for _, tr := range transports {
			t.Run(fmt.Sprintf("%s/pending=%v", tr.name, pending), func(t *testing.T) {
				k := newKinds()
				cfg := actors.Config{Setup: setups(typeSetup, k.setup)}
				root := newRoot(t, cfg)
				c := attachOver(t, root, "worker", cfg, tr.mk)
				echo := spawnRemote(t, root, c.link.ID, "echo", "")
				hole := spawnRemote(t, root, c.link.ID, "blackhole", "")
				events := make(chan watchEvent, 4)
				spawnWatcher(t, root, echo, events)
				for i := range 5 {
					ping(t, root, echo, fmt.Sprint(i)) // the baton goes out
				}
				var out <-chan outcome
				if pending {
					out = requestAsync(root, hole, &Ping{Text: "void"}, ctxLong)
					recv(t, k.swallow, waitLong, "the blackhole to get the request")
				}
				broken := time.Now()
				c.kill()
				if pending {
					o := recv(t, out, ctxLong+time.Second, "the pending request")
					if took := time.Since(broken); took > atOnce {
						t.Errorf("pending request failed %v after the child died, want at once", took)
					}
					deadError(t, o.err, actors.ErrContextDead)
				}
				term := nextTerminated(t, events, atOnce)
				if term.Why != actor.TerminatedReason_AddressTerminated {
					t.Errorf("Terminated.Why = %v, want AddressTerminated", term.Why)
				}
				if c.link.HeldFrames() == 0 {
					t.Error("no requester read the link itself")
				}
			})
		}
	}
}

// TestBaton_ReplyRacesCancel: requests whose ctx ends about when their
// answer arrives. Each returns its answer or its ctx's error, never
// another's answer; afterwards the link works as before.
func TestBaton_ReplyRacesCancel(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			root, c, _ := pairOver(t, tr.mk)
			echo := spawnRemote(t, root, c.link.ID, "echo", "")
			rng := rand.New(rand.NewPCG(3, 4))
			cancelled := 0
			for i := range 500 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(120))*time.Microsecond)
				text := fmt.Sprint(i)
				pong, err := actors.Request[*Pong](ctx, root, echo, &Ping{Text: text})
				cancel()
				switch {
				case errors.Is(err, context.DeadlineExceeded):
					cancelled++
				case err != nil:
					t.Fatalf("request %d: %v", i, err)
				case pong.Text != text:
					t.Fatalf("request %d answered %q", i, pong.Text)
				}
			}
			for i := range 20 {
				ping(t, root, echo, fmt.Sprint("after", i))
			}
			t.Logf("%d of 500 cancelled", cancelled)
		})
	}
}

// pairOver is pair over a transport of the given kind.
func pairOver(t *testing.T, mk transportMaker) (*actors.Node, *child, *kinds) {
	t.Helper()
	k := newKinds()
	cfg := actors.Config{Setup: setups(typeSetup, k.setup)}
	root := newRoot(t, cfg)
	return root, attachOver(t, root, "worker", cfg, mk), k
}
