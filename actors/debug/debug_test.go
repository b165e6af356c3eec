package debug_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/goleak"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/actorstest"
	"github.com/spindle-go/spindle/actors/debug"
	"github.com/spindle-go/spindle/actors/introspect"
	"github.com/spindle-go/spindle/wire"
)

var leakOpts = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.(*ActorSystem).Shutdown.func1"),
}

func TestMain(m *testing.M) {
	if childMain() { // a real child context of the browser test
		return
	}
	goleak.VerifyTestMain(m, leakOpts...)
}

// serve mounts v under /debug/spindle/ on a test server.
func serve(t *testing.T, v *debug.View) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/debug/spindle/", v)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = v.Close() })
	return srv.URL + "/debug/spindle/"
}

func getJSON(t *testing.T, url string, into any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %s %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatal(err)
	}
}

func byName(s *debug.Snapshot) map[string]debug.Row {
	m := map[string]debug.Row{}
	for _, r := range s.Contexts {
		m[r.Name] = r
	}
	return m
}

func shape() actorstest.Shape {
	return actorstest.Shape{Setup: introspect.Setup, Children: []actorstest.Shape{
		{Name: "a", Children: []actorstest.Shape{{Name: "a1"}, {Name: "a2"}}},
		{Name: "b"},
	}}
}

// TestTreeJSON: /tree.json under a prefix holds every context in
// pre-order with its depth, the facts of each row (method and restarts
// from the ancestors' annotations), its links and RTT history, and the
// view's stats; the JSON has the documented field names.
func TestTreeJSON(t *testing.T) {
	tr := actorstest.New(t, shape())
	root := tr.Root()
	root.Annotate(tr.Context("b").ID(), actors.Annotation{Method: "ssh", Restarts: 2})
	base := serve(t, debug.Handler(root, debug.Options{}))
	var snap debug.Snapshot
	getJSON(t, base+"tree.json", &snap)
	if len(snap.Contexts) != 5 || snap.Error != "" || snap.Node.Name != "root" {
		t.Fatalf("snapshot: %+v", snap)
	}
	seen := map[uint32]int{}
	for i, r := range snap.Contexts {
		if p, ok := seen[r.Parent]; i > 0 && (!ok || snap.Contexts[p].Depth != r.Depth-1) {
			t.Fatalf("row %d (%s) not after its parent: %+v", i, r.Name, snap.Contexts)
		}
		seen[r.ID] = i
		if r.State != "up" || r.PID != os.Getpid() || r.Incarnation == "" || len(r.RTTHistoryUS) != 1 {
			t.Fatalf("row %s: %+v", r.Name, r)
		}
	}
	got := byName(&snap)
	if b := got["b"]; b.Method != "ssh" || b.Restarts != 2 || b.Depth != 1 || len(b.Links) != 1 || !b.Links[0].Parent {
		t.Fatalf("b: %+v", b)
	}
	if a := got["a"]; len(a.Links) != 3 || a.Links[0].FramesIn == 0 {
		t.Fatalf("a: %+v", a)
	}
	var raw map[string]any
	getJSON(t, base+"tree.json", &raw)
	for _, k := range []string{"node", "time", "took_ms", "interval_ms", "contexts", "stats"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("no %q in %v", k, raw)
		}
	}
	row := raw["contexts"].([]any)[1].(map[string]any)
	for _, k := range []string{"id", "parent", "depth", "name", "method", "host", "user", "pid", "incarnation",
		"state", "uptime_s", "restarts", "rtt_us", "srtt_us", "rtt_history_us", "links"} {
		if _, ok := row[k]; !ok {
			t.Fatalf("no %q in a row: %v", k, row)
		}
	}
}

