package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/eventstream"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// Defaults and bounds of Config.
const (
	DefaultWindow     = 1 << 20  // bytes of credit per stream and direction
	MaxWindow         = 64 << 20 // largest Config.Window
	DefaultFrameData  = 64 << 10 // data bytes per STREAM_DATA frame
	DefaultMaxStreams = 64       // streams one other context may have open here
	DefaultMaxTotal   = 1024     // streams open here in all
)

// Config configures a Transfer. Zero values mean the documented defaults.
type Config struct {
	// Window is the credit, in bytes, a receiver grants per stream: the
	// most a peer may send that has not been read. It bounds what one
	// stream can make this context hold. Default DefaultWindow (1 MiB), at
	// most MaxWindow.
	Window int
	// FrameData is the most data bytes one STREAM_DATA frame carries.
	// Default DefaultFrameData (64 KiB, under every link's smallest frame
	// limit); at most Window.
	FrameData int
	// MaxStreams bounds the streams that one other context may have open
	// here (it opened them), MaxPerLink those that all the contexts behind
	// one child link may have open together, MaxTotal those of all
	// contexts. An open beyond any is reset with CodeLimit. Defaults 64,
	// 4 × MaxStreams and 1024. What other contexts can make this one hold
	// is at most Window bytes per stream.
	MaxStreams int
	MaxPerLink int
	MaxTotal   int
	// AllowFiles says which contexts may push files to this context and
	// pull files from it. Writing files is privileged: nil means ancestors
	// only ([Ancestors]); [Anyone] widens it to every context.
	AllowFiles Policy
	// Logger receives the package's logs; default the node's.
	Logger *slog.Logger
}

