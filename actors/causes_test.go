package actors_test

// Typed death causes (issue 11, "The cause of a death is flattened to a
// string"): a failed request's error and ContextDown.Reason keep the cause
// under errors.Is / errors.As, where the death was seen (the error itself)
// and one hop further (a cause code over the wire). No test here reads
// error text.

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// methodError stands for a spawn method's own typed error, returned by
// its Transport.Reason hook.
type methodError struct{ Host string }

func (e *methodError) Error() string { return fmt.Sprintf("method: lost %s", e.Host) }

// exitCoder is the exit status contract of spawn methods (runner.ExitCoder).
type exitCoder interface {
	error
	ExitCode() int
}

// TestDeadError_TypedCauses kills a context in four ways and checks the
// error of a request pending on it and the ContextDown event, in its
// parent (where the cause is the error itself) and in its grandparent
// (where it came as a cause code in DEL_ROUTE).
func TestDeadError_TypedCauses(t *testing.T) {
	tests := []struct {
		name  string
		cause wire.Cause
		// kill attaches a context below parent, arranges its death, and
		// returns its context ID; the death happens once a request is on
		// its way to it, or by itself (heartbeat).
		kill func(t *testing.T, parent *actors.Node) (id uint32, trigger func())
		// local checks the error where the death was seen; remote one hop
		// further.
		local, remote func(t *testing.T, err error)
	}{
		{"heartbeat timeout", wire.CauseHeartbeat,
			func(t *testing.T, parent *actors.Node) (uint32, func()) {
				raw, _ := attachRaw(t, parent, "silent") // reads, never writes
				return raw.id, func() {}
			},
			func(t *testing.T, err error) {
				var he *actors.HeartbeatError
				if !errors.Is(err, actors.ErrHeartbeatTimeout) || !errors.As(err, &he) {
					t.Errorf("%v: want ErrHeartbeatTimeout and a *HeartbeatError", err)
				}
			},
			func(t *testing.T, err error) {
				var rc *actors.RemoteCause
				if !errors.Is(err, actors.ErrHeartbeatTimeout) || !errors.As(err, &rc) || rc.Cause != wire.CauseHeartbeat {
					t.Errorf("%v: want ErrHeartbeatTimeout from a *RemoteCause", err)
				}
			}},
		{"protocol error", wire.CauseProtocol,
			func(t *testing.T, parent *actors.Node) (uint32, func()) {
				raw, _ := attachRaw(t, parent, "garbler")
				return raw.id, func() { raw.tryWriteRaw([]byte("this is not a frame, not at all")) }
			},
			func(t *testing.T, err error) {
				var pe *actors.ProtocolError
				if !errors.Is(err, actors.ErrProtocol) || !errors.As(err, &pe) {
					t.Errorf("%v: want ErrProtocol and a *ProtocolError", err)
				}
			},
			func(t *testing.T, err error) {
				if !errors.Is(err, actors.ErrProtocol) {
					t.Errorf("%v: want ErrProtocol", err)
				}
			}},
		{"spawn method's error", wire.CauseUnknown,
			func(t *testing.T, parent *actors.Node) (uint32, func()) {
				raw, _ := attachRawWith(t, parent, "remote", func(tr *actors.Transport) {
					tr.Reason = func(error) error { return &methodError{Host: "web-3"} }
				})
				return raw.id, func() { _ = raw.conn.Close() }
			},
			func(t *testing.T, err error) {
				var me *methodError
				if !errors.As(err, &me) || me.Host != "web-3" {
					t.Errorf("%v: want the method's *methodError", err)
				}
			},
			func(t *testing.T, err error) {
				var me *methodError
				if errors.As(err, &me) {
					t.Errorf("%v: a Go type crossed the wire", err)
				}
			}},
		{"exit status of a real process", wire.CauseExit,
			func(t *testing.T, parent *actors.Node) (uint32, func()) {
				l := startRawChild(t, parent, "exits", "exit7") // exits 7 at the request
				return l.ID, func() {}
			},
			func(t *testing.T, err error) {
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 7 {
					t.Errorf("%v: want the *exec.ExitError with status 7", err)
				}
			},
			func(t *testing.T, err error) {
				var ec exitCoder
				var rx *actors.RemoteExitError
				if !errors.Is(err, actors.ErrExited) || !errors.As(err, &ec) || ec.ExitCode() != 7 || !errors.As(err, &rx) {
					t.Errorf("%v: want ErrExited and ExitCode 7 from a *RemoteExitError", err)
				}
			}},
	}
	cfg := actors.Config{Setup: typeSetup, HeartbeatInterval: 20 * time.Millisecond, HeartbeatTimeout: 400 * time.Millisecond}
	for _, tt := range tests {
		t.Run(tt.name+"/child", func(t *testing.T) {
			root := newRoot(t, cfg)
			downs := subscribeContextDown(t, root)
			id, trigger := tt.kill(t, root)
			checkCause(t, root, downs, id, trigger, tt.cause, tt.local)
		})
		t.Run(tt.name+"/grandchild", func(t *testing.T) {
			root := newRoot(t, cfg)
			mid := attach(t, root, "middle", cfg)
			downs := subscribeContextDown(t, root)
			id, trigger := tt.kill(t, mid.node)
			waitFor(t, waitLong, "the root to route to the grandchild", func() bool { _, ok := root.Routes()[id]; return ok })
			checkCause(t, root, downs, id, trigger, tt.cause, tt.remote)
		})
	}
}

// checkCause sends a request from n to an actor in context id, triggers
// its death, and checks the request's error and the ContextDown event.
func checkCause(t *testing.T, n *actors.Node, downs <-chan *actors.ContextDown, id uint32, trigger func(),
	cause wire.Cause, check func(*testing.T, error)) {
	t.Helper()
	out := requestAsync(n, actor.NewPID(actors.Address(id), "x"), &Ping{Text: "pending"}, ctxLong)
	time.Sleep(20 * time.Millisecond) // let the request leave before the death (either order is checked the same)
	trigger()
	o := recv(t, out, waitLong, "the pending request to fail")
	de := deadError(t, o.err, actors.ErrContextDead)
	if de.Cause != cause {
		t.Errorf("request error cause %v, want %v", de.Cause, cause)
	}
	check(t, o.err)
	cd := contextDownFor(t, downs, id)
	if cd.Reason.Cause != cause {
		t.Errorf("ContextDown cause %v, want %v", cd.Reason.Cause, cause)
	}
	check(t, cd.Reason)
	// A request after the death gets the same cause from the dead record.
	ctx, cancel := context.WithTimeout(context.Background(), ctxLong)
	defer cancel()
	_, err := n.Request(ctx, actor.NewPID(actors.Address(id), "y"), &Ping{Text: "late"})
	if de := deadError(t, err, actors.ErrContextDead); de.Cause != cause {
		t.Errorf("later request cause %v, want %v", de.Cause, cause)
	}
	// So does a one-way Send (linkTo reads the record only for a send that fails).
	err = n.Send(actor.NewPID(actors.Address(id), "z"), &Ping{Text: "late"})
	if de := deadError(t, err, actors.ErrContextDead); de.Cause != cause {
		t.Errorf("later send cause %v, want %v", de.Cause, cause)
	}
}