// TestPage: the page and its script and style are served under the
// prefix, with a Content-Security-Policy that allows no inline script and
// nothing from elsewhere; other paths are 404, other methods 405.
func TestPage(t *testing.T) {
	tr := actorstest.New(t, actorstest.Shape{Setup: introspect.Setup})
	base := serve(t, debug.Handler(tr.Root(), debug.Options{}))
	for path, ctype := range map[string]string{"": "text/html", "app.js": "text/javascript", "app.css": "text/css"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) ||
			!strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") || len(body) == 0 {
			t.Fatalf("%q: %s %v", path, resp.Status, resp.Header)
		}
		if strings.Contains(string(body), "http://") && path != "app.js" || strings.Contains(string(body), "https://") {
			t.Fatalf("%q names an external resource", path)
		}
		if path == "app.js" && (strings.Contains(string(body), "innerHTML") || strings.Contains(string(body), "insertAdjacentHTML")) {
			t.Fatal("app.js sets markup")
		}
	}
	for path, want := range map[string]int{"nope": 404, "x/app.jss": 404} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s: %s", path, resp.Status)
		}
	}
	resp, err := http.Post(base+"tree.json", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %s", resp.Status)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// openStream opens /events and returns its events as they come.
func openStream(t *testing.T, ctx context.Context, url string) (<-chan sseEvent, *http.Response) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, resp
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events: content type %q", ct)
	}
	ch := make(chan sseEvent, 1024)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<24)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[len("data: "):]
			}
		}
	}()
	return ch, resp
}

// next returns the next event named one of names, skipping others.
func next(t *testing.T, ch <-chan sseEvent, names ...string) sseEvent {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended waiting for %v", names)
			}
			for _, n := range names {
				if ev.name == n {
					return ev
				}
			}
		case <-timeout:
			t.Fatalf("no %v event", names)
		}
	}
}

