package debug

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/introspect"
)

// client is one open event stream.
type client struct {
	ch chan []byte // messages for it, at most Options.ClientBuffer
}

// sse formats one server-sent event; data is JSON (no newline in it).
func sse(event string, data []byte) []byte {
	b := make([]byte, 0, len(event)+len(data)+16)
	b = append(b, "event: "...)
	b = append(b, event...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("debug: encode: " + err.Error()) // our own plain structs always encode
	}
	return b
}

// statsLocked is Stats with v.mu held.
func (v *View) statsLocked() Stats {
	return Stats{Clients: len(v.clients), MaxClients: v.opt.MaxClients, Refused: v.refused.Load(),
		Dropped: v.dropped.Load(), Samples: v.samples.Load()}
}

// broadcastLocked queues msg for every stream, with v.mu held; a stream
// whose queue is full loses it (counted).
func (v *View) broadcastLocked(msg []byte) {
	for c := range v.clients {
		select {
		case c.ch <- msg:
		default:
			v.dropped.Add(1)
		}
	}
}

// treeMsgLocked is the "tree" message of the latest sample.
func (v *View) treeMsgLocked() []byte {
	if v.st.snap == nil {
		return nil
	}
	snap := *v.st.snap
	snap.Stats = v.statsLocked()
	return sse("tree", mustJSON(&snap))
}

// onEvent takes the node's events; it runs on the publisher's goroutine
// (a link's reader), so it never blocks.
func (v *View) onEvent(evt any) {
	cd, ok := evt.(*actors.ContextDown)
	if !ok {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.st.down(cd, time.Now())
	v.broadcastLocked(sse("event", mustJSON(&e)))
}

// join opens a stream, starting the sampler if it does not run; it
// returns what the stream sends first.
func (v *View) join() (*client, []byte, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed || len(v.clients) >= v.opt.MaxClients {
		return nil, nil, false
	}
	c := &client{ch: make(chan []byte, v.opt.ClientBuffer)}
	v.clients[c] = struct{}{}
	first := []byte("retry: 2000\n\n")
	first = append(first, v.treeMsgLocked()...)
	if len(v.st.events) > 0 {
		first = append(first, sse("events", mustJSON(v.st.events))...)
	}
	if !v.sampling {
		v.sampling = true
		ctx, cancel := context.WithCancel(v.ctx)
		v.stopSampler = cancel
		v.wg.Add(1)
		go v.run(ctx)
	}
	return c, first, true
}

// leave closes a stream; the last one stops the sampler.
func (v *View) leave(c *client) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.clients, c)
	if len(v.clients) == 0 && v.sampling {
		v.sampling = false
		v.stopSampler()
	}
}

// run samples the tree every Interval until ctx ends (the last stream
// left, or Close).
func (v *View) run(ctx context.Context) {
	defer v.wg.Done()
	t := time.NewTicker(v.opt.Interval)
	defer t.Stop()
	for {
		_ = v.sample(ctx, false)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample takes a sample of the tree and sends it and its events to the
// streams; with ifStale, only when the latest is older than Interval (it
// is then the one to use). Nothing is kept when ctx ended during it.
func (v *View) sample(ctx context.Context, ifStale bool) error {
	v.sampleMu.Lock()
	defer v.sampleMu.Unlock()
	if ifStale {
		v.mu.Lock()
		fresh := v.st.snap != nil && time.Since(v.st.snapAt) < v.opt.Interval
		v.mu.Unlock()
		if fresh {
			return nil
		}
	}
	tctx, cancel := context.WithTimeout(ctx, v.opt.Deadline)
	defer cancel()
	at := time.Now()
	tree, err := introspect.Tree(tctx, v.n)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	took := time.Since(at)
	v.samples.Add(1)
	v.mu.Lock()
	defer v.mu.Unlock()
	evs := v.st.commit(v.n, tree, err, at, took)
	for i := range evs {
		v.broadcastLocked(sse("event", mustJSON(&evs[i])))
	}
	v.broadcastLocked(v.treeMsgLocked())
	return nil
}

// serveEvents serves /events until the client goes, Close, or the node's
// shutdown.
func (v *View) serveEvents(w http.ResponseWriter, r *http.Request) {
	c, first, ok := v.join()
	if !ok {
		v.refused.Add(1)
		w.Header().Set("Retry-After", "10")
		http.Error(w, "debug: too many event streams", http.StatusServiceUnavailable)
		return
	}
	defer v.leave(c)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(v.opt.WriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(first) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-v.ctx.Done():
			return
		case m := <-c.ch:
			if !write(m) {
				return
			}
		}
	}
}

// serveJSON serves /tree.json: the latest sample when it is younger than
// Interval, else a new one, with the recent events.
func (v *View) serveJSON(w http.ResponseWriter, r *http.Request) {
	ctx, stop := context.WithCancel(r.Context())
	defer stop()
	defer context.AfterFunc(v.ctx, stop)()
	v.mu.Lock()
	closed := v.closed
	v.mu.Unlock()
	if closed {
		http.Error(w, "debug: view closed", http.StatusServiceUnavailable)
		return
	}
	if err := v.sample(ctx, true); err != nil {
		http.Error(w, "debug: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	v.mu.Lock()
	snap := *v.st.snap
	snap.Stats = v.statsLocked()
	snap.Events = append([]Event(nil), v.st.events...)
	v.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(mustJSON(&snap))
}

// serveAsset serves one embedded file.
func (v *View) serveAsset(w http.ResponseWriter, r *http.Request, name, ctype string) {
	b, err := fs.ReadFile(assets, "assets/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = bytes.NewReader(b).WriteTo(w)
}
