package actors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"

	lnk "github.com/spindle-go/spindle/actors/internal/link"
	"github.com/spindle-go/spindle/actors/internal/route"
	"github.com/spindle-go/spindle/wire"
)

// Config configures a Node. The zero value is usable: every field has a
// documented default.
type Config struct {
	// Name is the human name of the context ("root", "web-3"). A child takes
	// the name its parent gave it in the handshake. Default "root".
	Name string
	// Logger receives the node's logs and, in the root, the logs forwarded
	// by every descendant. Default slog.Default().
	Logger *slog.Logger
	// Setup registers message types, actor kinds and the like. It runs in
	// every context (root and children) before any frame is handled, so a
	// child can decode what its parent sends. Optional.
	Setup func(*Node) error
	// MaxFrame is the largest frame this context accepts. Default
	// wire.DefaultMaxFrame (128 MiB).
	MaxFrame int
	// HandshakeTimeout bounds the handshake of a new link when the caller's
	// context has no deadline. Default 10s.
	HandshakeTimeout time.Duration
	// ActorLogLevel is the minimum level of protoactor's own log records,
	// which are routed into Logger. Default slog.LevelWarn.
	ActorLogLevel *slog.Level
	// HeartbeatInterval is how long a link may be quiet before this side
	// sends a PING; HeartbeatTimeout is how long a link's reader may wait
	// for bytes before the link is declared dead with a *HeartbeatError.
	// Defaults 1s and 5s; a negative value turns heartbeats off. They apply
	// to the links to this context's children, which adopt them (for their
	// parent link, and as their own defaults) from the handshake.
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	// MaxRemoteWatches bounds the watches that one other context may hold
	// on this context's actors; all the contexts behind one child link may
	// hold four times as many together. A watch beyond either, or one
	// naming an actor ID longer than MaxWatchIDLen, is refused with a dead
	// reply whose error matches ErrWatchLimit. Every watch a context holds
	// is removed when it dies. Default DefaultMaxRemoteWatches.
	MaxRemoteWatches int
	// Unidirectional puts every child link in unidirectional mode
	// (Mitogen's): the children may talk to this context and its
	// ancestors, never to each other; a frame from one child link to
	// another is refused with a dead reply (rejected, ErrRefused).
	// Transport.Isolated does the same for one child. Default off; see
	// docs/security.md.
	Unidirectional bool
	// Quotas bound what each child link's subtree can make this context
	// hold; zero fields mean the defaults documented on Quotas.
	Quotas Quotas
	// Propagator carries a trace context (or other context values) from
	// caller to callee in the frames of context-taking sends; see
	// Propagator. A child started by spawn.Main has none unless its Setup
	// calls Node.SetPropagator. Default none.
	Propagator Propagator
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = "root"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = wire.DefaultMaxFrame
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if c.MaxRemoteWatches <= 0 {
		c.MaxRemoteWatches = DefaultMaxRemoteWatches
	}
}

// heartbeat returns the heartbeat settings of the links to children.
func (c *Config) heartbeat() lnk.Heartbeat {
	if c.HeartbeatInterval < 0 || c.HeartbeatTimeout < 0 {
		return lnk.Heartbeat{}
	}
	return lnk.Heartbeat{Interval: c.HeartbeatInterval, Timeout: c.HeartbeatTimeout}
}

func (c *Config) validate() error {
	if c.MaxFrame < wire.MinMaxFrame {
		return fmt.Errorf("actors: MaxFrame %d is below the minimum %d", c.MaxFrame, wire.MinMaxFrame)
	}
	if hb := c.heartbeat(); hb.On() && (hb.Timeout <= hb.Interval || hb.Interval < time.Millisecond) {
		return fmt.Errorf("actors: HeartbeatTimeout %v must exceed HeartbeatInterval %v (at least 1ms)", hb.Timeout, hb.Interval)
	}
	if len(c.Name) > 255 {
		return fmt.Errorf("actors: context name longer than 255 bytes")
	}
	return nil
}

// Node is one context: a protoactor ActorSystem whose address names the
// context, the links to its parent and children, and the routing table
// between them. A Node is safe for concurrent use.
type Node struct {
	cfg         Config
	log         *slog.Logger
	sys         *actor.ActorSystem
	reg         *wire.Registry
	id          uint32
	parents     []uint32 // ancestors, root first, ending with the parent
	incarnation uuid.UUID
	name        string
	address     string

	kindsMu    sync.RWMutex // guards kinds, serializes HandleKind
	kinds      map[string]*actor.Props
	frameKinds atomic.Pointer[kindIndex]   // frame kinds and their handlers
	prop       atomic.Pointer[propagation] // Config.Propagator, nil for none
	builtin    kindTable                   // the built-in kinds, never changed

	mu       routeMu // guards the fields below; see routehint.go
	hints    [routeHints]atomic.Pointer[routeHint]
	parent   *link
	children map[uint32]*link      // direct children
	rt       *route.Table          // routes, names, dead contexts, ID grants
	notes    map[uint32]Annotation // of live descendants (Annotate)
	closed   bool

	remotes sync.Map // context ID -> *remoteProcess
	addrs   sync.Map // context ID -> address string

	track tracker // pending requests and remote watches, by context
	pol   policy  // authority: subtree shape, isolated links, logged refusals
	fam   family  // actors supervised across contexts
	ids   idAllocator

	closersMu sync.Mutex
	closers   map[int]func(context.Context) error
	closerSeq int

	shutOnce   sync.Once
	shutDone   chan struct{} // closed when the shutdown goroutine is done
	shutClosed chan struct{} // closed when Shutdown has closed the links and stopped the actor system

	stopOnce sync.Once
	stopping chan struct{} // closed when the node was asked to stop
	stopWhy  error
	wg       sync.WaitGroup
}