// TestEventStream: /events sends a tree at once, then every Interval; a
// context cut off is an "event" of kind down with its IS_DEAD reason as it
// happens, and the next trees show it dead under its parent.
func TestEventStream(t *testing.T) {
	tr := actorstest.New(t, shape())
	base := serve(t, debug.Handler(tr.Root(), debug.Options{Interval: 100 * time.Millisecond}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, _ := openStream(t, ctx, base)
	var snap debug.Snapshot
	if err := json.Unmarshal([]byte(next(t, ch, "tree").data), &snap); err != nil || len(snap.Contexts) != 5 {
		t.Fatalf("first tree: %v %+v", err, snap)
	}
	a1 := tr.Context("a1")
	a1.Cut()
	for {
		var ev debug.Event
		if err := json.Unmarshal([]byte(next(t, ch, "event").data), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.ID == a1.ID() {
			if ev.Kind != "down" || ev.To != debug.StateDead || ev.Code != "unreachable" || ev.Reason == "" || ev.Name != "a1" {
				t.Fatalf("event: %+v", ev)
			}
			break
		}
	}
	for {
		var s debug.Snapshot
		if err := json.Unmarshal([]byte(next(t, ch, "tree").data), &s); err != nil {
			t.Fatal(err)
		}
		r, ok := byName(&s)["a1"]
		if ok && r.State == debug.StateDead && r.Down != nil && r.Parent == tr.Context("a").ID() && r.Depth == 2 {
			break
		}
	}
	var js debug.Snapshot
	getJSON(t, base+"tree.json", &js)
	if len(js.Events) == 0 || js.Events[len(js.Events)-1].Kind != "down" {
		t.Fatalf("tree.json events: %+v", js.Events)
	}
}

// TestMaxClients: streams beyond MaxClients are refused with 503 (the
// page polls instead) and counted; a slot is free again when a stream
// ends.
func TestMaxClients(t *testing.T) {
	tr := actorstest.New(t, actorstest.Shape{Setup: introspect.Setup})
	v := debug.Handler(tr.Root(), debug.Options{MaxClients: 2})
	base := serve(t, v)
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	ch1, _ := openStream(t, ctx1, base)
	ch2, _ := openStream(t, ctx2, base)
	next(t, ch1, "tree")
	next(t, ch2, "tree")
	if _, resp := openStream(t, context.Background(), base); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third stream: %s", resp.Status)
	}
	if s := v.Stats(); s.Clients != 2 || s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}
	cancel1()
	waitFor(t, func() bool { return v.Stats().Clients == 1 })
	ch3, _ := openStream(t, ctx1x(t), base)
	next(t, ch3, "tree")
}

func ctx1x(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond for up to 20 s (a bound for a slow machine, not a
// timing assertion).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSlowClientNeverBlocks: a client that opens a stream and never reads
// holds up nothing: ContextDown events of 1 KB published on the node's
// event stream (by a link's reader, in real life) all return while its
// socket fills, its messages beyond its buffer are dropped and counted,
// its stream is ended once a write has been stuck for WriteTimeout, and
// a client that reads still gets what comes after.
func TestSlowClientNeverBlocks(t *testing.T) {
	tr := actorstest.New(t, actorstest.Shape{Setup: introspect.Setup})
	v := debug.Handler(tr.Root(), debug.Options{ClientBuffer: 8, WriteTimeout: 2 * time.Second, MaxEvents: 16})
	base := serve(t, v)
	conn, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(base, "/debug/spindle/"), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /debug/spindle/events HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return v.Stats().Clients == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, _ := openStream(t, ctx, base)
	next(t, ch, "tree")
	var sawLast, readerEnded atomic.Bool
	go func() {
		defer readerEnded.Store(true)
		for ev := range ch {
			if ev.name == "event" && strings.Contains(ev.data, `"name":"last"`) {
				sawLast.Store(true)
			}
		}
	}()
	reason := strings.Repeat("r", 1000)
	es := tr.Root().System().EventStream
	published := 0
	for deadline := time.Now().Add(20 * time.Second); v.Stats().Clients > 1; {
		if time.Now().After(deadline) {
			t.Fatalf("the stuck stream was not ended after %d events: %+v", published, v.Stats())
		}
		for range 50 {
			es.Publish(&actors.ContextDown{ID: 100000 + uint32(published), Name: "ghost", Reason: &actors.DeadError{Reason: reason}})
			published++
		}
		time.Sleep(2 * time.Millisecond) // let the reading client keep up
	}
	if readerEnded.Load() {
		t.Fatal("the reading client's stream ended, not the stuck one's")
	}
	t.Logf("%d events published until the stuck stream ended: %+v", published, v.Stats())
	if s := v.Stats(); s.Dropped == 0 {
		t.Fatalf("nothing dropped for the stuck client: %+v", s)
	}
	waitFor(t, func() bool {
		es.Publish(&actors.ContextDown{ID: 1, Name: "last", Reason: &actors.DeadError{Reason: "the end"}})
		return sawLast.Load()
	})
	var js debug.Snapshot
	getJSON(t, base+"tree.json", &js)
	if len(js.Events) != 16 {
		t.Fatalf("%d recent events kept, want MaxEvents 16", len(js.Events))
	}
}

// TestDisconnectNoLeak: when the client goes away, its stream's goroutine
// returns and, with it the last stream, the sampler stops; Close ends an
// open stream. No goroutine is left (goleak).
func TestDisconnectNoLeak(t *testing.T) {
	tr := actorstest.New(t, shape())
	v := debug.Handler(tr.Root(), debug.Options{Interval: 100 * time.Millisecond})
	mux := http.NewServeMux()
	mux.Handle("/d/", v)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	before := goleak.IgnoreCurrent()
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		ch, _ := openStream(t, ctx, srv.URL+"/d/")
		next(t, ch, "tree")
		next(t, ch, "tree") // the sampler runs
		cancel()
		for range ch {
		}
	}
	waitFor(t, func() bool { return v.Stats().Clients == 0 })
	srv.CloseClientConnections()
	if err := goleak.Find(append(leakOpts, before)...); err != nil {
		t.Fatalf("after the clients left: %v", err)
	}
	ch, _ := openStream(t, context.Background(), srv.URL+"/d/")
	next(t, ch, "tree")
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	for range ch { // Close ends the stream
	}
	srv.CloseClientConnections()
	if err := goleak.Find(append(leakOpts, before)...); err != nil {
		t.Fatalf("after Close: %v", err)
	}
	resp, err := http.Get(srv.URL + "/d/tree.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("tree.json after Close: %s", resp.Status)
	}
}

// hostileSetup answers TREE_QUERY with a row of its own whose strings are
// markup, script and over-long text.
func hostileSetup(n *actors.Node) error {
	return n.HandleKind(wire.KindTreeQuery, func(f wire.Frame) error {
		var q struct {
			ID uint64 `msgpack:"i"`
		}
		if err := msgpack.Unmarshal(f.Body(), &q); err != nil {
			return err
		}
		b, _ := msgpack.Marshal(struct { // the query ID first, as the asker reads it
			ID   uint64           `msgpack:"i"`
			Rows []map[string]any `msgpack:"r"`
		}{q.ID, []map[string]any{{
			"i": n.ID(), "n": hostileName, "h": hostileHost, "u": hostileUser, "m": hostileMethod,
			"e": hostileErr, "s": "up", "d": 666, "c": "<b>inc</b>",
		}}})
		_ = n.SendKind(wire.KindTreeReply, f.Header().Src(), b)
		return nil
	})
}

// The strings of a hostile child's row.
const (
	hostileName   = `<img src=x onerror="window.__pwned='name'">`
	hostileHost   = `<script>window.__pwned='host'</script>`
	hostileUser   = `"><svg onload="window.__pwned='user'">`
	hostileMethod = `javascript:window.__pwned='method'`
)

var hostileErr = "<iframe src=javascript:alert(1)>" + strings.Repeat("é", 300)

// TestHostileRow: a child's row of markup and script comes out of
// /tree.json as escaped JSON (no raw '<'), its strings cut to MaxString on
// a rune boundary.
func TestHostileRow(t *testing.T) {
	tr := actorstest.New(t, actorstest.Shape{Setup: introspect.Setup, Children: []actorstest.Shape{
		{Name: "mallory", Setup: hostileSetup}, {Name: "honest"},
	}})
	base := serve(t, debug.Handler(tr.Root(), debug.Options{Interval: 100 * time.Millisecond}))
	resp, err := http.Get(base + "tree.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.ContainsAny(string(body), "<>") {
		t.Fatalf("raw markup in the JSON: %s", body)
	}
	var snap debug.Snapshot
	if err := json.Unmarshal(body, &snap); err != nil {
		t.Fatal(err)
	}
	got := byName(&snap)
	m, ok := got[hostileName]
	if !ok || got["honest"].State != "up" {
		t.Fatalf("rows: %+v", snap.Contexts)
	}
	if m.Host != hostileHost || m.User != hostileUser || m.Method != hostileMethod || m.PID != 666 {
		t.Fatalf("mallory: %+v", m)
	}
	if len(m.Err) > debug.MaxString+len("…") || !strings.HasSuffix(m.Err, "é…") {
		t.Fatalf("long error not cut on a rune: %d bytes %q", len(m.Err), m.Err)
	}
	// What the root recorded of it wins over its claims.
	tr.Root().Annotate(m.ID, actors.Annotation{Method: "local", Restarts: 1})
	waitFor(t, func() bool {
		var s debug.Snapshot
		getJSON(t, base+"tree.json", &s)
		r := byName(&s)[hostileName]
		return r.Method == "local" && r.Restarts == 1
	})
}

// TestBounds_GravesAndHistory: the view keeps at most MaxGraves dead
// contexts (the latest) and History RTT samples per link, however many
// die and however long it samples.
func TestBounds_GravesAndHistory(t *testing.T) {
	shape := actorstest.Shape{Setup: introspect.Setup,
		Config: &actors.Config{HeartbeatInterval: 20 * time.Millisecond, HeartbeatTimeout: 10 * time.Second}}
	for i := range 5 {
		shape.Children = append(shape.Children, actorstest.Shape{Name: "c" + strconv.Itoa(i)})
	}
	tr := actorstest.New(t, shape)
	v := debug.Handler(tr.Root(), debug.Options{Interval: 100 * time.Millisecond, MaxGraves: 2, History: 3})
	base := serve(t, v)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, _ := openStream(t, ctx, base)
	tree := func() debug.Snapshot {
		t.Helper()
		var s debug.Snapshot
		if err := json.Unmarshal([]byte(next(t, ch, "tree").data), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for full := false; !full; {
		s := tree()
		full = true
		for _, r := range s.Contexts {
			if len(r.RTTHistoryUS) > 3 {
				t.Fatalf("%s: %d RTT samples kept, History is 3", r.Name, len(r.RTTHistoryUS))
			}
			full = full && len(r.RTTHistoryUS) == 3
		}
	}
	for i := range 4 {
		c := tr.Context("c" + strconv.Itoa(i))
		c.Cut()
		<-c.Link().Done()
	}
	for {
		s := tree()
		var dead []string
		for _, r := range s.Contexts {
			if r.State == debug.StateDead {
				dead = append(dead, r.Name)
			}
		}
		if len(dead) > 2 {
			t.Fatalf("%d dead rows kept, MaxGraves is 2: %v", len(dead), dead)
		}
		if len(s.Contexts) == 4 && strings.Join(dead, ",") == "c2,c3" {
			break
		}
	}
}
