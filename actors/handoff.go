package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/wire"
)

// Handing sockets to workers. Two ways, one worker side:
//
//   - Dispatch: the parent accepts and hands each connection to a worker
//     (Dispatcher). It keeps its copy until the worker answers Handed, so a
//     worker that dies before taking a connection loses nothing: the
//     connection goes to the next worker. Then the parent closes its copy
//     and is out of the data path.
//   - Share: the parent hands the listening socket itself to every worker
//     (a Listener message), and the kernel spreads accepts between them.
//
// A worker serves an Inbox: a net.Listener that yields the connections
// handed to it and those it accepts from shared listeners, so
// http.Server.Serve(inbox) works the same in both cases.

// Conn hands an accepted connection to an actor (an Inbox's, typically).
// The answer is a *Handed.
type Conn struct {
	Conn net.Conn
}

// Listener hands a listening socket to an actor, which accepts from it
// (an Inbox does). The answer is a *Handed.
type Listener struct {
	Listener net.Listener
}

// Handed answers Conn and Listener. Refused is empty when the actor took
// the socket, and says why otherwise (the socket is then closed in the
// worker; the sender still has its own).
type Handed struct {
	Refused string
}

func registerHandoffTypes(r *wire.Registry) {
	wire.MustRegister[Conn](r, "spindle.Conn")
	wire.MustRegister[Listener](r, "spindle.Listener")
	wire.MustRegister[Handed](r, "spindle.Handed")
}

// ErrInboxClosed is returned by Inbox.Accept once the inbox is closed.
var ErrInboxClosed = errors.New("actors: inbox closed")

// Inbox is the worker side of socket handing: a net.Listener whose Accept
// returns the connections handed to its actor (see Inbox.Props) and those
// accepted from the listeners handed to it. Safe for concurrent use.
type Inbox struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	lns   []net.Listener
	wg    sync.WaitGroup
}

// NewInbox returns an inbox that queues up to backlog connections (default
// 1024) before it refuses more. addr is what Addr reports (nil: an
// unspecified TCP address).
func NewInbox(addr net.Addr, backlog int) *Inbox {
	if backlog <= 0 {
		backlog = 1024
	}
	if addr == nil {
		addr = &net.TCPAddr{}
	}
	return &Inbox{addr: addr, conns: make(chan net.Conn, backlog), done: make(chan struct{})}
}

// Props returns the props of the actor that feeds the inbox: it puts every
// Conn it is handed into the inbox, starts accepting from every Listener,
// and answers each with a *Handed. Register it as a kind in the worker's
// Setup: n.RegisterKind("http", inbox.Props()).
func (in *Inbox) Props() *actor.Props {
	return actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *Conn:
			c.Respond(&Handed{Refused: in.put(m.Conn)})
		case *Listener:
			c.Respond(&Handed{Refused: in.share(m.Listener)})
		}
	})
}

// put queues c, or closes it and says why not. It holds mu, so a
// connection is never queued after Close has drained the queue.
func (in *Inbox) put(c net.Conn) string {
	if c == nil {
		return "no connection"
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	select {
	case <-in.done:
		_ = c.Close()
		return "inbox closed"
	default:
	}
	select {
	case in.conns <- c:
		return ""
	default:
		_ = c.Close()
		return "inbox full"
	}
}

// share accepts from ln into the inbox until either is closed.
func (in *Inbox) share(ln net.Listener) string {
	if ln == nil {
		return "no listener"
	}
	in.mu.Lock()
	select {
	case <-in.done:
		in.mu.Unlock()
		_ = ln.Close()
		return "inbox closed"
	default:
	}
	in.lns = append(in.lns, ln)
	in.wg.Add(1)
	in.mu.Unlock()
	go func() {
		defer in.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				return // closed
			}
			select {
			case in.conns <- c:
			case <-in.done:
				_ = c.Close()
				return
			}
		}
	}()
	return ""
}

// Accept returns the next connection, or ErrInboxClosed once the inbox is
// closed.
func (in *Inbox) Accept() (net.Conn, error) {
	select {
	case <-in.done:
		return nil, ErrInboxClosed
	default:
	}
	select {
	case c := <-in.conns:
		return c, nil
	case <-in.done:
		return nil, ErrInboxClosed
	}
}

// Close stops the inbox: shared listeners are closed (in this process),
// queued connections are closed, and Accept returns ErrInboxClosed. The
// queue is drained after the accepting goroutines have stopped and under
// the lock put holds, so no connection is queued behind the drain.
func (in *Inbox) Close() error {
	in.once.Do(func() {
		in.mu.Lock()
		close(in.done)
		lns := in.lns
		in.lns = nil
		in.mu.Unlock()
		for _, ln := range lns {
			_ = ln.Close()
		}
		in.wg.Wait()
		for {
			select {
			case c := <-in.conns:
				_ = c.Close()
			default:
				return
			}
		}
	})
	return nil
}

// Addr implements net.Listener.
func (in *Inbox) Addr() net.Addr { return in.addr }

// ErrNoWorker is returned by Dispatch when no worker took the connection
// before its context ended.
var ErrNoWorker = errors.New("actors: no worker took the connection")