// NewNode starts the root context of a tree (context ID 0).
func NewNode(cfg Config) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := newNode(cfg, 0, nil, cfg.Name)
	n.ids.next = 1
	if err := n.runSetup(); err != nil {
		return nil, err
	}
	return n, nil
}

func newNode(cfg Config, id uint32, parents []uint32, name string) *Node {
	n := &Node{
		cfg:         cfg,
		id:          id,
		parents:     parents,
		incarnation: uuid.New(),
		name:        name,
		address:     Address(id),
		reg:         wire.NewRegistry(),
		kinds:       make(map[string]*actor.Props),
		children:    make(map[uint32]*link),
		rt:          route.New(id, name, parents, cfg.Quotas.limits()),
		stopping:    make(chan struct{}),
		closers:     make(map[int]func(context.Context) error),
	}
	n.log = cfg.Logger.With("ctx", name, "ctx_id", id)
	n.track.init()
	n.initPolicy()
	n.fam.init()
	n.ids.node = n
	kt := n.builtinKinds()
	n.builtin = kt
	n.frameKinds.Store(newKindIndex(kt))
	n.prop.Store(newPropagation(cfg.Propagator))
	actorLevel := slog.LevelWarn
	if cfg.ActorLogLevel != nil {
		actorLevel = *cfg.ActorLogLevel
	}
	actorLog := slog.New(&minLevel{h: n.log.Handler(), min: actorLevel}).With("component", "protoactor")
	n.sys = actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return actorLog }),
		actor.WithDeadLetterRequestLogging(false),
	)
	n.sys.ProcessRegistry.Address = n.address
	n.sys.ProcessRegistry.RegisterAddressResolver(n.resolve)
	n.startWatchRelay()
	registerInternalTypes(n.reg)
	return n
}

func (n *Node) runSetup() error {
	if n.cfg.Setup == nil {
		return nil
	}
	if err := n.cfg.Setup(n); err != nil {
		return fmt.Errorf("actors: setup: %w", err)
	}
	return nil
}

// ID returns the context ID. The root is 0; IDs are never reused in a tree.
func (n *Node) ID() uint32 { return n.id }

// Name returns the context's human name.
func (n *Node) Name() string { return n.name }

// Incarnation returns the UUID of this run of the context.
func (n *Node) Incarnation() uuid.UUID { return n.incarnation }

// Parents returns the ancestors of this context, root first.
func (n *Node) Parents() []uint32 { return append([]uint32(nil), n.parents...) }

// System returns the protoactor ActorSystem of this context. Spawn actors
// with System().Root as usual; their PIDs carry this context's address.
func (n *Node) System() *actor.ActorSystem { return n.sys }

// Logger returns the node's logger (with ctx and ctx_id attached).
func (n *Node) Logger() *slog.Logger { return n.log }

// Registry returns the message type registry. Register types in
// Config.Setup so that every context knows them.
func (n *Node) Registry() *wire.Registry { return n.reg }

// Address returns this context's protoactor address ("ctx-7").
func (n *Node) Address() string { return n.address }

// RegisterType registers message type T under a stable name on n. Types must
// be registered in every context that sends or receives them (do it in
// Config.Setup).
func RegisterType[T any](n *Node, name string) error { return wire.Register[T](n.reg, name) }

// RegisterKind makes props spawnable by name from a parent context (see
// SpawnRemote). Nothing from the wire runs unless it was registered.
func (n *Node) RegisterKind(kind string, props *actor.Props) {
	n.kindsMu.Lock()
	n.kinds[kind] = props
	n.kindsMu.Unlock()
}

// Stopping is closed when the node has been asked to stop: by Shutdown, by a
// SHUTDOWN frame from its parent, or because its parent link broke.
func (n *Node) Stopping() <-chan struct{} { return n.stopping }

// StopReason returns why Stopping was closed.
func (n *Node) StopReason() error {
	select {
	case <-n.stopping:
		return n.stopWhy
	default:
		return nil
	}
}

func (n *Node) requestStop(why error) {
	n.stopOnce.Do(func() {
		n.stopWhy = why
		close(n.stopping)
	})
}

