package spawn_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
)

// Connections per second (issue 5): the same trivial HTTP handler served
// by one process, by worker contexts that a parent hands each accepted
// connection to (actors.Dispatcher), and by worker contexts that accept
// from a listening socket the parent handed them (actors.ShareListener).
// The sub-benchmarks run in one process, one after the other, so their
// ratios are the figures to read.

// hello is the handler every variant serves.
func hello(w http.ResponseWriter, _ *http.Request) {
	_, _ = io.WriteString(w, "hello\n")
}

// httpWorker returns the props of the kind "http": an Inbox's actor (it
// takes actors.Conn and actors.Listener) that, from its start to its stop,
// serves hello over HTTP from its inbox. Each node has its own inbox; the
// kind is meant to be spawned once per context.
func httpWorker() *actor.Props {
	in := actors.NewInbox(nil, 0)
	srv := &http.Server{Handler: http.HandlerFunc(hello)}
	done := make(chan struct{})
	return in.Props().Configure(actor.WithReceiverMiddleware(func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			switch env.Message.(type) {
			case *actor.Started:
				go func() {
					defer close(done)
					_ = srv.Serve(in)
				}()
			case *actor.Stopped:
				_ = srv.Close() // closes the inbox
				<-done
			}
			next(c, env)
		}
	}))
}

// benchClients is how many goroutines make requests at once, each on a
// fresh connection per request.
const benchClients = 8

// BenchmarkHandoff measures HTTP connections per second: each request is
// a GET on a new TCP connection to 127.0.0.1, from benchClients
// goroutines in the test process. Variants: single (an http.Server in the
// test process), dispatch-N (the test process accepts and hands each
// connection to one of N local children over spawn.SocketPair, which
// serve it from an actors.Inbox) and share-N (the N children accept from
// the listening socket themselves).
//
// Every request leaves a closed connection behind, which the kernel's
// connection tracking (loaded on Docker hosts) remembers for 120 s; run it
// with a fixed count (-benchtime 5000x) rather than a duration, and pause
// between runs. A run that could fill half the table is skipped.
func BenchmarkHandoff(b *testing.B) {
	b.Run("single", func(b *testing.B) {
		ln := listenTCP(b)
		srv := &http.Server{Handler: http.HandlerFunc(hello)}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.Serve(ln)
		}()
		defer func() { _ = srv.Close(); <-done }()
		hammer(b, ln.Addr().String(), nil)
	})
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("dispatch-%d", n), func(b *testing.B) {
			root := newRoot(b, nil)
			pids, procs := httpWorkers(b, root, n)
			ln := listenTCP(b)
			d := actors.NewDispatcher(root, func() []*actor.PID { return pids })
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- d.Serve(ctx, ln) }()
			defer cancel()
			requests := hammer(b, ln.Addr().String(), procs)
			// Closing the listener stops Serve, which waits for the
			// dispatches under way; cancelling ctx would cut their wait
			// for the worker's answer (docs/benchmarks.md, issue 5, Caveats).
			_ = ln.Close()
			if err := <-done; !errors.Is(err, net.ErrClosed) {
				b.Fatalf("serve: %v", err)
			}
			if st := d.Stats(); st.Handed != uint64(requests) || st.Retried != 0 {
				b.Fatalf("dispatcher handed %d connections with %d retries, want %d and 0", st.Handed, st.Retried, requests)
			}
		})
	}
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("share-%d", n), func(b *testing.B) {
			root := newRoot(b, nil)
			pids, procs := httpWorkers(b, root, n)
			ln := listenTCP(b) // stays open here; this process never accepts from it
			if err := actors.ShareListener(testCtx(b, 10*time.Second), root, ln, pids); err != nil {
				b.Fatal(err)
			}
			hammer(b, ln.Addr().String(), procs)
		})
	}
}

func listenTCP(b *testing.B) net.Listener {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ln.Close() })
	return ln
}