// Dispatcher is the parent side of socket handing: it accepts connections
// and hands each to one of a changing set of worker actors in local child
// contexts, round robin. Safe for concurrent use.
type Dispatcher struct {
	node    *Node
	workers func() []*actor.PID
	log     *slog.Logger
	next    atomic.Uint64

	// Retry is how long Dispatch waits before another round when every
	// worker failed (default 10ms), for instance while they restart.
	Retry time.Duration
	// Drain is how long Serve lets the hand-offs under way finish after
	// its context is done (default 5s).
	Drain time.Duration

	handed, retried atomic.Uint64
}

// NewDispatcher returns a dispatcher over the workers that workers returns
// (called for every connection, so the set may change: a supervisor's
// current PIDs, say). The workers must be actors that answer Conn with
// Handed, such as an Inbox's, in contexts whose links carry descriptors
// (spawn.SocketPair).
func NewDispatcher(n *Node, workers func() []*actor.PID) *Dispatcher {
	return &Dispatcher{node: n, workers: workers, log: n.Logger().With("component", "dispatcher"),
		Retry: 10 * time.Millisecond, Drain: 5 * time.Second}
}

// DispatchStats counts what a Dispatcher did.
type DispatchStats struct {
	Handed  uint64 // connections a worker took
	Retried uint64 // attempts that failed and went to another worker
}

// Stats returns the counts so far.
func (d *Dispatcher) Stats() DispatchStats {
	return DispatchStats{Handed: d.handed.Load(), Retried: d.retried.Load()}
}

// Serve accepts connections on ln and dispatches each on its own
// goroutine until ctx is done or ln fails; it then closes ln, gives the
// dispatches under way up to Drain to finish, and returns nil for ctx's
// end, the accept error otherwise. Connections that no worker took are
// closed.
func (d *Dispatcher) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	// Hand-offs outlive ctx by up to Drain: cancelling one that a worker
	// is about to answer would misreport a connection it took.
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		t := time.AfterFunc(d.Drain, cancel)
		wg.Wait()
		t.Stop()
		cancel()
	}()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var pause time.Duration // backoff while out of descriptors, as net/http does
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				continue // a deadline the caller set on ln
			}
			if (errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) && ctx.Err() == nil {
				pause = min(max(2*pause, 5*time.Millisecond), time.Second)
				d.log.Warn("accept: out of descriptors, pausing", "err", err, "pause", pause)
				select {
				case <-time.After(pause):
				case <-ctx.Done():
				}
				continue
			}
			_ = ln.Close()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		pause = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := d.Dispatch(dctx, c); err != nil {
				d.log.Warn("connection dropped", "remote", c.RemoteAddr(), "err", err)
				_ = c.Close()
			}
		}()
	}
}

// Dispatch hands c to a worker and returns its PID. A worker that is dead
// (IS_DEAD: its process is gone, and its copy with it) or refuses is
// skipped and the next one tried, round after round, until ctx is done. A
// worker that is alive but slow to answer is waited for, never bypassed:
// it may have taken c, and two processes must not serve one connection.
// Once a worker has taken c, Dispatch closes this process's copy. On an
// error c is left open, the caller's to close; if ctx ended while a worker
// was being asked, that worker may hold a copy too.
func (d *Dispatcher) Dispatch(ctx context.Context, c net.Conn) (*actor.PID, error) {
	var last error
	for {
		ws := d.workers()
		for range ws {
			pid := ws[d.next.Add(1)%uint64(len(ws))]
			err := d.hand(ctx, pid, c)
			if err == nil {
				d.handed.Add(1)
				_ = c.Close()
				return pid, nil
			}
			if ctx.Err() != nil {
				// An attempt cut short by the caller's own deadline says
				// nothing about the worker: keep the last real refusal.
				if last == nil {
					last = err
				}
				break
			}
			last = err
			d.retried.Add(1)
			if errors.Is(err, ErrNoFDPassing) {
				return nil, err // no worker of this kind can ever take it
			}
		}
		if last == nil {
			last = errors.New("no workers")
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v (last: %v)", ErrNoWorker, ctx.Err(), last)
		case <-time.After(d.Retry):
		}
	}
}

func (d *Dispatcher) hand(ctx context.Context, pid *actor.PID, c net.Conn) error {
	h, err := Request[*Handed](ctx, d.node, pid, &Conn{Conn: c})
	if err != nil {
		return err
	}
	if h.Refused != "" {
		return fmt.Errorf("actors: worker %s refused the connection: %s", FormatPID(pid), h.Refused)
	}
	return nil
}

// ShareListener hands ln to each of the worker actors (Inbox actors,
// typically), which then accept from it themselves; the kernel spreads
// the connections. It returns the first error, after trying every worker.
// ln stays open in this process: close it to stop accepting here, which
// does not stop the workers.
func ShareListener(ctx context.Context, n *Node, ln net.Listener, workers []*actor.PID) error {
	var first error
	for _, pid := range workers {
		h, err := Request[*Handed](ctx, n, pid, &Listener{Listener: ln})
		if err == nil && h.Refused != "" {
			err = fmt.Errorf("actors: worker %s refused the listener: %s", FormatPID(pid), h.Refused)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}
