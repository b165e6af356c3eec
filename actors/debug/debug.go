package debug

import (
	"context"
	"embed"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/eventstream"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/introspect"
)

// MaxString is the longest string of a context (name, host, user, error,
// reason) the view sends; longer ones are cut.
const MaxString = 128

// Options configures a View. Zero values mean the documented defaults.
type Options struct {
	// Interval is how often the tree is sampled while a stream is open.
	// Default 1s; at least 100ms.
	Interval time.Duration
	// Deadline bounds one sample (introspect.Tree's deadline): a context
	// that does not answer within it shows as "timeout". Default
	// introspect.DefaultDeadline.
	Deadline time.Duration
	// MaxClients bounds the event streams served at once; more are refused
	// with 503 Service Unavailable. Default 8.
	MaxClients int
	// ClientBuffer is how many messages wait for one stream's client; more
	// are dropped and counted. Default 64.
	ClientBuffer int
	// WriteTimeout bounds one write to a stream; a client that takes
	// longer loses its stream. Default 10s.
	WriteTimeout time.Duration
	// History is how many RTT samples are kept per link for its
	// sparkline. Default 60.
	History int
	// MaxEvents is how many recent events are kept and sent to a new
	// page. Default 200.
	MaxEvents int
	// MaxGraves is how many contexts that went down are still shown, as
	// "dead". Default 64.
	MaxGraves int
	// Logger receives the view's own records. Default: the node's.
	Logger *slog.Logger
}

func (o *Options) setDefaults(n *actors.Node) {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	o.Interval = max(o.Interval, 100*time.Millisecond)
	if o.Deadline <= 0 {
		o.Deadline = introspect.DefaultDeadline
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	def(&o.MaxClients, 8)
	def(&o.ClientBuffer, 64)
	def(&o.History, 60)
	def(&o.MaxEvents, 200)
	def(&o.MaxGraves, 64)
	if o.Logger == nil {
		o.Logger = n.Logger()
	}
}

//go:embed assets
var assets embed.FS

// View is the live view of one node's tree: an http.Handler. Make it
// with Handler; it is safe for concurrent use.
type View struct {
	n   *actors.Node
	opt Options
	sub *eventstream.Subscription

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the sampler
	remove func()         // the node's shutdown hook

	sampleMu sync.Mutex // one sample at a time

	mu          sync.Mutex
	st          state
	clients     map[*client]struct{}
	sampling    bool               // a sampler goroutine runs for the streams
	stopSampler context.CancelFunc // ends it
	closed      bool

	samples, dropped, refused atomic.Uint64
}

// Stats are the view's own counters.
type Stats struct {
	Clients    int    `json:"clients"`     // streams open now
	MaxClients int    `json:"max_clients"` // Options.MaxClients
	Refused    uint64 `json:"refused"`     // streams refused over MaxClients
	Dropped    uint64 `json:"dropped"`     // messages dropped for clients that did not keep up
	Samples    uint64 `json:"samples"`     // trees sampled
}

// Handler returns the live view of n's subtree (the whole tree when n is
// the root). n must have introspect.Setup in its Config.Setup (else the
// page shows introspect.ErrNotSetUp). The view ends at Close or when n
// shuts down.
func Handler(n *actors.Node, o Options) *View {
	o.setDefaults(n)
	v := &View{n: n, opt: o, clients: map[*client]struct{}{}}
	v.st.init(o)
	v.ctx, v.cancel = context.WithCancel(context.Background())
	v.sub = n.System().EventStream.Subscribe(v.onEvent)
	v.remove = n.OnShutdown(func(context.Context) error { v.close(); return nil })
	return v
}

// Close ends the view: its streams end, its sampler stops, and it leaves
// the node's event stream. It is safe to call more than once.
func (v *View) Close() error {
	v.remove()
	v.close()
	return nil
}

func (v *View) close() {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.closed = true
	v.mu.Unlock()
	v.cancel()
	v.wg.Wait()
	v.n.System().EventStream.Unsubscribe(v.sub)
}

// Stats returns the view's counters.
func (v *View) Stats() Stats {
	v.mu.Lock()
	c := len(v.clients)
	v.mu.Unlock()
	return Stats{Clients: c, MaxClients: v.opt.MaxClients, Refused: v.refused.Load(),
		Dropped: v.dropped.Load(), Samples: v.samples.Load()}
}

// ServeHTTP serves the page, /tree.json and /events under any prefix.
func (v *View) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
		"connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	p := r.URL.Path
	last := p[strings.LastIndexByte(p, '/')+1:]
	switch last {
	case "":
		v.serveAsset(w, r, "index.html", "text/html; charset=utf-8")
	case "app.js":
		v.serveAsset(w, r, last, "text/javascript; charset=utf-8")
	case "app.css":
		v.serveAsset(w, r, last, "text/css; charset=utf-8")
	case "tree.json":
		v.serveJSON(w, r)
	case "events":
		v.serveEvents(w, r)
	default:
		http.NotFound(w, r)
	}
}