// OnShutdown registers f to run at the start of Shutdown, before the links
// close; the spawn package uses it to stop child processes gracefully. The
// returned function unregisters f.
func (n *Node) OnShutdown(f func(context.Context) error) (remove func()) {
	n.closersMu.Lock()
	n.closerSeq++
	key := n.closerSeq
	n.closers[key] = f
	n.closersMu.Unlock()
	return func() {
		n.closersMu.Lock()
		delete(n.closers, key)
		n.closersMu.Unlock()
	}
}

// startClosers runs the OnShutdown hooks, each on its own goroutine, and
// returns a channel closed when all have returned. The goroutines are
// counted in n.wg.
func (n *Node) startClosers(ctx context.Context) <-chan struct{} {
	n.closersMu.Lock()
	fs := make([]func(context.Context) error, 0, len(n.closers))
	for _, f := range n.closers {
		fs = append(fs, f)
	}
	n.closers = map[int]func(context.Context) error{}
	n.closersMu.Unlock()
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Add(1)
		n.wg.Add(1)
		go func(f func(context.Context) error) {
			defer n.wg.Done()
			defer wg.Done()
			if err := f(ctx); err != nil {
				n.log.Debug("shutdown hook", "err", err)
			}
		}(f)
	}
	done := make(chan struct{})
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		wg.Wait()
		close(done)
	}()
	return done
}

// Shutdown stops the child contexts spawned from this node (through the
// OnShutdown hooks, which get ctx), closes every link, stops the actor
// system and waits for the node's goroutines. It returns when all that is
// done, or with ctx's error once ctx is done, whichever is first: the
// links are closed and the actor system is stopped by then even if a hook
// has not returned. What is still running then finishes on the node's own
// shutdown goroutine, which every Shutdown call (again bounded by its ctx)
// waits for. It is idempotent and safe for concurrent use.
func (n *Node) Shutdown(ctx context.Context) error {
	n.requestStop(ErrNodeClosed)
	first := false
	n.shutOnce.Do(func() {
		first = true
		n.shutDone = make(chan struct{})
		n.shutClosed = make(chan struct{})
		go n.shutdown(ctx)
	})
	select {
	case <-n.shutDone:
		return nil
	case <-ctx.Done():
		if first { // the shutdown goroutine saw ctx end too
			<-n.shutClosed // the links are closed and the actor system stopped
		}
		return ctx.Err()
	}
}

// shutdown is the node's shutdown goroutine (see Shutdown): it is started
// once, and closes n.shutClosed when the links are closed and the actor
// system is stopped, n.shutDone when every goroutine of the node is gone.
func (n *Node) shutdown(ctx context.Context) {
	defer close(n.shutDone)
	hooks := n.startClosers(ctx)
	select {
	case <-hooks:
	case <-ctx.Done():
	}
	n.mu.Lock()
	n.closed = true
	links := make([]*link, 0, len(n.children)+1)
	for _, l := range n.children {
		links = append(links, l)
	}
	if n.parent != nil {
		links = append(links, n.parent)
	}
	n.mu.Unlock()
	for _, l := range links {
		l.shutdown(errLinkClosed)
	}
	// Fail what still waits before waiting for goroutines: a node-level
	// call (ALLOCATE_ID on behalf of a child) may be one of them.
	n.track.failAll(newDeadError(n.id, nil, wire.DeadUnreachable, "node shut down", ErrNodeClosed))
	linksDone := make(chan struct{})
	go func() { // owned: shutdown waits for it below
		for _, l := range links {
			l.Wait()
		}
		close(linksDone)
	}()
	select {
	case <-linksDone:
	case <-ctx.Done():
	}
	n.sys.Shutdown()
	close(n.shutClosed)
	<-linksDone
	n.wg.Wait()
}

// minLevel filters records below min before passing them on.
type minLevel struct {
	h   slog.Handler
	min slog.Level
}

func (m *minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}
func (m *minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }
func (m *minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return &minLevel{h: m.h.WithAttrs(a), min: m.min}
}
func (m *minLevel) WithGroup(g string) slog.Handler {
	return &minLevel{h: m.h.WithGroup(g), min: m.min}
}

// Transport is the byte stream of a link: pipes, a socketpair, the stdin and
// stdout of an SSH session. C must close both directions and unblock R and W.
type Transport struct {
	R io.Reader
	W io.Writer
	C io.Closer
	// Reason optionally rewrites the error that ended the link (for example
	// EOF) into the reason reported to watchers (for example the exit status
	// of the child process).
	Reason func(error) error
	// Isolated (AttachChild only) puts the link to this child in
	// unidirectional mode, as Config.Unidirectional does for every child:
	// the child's subtree may talk to the parent and its ancestors, not to
	// the parent's other children, nor they to it. Spawn methods that cross
	// a trust boundary (another user, a container, another host) set it
	// unless the user opts out; see docs/security.md.
	Isolated bool
}