// httpWorkers starts n local children over socketpairs, each with an
// "http" actor, and returns the actors and the children's process IDs.
func httpWorkers(b *testing.B, root *actors.Node, n int) ([]*actor.PID, []int) {
	b.Helper()
	ctx := testCtx(b, 10*time.Second)
	pids, procs := make([]*actor.PID, n), make([]int, n)
	for i := range pids {
		c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: fmt.Sprintf("http-%d", i), Grace: time.Second}, Link: spawn.SocketPair})
		if err != nil {
			b.Fatal(err)
		}
		if pids[i], err = c.Spawn(ctx, "http", "http"); err != nil {
			b.Fatal(err)
		}
		procs[i] = c.Pid()
	}
	return pids, procs
}

// hammerWarmup is how many requests precede the timed ones.
const hammerWarmup = 200

// hammer makes hammerWarmup, then b.N GET requests to addr from
// benchClients goroutines, each on a new connection, checks every answer,
// and reports connections per second and the CPU time per connection of
// this process (clients included) and of the worker processes. It returns
// how many requests it made.
func hammer(b *testing.B, addr string, workers []int) int {
	b.Helper()
	conntrackRoom(b, hammerWarmup+b.N)
	tr := &http.Transport{DisableKeepAlives: true, MaxIdleConnsPerHost: -1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "http://" + addr + "/"
	run := func(n int) error {
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make([]error, benchClients)
		for g := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					if errs[g] = get(client, url); errs[g] != nil {
						return
					}
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	if err := run(hammerWarmup); err != nil {
		b.Fatal(err)
	}
	self := []int{os.Getpid()}
	b.ReportAllocs()
	b.ResetTimer()
	start, selfCPU, workerCPU := time.Now(), cpuTime(b, self), cpuTime(b, workers)
	err := run(b.N)
	elapsed := time.Since(start)
	selfCPU, workerCPU = cpuTime(b, self)-selfCPU, cpuTime(b, workers)-workerCPU
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	perConn := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(b.N) }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "conns/s")
	b.ReportMetric(perConn(selfCPU+workerCPU), "cpu-us/conn")
	b.ReportMetric(perConn(workerCPU), "worker-cpu-us/conn")
	return hammerWarmup + b.N
}

// cpuTime returns the CPU time (user and system, all threads) the
// processes have used so far, from /proc/PID/stat, in clock ticks of
// 10 ms (USER_HZ is 100 on Linux).
func cpuTime(b *testing.B, pids []int) time.Duration {
	b.Helper()
	var ticks int
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatal(err)
		}
		// Fields after the command name, which is in parentheses and may
		// hold spaces: state is field 3, utime 14 and stime 15.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 13 {
			b.Fatalf("/proc/%d/stat: %d fields", pid, len(f))
		}
		for _, s := range f[11:13] {
			n, err := strconv.Atoi(s)
			if err != nil {
				b.Fatal(err)
			}
			ticks += n
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

func get(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(body) != "hello\n" {
		return fmt.Errorf("answer %d %q", resp.StatusCode, body)
	}
	return nil
}

// conntrackRoom skips the benchmark when n more connections could take the
// kernel's connection tracking table past half full. A closed TCP
// connection keeps its entry for 120 s (TIME_WAIT), and a full table drops
// the packets of every program on the machine (dmesg: "nf_conntrack: table
// full, dropping packet"), this benchmark's included: its clients then
// wait for SYN retransmissions.
func conntrackRoom(b *testing.B, n int) {
	b.Helper()
	count, err1 := readProcInt("/proc/sys/net/netfilter/nf_conntrack_count")
	limit, err2 := readProcInt("/proc/sys/net/netfilter/nf_conntrack_max")
	if err1 != nil || err2 != nil {
		return // no connection tracking
	}
	if count+n > limit/2 {
		b.Skipf("%d more connections could take the connection tracking table past half full "+
			"(%d of %d entries in use, each kept 120 s after its connection closes): "+
			"wait, or run with a smaller -benchtime Nx", n, count, limit)
	}
}

func readProcInt(path string) (int, error) {
	s, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(s)))
}
