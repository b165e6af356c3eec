// Command prefork is a preforking HTTP server made of supervised contexts.
// The parent process listens on a TCP port and accepts; it hands each
// connection, as a file descriptor over a socketpair link, to one of N
// worker processes (actors.Dispatcher), which serve it with net/http on an
// actors.Inbox. Every response names the worker and its process ID.
//
// The workers are local child contexts under a one-for-one supervisor. The
// program makes a batch of requests, SIGKILLs a worker while clients keep
// requesting, and shows that no request fails: the parent keeps its copy of
// a connection until a worker answers that it took it, so a connection
// handed to a dead worker goes to the next one. The restarted worker, a new
// process, serves again. The program prints the dispatcher's counts, shuts
// down, checks that no worker process is left, and exits 0.
//
// Usage:
//
//	go run ./examples/prefork [-addr 127.0.0.1:0] [-workers 3] [-requests 12]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/supervision"
)

var (
	addrFlag     = flag.String("addr", "127.0.0.1:0", "TCP address the parent listens on")
	workersFlag  = flag.Int("workers", 3, "worker processes")
	requestsFlag = flag.Int("requests", 12, "requests in each batch")
)

func main() {
	spawn.Main(setup) // in a worker process: serve the context, never return
	flag.Parse()
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "prefork:", err)
		os.Exit(1)
	}
}

// kindHTTP is the actor kind that feeds a worker's HTTP server.
const kindHTTP = "http"

// setup makes a worker context an HTTP server: an inbox fed by the "http"
// actor kind, served by net/http until the context shuts down. It runs in
// each worker process (spawn.Main); the parent needs none of it.
func setup(n *actors.Node) error {
	inbox := actors.NewInbox(nil, 0)
	srv := &http.Server{Handler: handler(n), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(inbox) // http.ErrServerClosed once Shutdown closed the inbox
	}()
	n.OnShutdown(func(ctx context.Context) error {
		err := srv.Shutdown(ctx) // lets the requests under way finish
		<-served
		return err
	})
	n.RegisterKind(kindHTTP, inbox.Props())
	return nil
}

// handler answers every request with the worker's name and process ID.
func handler(n *actors.Node) http.Handler {
	pid := strconv.Itoa(os.Getpid())
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Worker", n.Name())
		w.Header().Set("X-Worker-Pid", pid)
		fmt.Fprintf(w, "served by %s pid %s\n", n.Name(), pid)
	})
}

// timeline prints events with the time since the start.
type timeline struct {
	mu    sync.Mutex
	out   io.Writer
	start time.Time
}

func (t *timeline) printf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, "%7.3fs  "+format+"\n", append([]any{time.Since(t.start).Seconds()}, args...)...)
}

func run(out io.Writer) error {
	if *workersFlag < 2 || *requestsFlag < 1 {
		return errors.New("need -workers >= 2 and -requests >= 1")
	}
	tl := &timeline{out: out, start: time.Now()}
	p, err := startPool(poolConfig{
		Addr:    *addrFlag,
		Workers: *workersFlag,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)), // the timeline tells the story
	})
	if err != nil {
		return err
	}
	defer p.close(context.Background()) // on an early return; a no-op after the close below
	sub := p.node.System().EventStream.Subscribe(func(ev any) { printEvent(tl, ev) })
	defer p.node.System().EventStream.Unsubscribe(sub)

	tl.printf("parent pid %d listening on %s; %d workers under supervisor %q (one_for_one, permanent)",
		os.Getpid(), p.Addr(), *workersFlag, "prefork")
	if err := waitUp(p.sup, 30*time.Second); err != nil {
		return err
	}
	tl.printf("workers up:%s", roll(p.sup))
	cl := newClient(p.URL())
	defer cl.close()
	seen := map[int]bool{} // every worker pid, to check none is left at the end
	if err := batch(tl, cl, "batch 1", *requestsFlag, seen); err != nil {
		return err
	}
	if err := killDuringLoad(tl, p, cl, seen); err != nil {
		return err
	}
	st := p.disp.Stats()
	tl.printf("dispatcher: %d connections handed to workers; %d attempts failed and went to another worker", st.Handed, st.Retried)
	if n := cl.redials.Load(); n > 0 {
		tl.printf("client: %d connects timed out in the kernel's TCP handshake and were redialed (busy loopback)", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.close(ctx); err != nil {
		return err
	}
	if c, err := net.Dial("tcp", p.Addr()); err == nil {
		_ = c.Close()
		return fmt.Errorf("%s still accepts after shutdown", p.Addr())
	}
	for pid := range seen {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("worker pid %d is still there after shutdown (kill -0: %v)", pid, err)
		}
	}
	tl.printf("clean shutdown: listener closed, all %d worker processes gone", len(seen))
	return nil
}

// killDuringLoad SIGKILLs one worker while a client keeps requesting, fires
// a burst of requests right after the kill, waits for the restart, and
// checks that every request succeeded and that the new process serves.
func killDuringLoad(tl *timeline, p *pool, cl *client, seen map[int]bool) error {
	victim, _ := p.sup.Child("worker-2")
	oldPid := pidOf(victim)
	ld := startLoad(cl)
	defer ld.stop() // on an early return
	ld.waitFor(10)  // the load is running
	tl.printf("SIGKILL worker-2 (ctx %d, pid %d) while a client keeps requesting", victim.ID, oldPid)
	if err := victim.Context.Kill(); err != nil {
		return err
	}
	burst := cl.many(*requestsFlag*3, *requestsFlag*3)
	if err := report(tl, "burst right after the kill", burst, seen); err != nil {
		return err
	}
	if err := waitRestarted(p.sup, "worker-2", victim.ID, 30*time.Second); err != nil {
		return err
	}
	now, _ := p.sup.Child("worker-2")
	newPid := pidOf(now)
	if err := batch(tl, cl, "batch 2", *requestsFlag, seen); err != nil {
		return err
	}
	if err := report(tl, "steady client, during and after the kill", ld.stop(), seen); err != nil {
		return err
	}
	if !seen[newPid] {
		return fmt.Errorf("the restarted worker-2 (pid %d) served nothing", newPid)
	}
	tl.printf("worker-2 is back: pid %d before the kill, pid %d now, and serving", oldPid, newPid)
	return nil
}

// batch makes n requests, up to 4 at a time, and reports them.
func batch(tl *timeline, cl *client, what string, n int, seen map[int]bool) error {
	return report(tl, what, cl.many(n, 4), seen)
}

// report prints who served rs; any failure is an error.
func report(tl *timeline, what string, rs []reply, seen map[int]bool) error {
	failed := 0
	var first error
	for _, r := range rs {
		if r.err != nil {
			failed++
			if first == nil {
				first = r.err
			}
			continue
		}
		seen[r.pid] = true
	}
	tl.printf("%s: %d requests, %d ok:%s", what, len(rs), len(rs)-failed, tally(rs))
	if failed > 0 {
		return fmt.Errorf("%s: %d of %d requests failed; first: %w", what, failed, len(rs), first)
	}
	return nil
}

// printEvent prints the supervisor's events.
func printEvent(tl *timeline, ev any) {
	switch e := ev.(type) {
	case *supervision.ChildFailed:
		tl.printf("supervisor: %s (ctx %d) failed: %s; restart after %v", e.Child, e.ID, e.Reason, e.Delay.Round(time.Millisecond))
	case *supervision.ChildRestarted:
		tl.printf("supervisor: %s restarted as ctx %d (was ctx %d)", e.Child, e.ID, e.OldID)
	case *supervision.SupervisorGaveUp:
		tl.printf("supervisor gave up: %v", e.Err)
	}
}