func (c *Config) setDefaults(n *actors.Node) {
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.FrameData == 0 {
		c.FrameData = min(DefaultFrameData, c.Window)
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.MaxPerLink == 0 {
		c.MaxPerLink = 4 * c.MaxStreams
	}
	if c.MaxTotal == 0 {
		c.MaxTotal = DefaultMaxTotal
	}
	if c.Logger == nil {
		c.Logger = n.Logger()
	}
}

func (c *Config) validate() error {
	switch {
	case c.Window < 4<<10 || c.Window > MaxWindow:
		return fmt.Errorf("transfer: Window %d not in [4 KiB, %d]", c.Window, MaxWindow)
	case c.FrameData < 1<<10 || c.FrameData > c.Window:
		return fmt.Errorf("transfer: FrameData %d not in [1 KiB, Window]", c.FrameData)
	case c.MaxStreams < 1 || c.MaxPerLink < 1 || c.MaxTotal < 1:
		return fmt.Errorf("transfer: MaxStreams %d, MaxPerLink %d and MaxTotal %d must be positive",
			c.MaxStreams, c.MaxPerLink, c.MaxTotal)
	}
	return nil
}

// Policy decides whether the context with ID src (the verified source of
// the frame) may open a stream. It runs on a link's reader goroutine: it
// must not block.
type Policy func(src uint32) bool

// Anyone is the Policy that lets every context open the stream.
func Anyone(uint32) bool { return true }

// Handler serves one stream opened by another context. ctx is cancelled
// when the stream is reset (by the other side, by its context's death) or
// this context shuts down. A nil return closes the stream (CloseWrite,
// then Close); an error resets it with CodeHandler and the error's text.
type Handler func(ctx context.Context, s *Stream) error

type handlerEntry struct {
	h     Handler
	allow Policy
}

type streamKey struct {
	peer uint32
	id   uint64 // without the fromAcceptor bit
	mine bool   // this side opened the stream
}

// Transfer is the stream endpoint of one context: it serves named stream
// handlers, opens streams to other contexts, and pushes and pulls files.
// Make one per node with [New] in Config.Setup. It is safe for concurrent
// use.
type Transfer struct {
	node *actors.Node
	cfg  Config
	log  *slog.Logger
	warn atomic.Uint64 // log records of dropped frames, to rate-limit them

	nextID atomic.Uint64

	mu       sync.Mutex
	handlers map[string]handlerEntry
	streams  map[streamKey]*Stream
	incoming map[uint32]int // open streams by the context that opened them
	perLink  map[uint32]int // open streams by the child link their openers are behind
	total    int            // open streams others opened
	closed   error          // set once the node stops

	base    context.Context // parent of handler contexts, cancelled at stop
	stop    context.CancelCauseFunc
	running sync.WaitGroup // handler goroutines
	sub     *eventstream.Subscription
	done    chan struct{} // closed when the watcher goroutine has stopped
}

// reservedPrefix starts the names of the package's own handlers.
const reservedPrefix = "spindle."

// New makes the Transfer of node n and registers the stream kinds on it
// (wire.KindStreamOpen .. KindStreamReset) and the file handlers. Call it
// once per node, in Config.Setup, in every context that streams or serves
// files; a second call on the same node fails (the kinds are taken).
func New(n *actors.Node, cfg Config) (*Transfer, error) {
	cfg.setDefaults(n)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := &Transfer{node: n, cfg: cfg, log: cfg.Logger, handlers: map[string]handlerEntry{},
		streams: map[streamKey]*Stream{}, incoming: map[uint32]int{}, perLink: map[uint32]int{}, done: make(chan struct{})}
	t.base, t.stop = context.WithCancelCause(context.Background())
	for kind, h := range map[wire.Kind]actors.KindHandler{
		wire.KindStreamOpen: t.onOpen, wire.KindStreamData: t.onData,
		wire.KindStreamCredit: t.onCredit, wire.KindStreamReset: t.onReset,
	} {
		if err := n.HandleKindReplies(kind, h, replyTo); err != nil {
			return nil, fmt.Errorf("transfer: %w", err)
		}
	}
	files := cfg.AllowFiles
	if files == nil {
		files = t.Ancestor
	}
	t.handlers[pushName] = handlerEntry{h: t.servePush, allow: files}
	t.handlers[pullName] = handlerEntry{h: t.servePull, allow: files}
	t.sub = n.System().EventStream.Subscribe(func(evt any) {
		switch e := evt.(type) {
		case *actors.ContextDown:
			t.peerDown(e.ID, e.Reason)
		case *actors.Undeliverable:
			t.undeliverable(e)
		}
	})
	n.OnShutdown(t.shutdown)
	go t.watchStop()
	return t, nil
}

// Node returns the node t serves.
func (t *Transfer) Node() *actors.Node { return t.node }

// Ancestor is the default Policy: src is one of this context's ancestors.
func (t *Transfer) Ancestor(src uint32) bool { return slices.Contains(t.node.Parents(), src) }

// Handle registers h as the handler of streams named name (1..255 bytes;
// names starting with "spindle." belong to Spindle's own packages:
// "spindle.push" and "spindle.pull" here, "spindle.command" in
// actors/command). A name can be registered once. allow says
// which contexts may open it; nil means ancestors only ([Transfer.Ancestor]),
// [Anyone] every context. Register handlers in Config.Setup, so they exist
// before the first frame arrives.
func (t *Transfer) Handle(name string, h Handler, allow Policy) error {
	switch {
	case h == nil:
		return errors.New("transfer: Handle: nil handler")
	case name == "" || len(name) > maxName:
		return fmt.Errorf("transfer: Handle: name of %d bytes, want 1..%d", len(name), maxName)
	}
	if allow == nil {
		allow = t.Ancestor
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.handlers[name]; ok {
		return fmt.Errorf("transfer: Handle(%q): already registered", name)
	}
	t.handlers[name] = handlerEntry{h: h, allow: allow}
	return nil
}

// Open opens a stream to the handler named name in context target and
// returns once the handler has accepted it (or with the reset that refused
// it: errors.Is ErrNoHandler, ErrRefused, ErrLimit). The stream lives as
// long as ctx: when ctx is done it is reset (CodeCancel) and its Read and
// Write return an error wrapping ctx's. A target that dies fails the
// stream at once with its *actors.DeadError (errors.Is
// actors.ErrContextDead).
func (t *Transfer) Open(ctx context.Context, target uint32, name string) (*Stream, error) {
	if len(name) == 0 || len(name) > maxName {
		return nil, fmt.Errorf("transfer: Open: name of %d bytes, want 1..%d", len(name), maxName)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := t.nextID.Add(1)
	s := t.newStream(streamKey{peer: target, id: id, mine: true}, name, 0, uint64(t.cfg.Window))
	if err := t.add(s, false); err != nil {
		return nil, err
	}
	s.bindContext(ctx)
	body := appendOpen(nil, openFrame{id: id, window: uint32(t.cfg.Window), name: name})
	if err := t.node.SendKindFlags(wire.KindStreamOpen, wire.FlagStart, target, body); err != nil {
		s.teardown(err)
		return nil, err
	}
	select {
	case <-s.accepted:
		return s, nil
	case <-s.done:
		return nil, s.terminal()
	}
}

// add registers s; incoming streams count against the limits.
func (t *Transfer) add(s *Stream, incoming bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed != nil {
		return t.closed
	}
	if _, dup := t.streams[s.key]; dup {
		return &StreamError{Code: CodeProtocol, Msg: "duplicate stream ID", Peer: s.key.peer}
	}
	if incoming {
		s.via, s.viaChild = t.node.ChildVia(s.key.peer)
		if t.incoming[s.key.peer] >= t.cfg.MaxStreams || t.total >= t.cfg.MaxTotal ||
			(s.viaChild && t.perLink[s.via] >= t.cfg.MaxPerLink) {
			return &StreamError{Code: CodeLimit, Msg: fmt.Sprintf(
				"context %d may have %d streams open here, its child link %d, %d in all",
				s.key.peer, t.cfg.MaxStreams, t.cfg.MaxPerLink, t.cfg.MaxTotal), Peer: s.key.peer}
		}
		if s.viaChild {
			t.perLink[s.via]++
		}
		t.incoming[s.key.peer]++
		t.total++
		t.running.Add(1) // its handler, under mu: never after close, so shutdown's Wait sees it
	}
	t.streams[s.key] = s
	return nil
}

// remove forgets s (it ended); late frames for it are dropped.
func (t *Transfer) remove(s *Stream) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.streams[s.key] != s {
		return
	}
	delete(t.streams, s.key)
	if !s.key.mine {
		t.total--
		if t.incoming[s.key.peer]--; t.incoming[s.key.peer] == 0 {
			delete(t.incoming, s.key.peer)
		}
		if s.viaChild {
			if t.perLink[s.via]--; t.perLink[s.via] == 0 {
				delete(t.perLink, s.via)
			}
		}
	}
}

func (t *Transfer) lookup(src uint32, wireID uint64) *Stream {
	key := streamKey{peer: src, id: wireID &^ fromAcceptor, mine: wireID&fromAcceptor != 0}
	t.mu.Lock()
	s := t.streams[key]
	t.mu.Unlock()
	return s
}

// Streams returns how many streams are open in this context (both
// directions of opening), for diagnostics and tests.
func (t *Transfer) Streams() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.streams)
}

// sendReset tells peer that stream wireID is reset (best effort: a peer
// that cannot be reached has its own death to report).
func (t *Transfer) sendReset(peer uint32, wireID uint64, code Code, msg string) {
	body := appendReset(nil, resetFrame{id: wireID, code: code, msg: msg})
	_ = t.node.SendKindFlags(wire.KindStreamReset, wire.FlagError, peer, body)
}

// dropped logs a frame dropped as malformed or unexpected, rate-limited
// (the first 16, then one in 1024).
func (t *Transfer) dropped(what string, f wire.Frame, err error) {
	if n := t.warn.Add(1); n <= 16 || n%1024 == 0 {
		t.log.Warn("transfer: dropped stream frame", "what", what, "kind", f.Header().Kind(),
			"src", f.Header().Src(), "err", err, "count", n)
	}
}
