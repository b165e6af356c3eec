package actors_test

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
)

// A transportMaker returns the two ends of one link: the parent's and the
// child's. Like yamux's testConnTypes, the link-level tests run over each.
type transportMaker func(t testing.TB) (parent, child actors.Transport)

var transports = []struct {
	name string
	mk   transportMaker
}{
	{"net.Pipe", netPipe},
	{"os.Pipe pair", osPipes},
	{"TCP loopback", tcpLoopback},
}

func connTransport(c net.Conn) actors.Transport { return actors.Transport{R: c, W: c, C: c} }

func netPipe(testing.TB) (parent, child actors.Transport) {
	a, b := net.Pipe()
	return connTransport(a), connTransport(b)
}

// osPipes joins two os.Pipe pairs, as a local child's stdin and stdout.
func osPipes(t testing.TB) (parent, child actors.Transport) {
	down, toChild, err := os.Pipe() // parent writes, child reads
	if err != nil {
		t.Fatal(err)
	}
	fromChild, up, err := os.Pipe() // child writes, parent reads
	if err != nil {
		t.Fatal(err)
	}
	parent = actors.Transport{R: fromChild, W: toChild, C: closeAll{fromChild, toChild}}
	child = actors.Transport{R: down, W: up, C: closeAll{down, up}}
	return parent, child
}

func tcpLoopback(t testing.TB) (parent, child actors.Transport) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no TCP loopback: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	dialed, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	acc := <-accepted
	if acc == nil {
		_ = dialed.Close()
		t.Fatal("accept failed")
	}
	return connTransport(acc), connTransport(dialed)
}

type closeAll []interface{ Close() error }

func (cs closeAll) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// TestTransports_RoundTripAndDeath runs a request, a watch and the death of
// the child over each kind of byte stream.
func TestTransports_RoundTripAndDeath(t *testing.T) {
	for _, tr := range transports {
		tr := tr
		t.Run(tr.name, func(t *testing.T) {
			k := newKinds()
			cfg := actors.Config{Setup: setups(typeSetup, k.setup)}
			root := newRoot(t, cfg)
			c := attachOver(t, root, "worker", cfg, tr.mk)
			echo := spawnRemote(t, root, c.link.ID, "echo", "")
			hole := spawnRemote(t, root, c.link.ID, "blackhole", "")
			ping(t, root, echo, "over "+tr.name)
			ev := make(chan watchEvent, 4)
			spawnWatcher(t, root, echo, ev)
			pending := requestAsync(root, hole, &Ping{Text: "wait"}, ctxLong)
			recv(t, k.swallow, waitLong, "the blackhole to receive the request")

			killed := time.Now()
			c.kill()
			out := recv(t, pending, ctxLong+time.Second, "the pending request")
			if took := time.Since(killed); took > atOnce {
				t.Errorf("pending request failed %v after the child died", took)
			}
			if !errors.Is(out.err, actors.ErrContextDead) {
				t.Errorf("pending request: %v, want ErrContextDead", out.err)
			}
			if term := nextTerminated(t, ev, waitLong); !samePID(term.Who, echo) {
				t.Errorf("Terminated.Who = %s", pidString(term.Who))
			}
			if !closedWithin(c.node.Stopping(), waitLong) {
				t.Error("child did not stop after its link closed")
			}
			ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
			defer cancel()
			if _, err := root.Request(ctx, echo, &Ping{}); !errors.Is(err, actors.ErrContextDead) {
				t.Errorf("late request: %v, want ErrContextDead", err)
			}
		})
	}
}
