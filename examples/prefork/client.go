package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// client makes HTTP requests, each on a fresh connection, so that every
// request is a connection the parent accepts and hands to a worker.
type client struct {
	url     string
	tr      *http.Transport
	hc      *http.Client
	redials atomic.Uint64 // connects that timed out and were dialed again
}

func newClient(url string) *client {
	c := &client{url: url}
	c.tr = &http.Transport{DisableKeepAlives: true, DialContext: c.dial}
	c.hc = &http.Client{Transport: c.tr}
	return c
}

// Connects that the kernel does not complete within dialTimeout are dialed
// again, up to dialAttempts in all. On a loopback that churns through many
// connections (a full TIME_WAIT table) a SYN can go unanswered for seconds,
// with or without Spindle. Such a connect never got past the kernel's
// handshake, so redialing it hides nothing this example is about; any
// other dial error, and any failure after the connect, fails the request.
const (
	dialTimeout  = 3 * time.Second
	dialAttempts = 5
)

func (c *client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	for attempt := 1; ; attempt++ {
		conn, err := d.DialContext(ctx, network, addr)
		var ne net.Error
		if err == nil || attempt == dialAttempts || ctx.Err() != nil || !errors.As(err, &ne) || !ne.Timeout() {
			return conn, err
		}
		c.redials.Add(1)
	}
}

func (c *client) close() { c.tr.CloseIdleConnections() }

// reply is the outcome of one request: who served it, or why it failed.
type reply struct {
	worker string
	pid    int
	err    error
}

// requestTimeout bounds one request. Generous: the machine may be busy.
const requestTimeout = 30 * time.Second

// get makes one request and checks that the body names the worker that
// the headers name.
func (c *client) get() reply {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return reply{err: err}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return reply{err: fmt.Errorf("status %s", resp.Status)}
	}
	r := reply{worker: resp.Header.Get("X-Worker")}
	r.pid, err = strconv.Atoi(resp.Header.Get("X-Worker-Pid"))
	if err != nil {
		return reply{err: fmt.Errorf("X-Worker-Pid: %w", err)}
	}
	if want := fmt.Sprintf("served by %s pid %d\n", r.worker, r.pid); string(body) != want {
		return reply{err: fmt.Errorf("body %q, want %q", body, want)}
	}
	return r
}

// many makes n requests, up to parallel at a time, and returns their
// replies in order.
func (c *client) many(n, parallel int) []reply {
	out := make([]reply, n)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = c.get()
		}()
	}
	wg.Wait()
	return out
}

// load makes one request after another on its own goroutine until stopped.
type load struct {
	mu       sync.Mutex
	replies  []reply
	more     chan struct{} // signalled after each reply
	quit     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func startLoad(c *client) *load {
	l := &load{more: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.quit:
				return
			default:
			}
			r := c.get()
			l.mu.Lock()
			l.replies = append(l.replies, r)
			l.mu.Unlock()
			select {
			case l.more <- struct{}{}:
			default:
			}
		}
	}()
	return l
}

// waitFor waits until the load has made n requests, or has ended.
func (l *load) waitFor(n int) {
	for {
		l.mu.Lock()
		got := len(l.replies)
		l.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-l.more:
		case <-l.done:
			return
		}
	}
}

// stop ends the load, waits for the request under way and returns every
// reply. It is safe to call more than once.
func (l *load) stop() []reply {
	l.stopOnce.Do(func() { close(l.quit) })
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.replies
}

// tally counts the replies by worker: " worker-1/pid 10 x4, worker-2/pid 11 x4".
func tally(rs []reply) string {
	counts := map[string]int{}
	for _, r := range rs {
		if r.err == nil {
			counts[fmt.Sprintf("%s/pid %d", r.worker, r.pid)]++
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s x%d", k, counts[k])
	}
	return " " + strings.Join(parts, ", ")
}
