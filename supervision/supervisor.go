package supervision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/supervision/internal/core"
)

// StartFunc starts one child context named name and joins it to node; a
// closure over spawn.Local, ssh.Start, docker.Start and the like. It must honour ctx.
type StartFunc func(ctx context.Context, node *actors.Node, name string) (spawn.Child, error)

// ActorSpec names an actor to start inside a child context after each of
// its starts: a kind registered there (Node.RegisterKind) and an actor name
// ("" lets the context choose).
type ActorSpec struct {
	Kind, Name string
	// Init, when set, gives a message sent to the actor right after each
	// start, before the child counts as started: the state a fresh
	// incarnation needs, such as an actors.Listener to accept from. The
	// message is a request; any answer will do, and a failed request
	// fails the start.
	Init func() any
}

// ContextSpec is a supervised child: a context and the actors inside it.
type ContextSpec struct {
	Name    string
	Restart Restart
	Start   StartFunc
	Actors  []ActorSpec
	// StartTimeout bounds one start, actors included. Default 30s.
	StartTimeout time.Duration
	// Standby keeps one spare context of this child started and idle (one
	// more process), so that a restart only has to spawn the actors in it:
	// the restart then costs about the detection time and a round trip
	// instead of a process start. A new spare is started after each use.
	Standby bool
}

// Config configures a Supervisor. Zero values mean documented defaults.
type Config struct {
	// Name names the supervisor in events and logs. Default "supervisor".
	Name string
	// Policy: strategy, restart intensity and backoff.
	Policy Policy
	// Children, in start order.
	Children []ContextSpec
	// Logger receives failures, restarts and give-ups. Default: the node's.
	Logger *slog.Logger
	// StopTimeout bounds the graceful stop of one child. Default 10s.
	StopTimeout time.Duration
	// Now and Rand are the clock and jitter source; tests inject them.
	// Defaults time.Now and math/rand.s Float64.
	Now  func() time.Time
	Rand func() float64
}

func (c *Config) setDefaults(n *actors.Node) {
	if c.Name == "" {
		c.Name = "supervisor"
	}
	if c.Logger == nil {
		c.Logger = n.Logger()
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	for i := range c.Children {
		if c.Children[i].StartTimeout <= 0 {
			c.Children[i].StartTimeout = 30 * time.Second
		}
	}
}

// ErrGaveUp is the sentinel behind *GaveUpError.
var ErrGaveUp = errors.New("supervision: restart intensity exceeded")

// GaveUpError is a supervisor's own failure: more than MaxRestarts restarts
// within Period. It matches ErrGaveUp.
type GaveUpError struct {
	Supervisor string
	Child      string // whose failure was one too many
	Reason     string
	Restarts   int
	Period     time.Duration
	// Cause is the last failure's cause (the child's death reason or its
	// start error), with its type intact; nil when it is not known.
	Cause error
}

func (e *GaveUpError) Error() string {
	return fmt.Sprintf("supervision: %s gave up after %d restarts within %v; last failure of %s: %s",
		e.Supervisor, e.Restarts, e.Period, e.Child, e.Reason)
}

// Is makes errors.Is(err, ErrGaveUp) work.
func (e *GaveUpError) Is(target error) bool { return target == ErrGaveUp }

// Unwrap returns the last failure's cause, so errors.Is and errors.As see
// through the give-up to, say, a heartbeat timeout or an exit status.
func (e *GaveUpError) Unwrap() error { return e.Cause }

// Events published on the actor system's event stream.
type (
	// ChildFailed: a child context died (or failed to start).
	ChildFailed struct {
		Supervisor, Child string
		ID                uint32 // the dead incarnation's context ID (0 if it never started)
		Reason            string // Err in words
		// Err is the cause with its type intact: the context's death reason
		// (errors.Is(ev.Err, actors.ErrHeartbeatTimeout), errors.As with the
		// spawn method's exit error) or the error of a failed start.
		Err      error
		Restarts int           // restarts within the period, this one included
		Delay    time.Duration // before the restart
		Restart  bool          // false: not restarted (restart type)
	}
	// ChildRestarted: a child context is up again, with a new ID.
	ChildRestarted struct {
		Supervisor, Child string
		ID, OldID         uint32
		Restarts          int
	}
	// SupervisorGaveUp: the restart intensity was exceeded.
	SupervisorGaveUp struct {
		Supervisor string
		Err        *GaveUpError
	}
)

// ChildInfo is a snapshot of one supervised child's current incarnation.
type ChildInfo struct {
	Name        string
	Up          bool
	Context     spawn.Child // nil while down
	ID          uint32
	Incarnation uint64 // 1 for the first start, +1 per restart
	PIDs        map[string]*actor.PID
	Restarts    int // restarts since the supervisor started
}

// Supervisor supervises child contexts. Its decisions come from a Core; an
// actor applies them, doing every start and stop on its own goroutines, so
// it never blocks. A Supervisor is safe for concurrent use.
type Supervisor struct {
	cfg  Config
	node *actors.Node
	pid  *actor.PID

	mu      sync.Mutex
	infos   map[string]*ChildInfo
	spares  map[string]spawn.Child // Standby contexts, ready to take over
	sparing map[string]bool        // a spare is being started
	closing bool                   // no more spares: the supervisor is ending

	wg sync.WaitGroup // start, stop and watch goroutines
	// base is the parent of every start's context; Stop and a give-up
	// cancel it, so no start in flight holds the supervisor up.
	base   context.Context
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Start starts a supervisor and its children (one at a time, in order) and
// returns without waiting for them; Child and Children tell what is up.
func Start(node *actors.Node, cfg Config) (*Supervisor, error) {
	cfg.Children = slices.Clone(cfg.Children) // defaults must not write into the caller's slice
	cfg.setDefaults(node)
	base, cancel := context.WithCancel(context.Background())
	s := &Supervisor{cfg: cfg, node: node, infos: make(map[string]*ChildInfo), done: make(chan struct{}),
		spares: make(map[string]spawn.Child), sparing: make(map[string]bool), base: base, cancel: cancel}
	specs := make([]core.ChildSpec, len(cfg.Children))
	for i, c := range cfg.Children {
		if c.Start == nil {
			cancel()
			return nil, fmt.Errorf("supervision: child %q has no Start function", c.Name)
		}
		specs[i] = core.ChildSpec{Name: c.Name, Restart: core.Restart(c.Restart)}
		s.infos[c.Name] = &ChildInfo{Name: c.Name}
	}
	cr, first, err := core.NewCore(cfg.Policy.core(), specs, cfg.Rand, cfg.Now())
	if err != nil {
		cancel()
		return nil, err
	}
	a := &supervisorActor{s: s, core: cr, first: first, running: make(map[string]*incarnation)}
	pid, err := node.System().Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return a }),
		"supervisor/"+cfg.Name)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("supervision: %w", err)
	}
	s.pid = pid
	return s, nil
}

// PID returns the supervisor actor's PID.
func (s *Supervisor) PID() *actor.PID { return s.pid }

// Child returns a snapshot of the named child.
func (s *Supervisor) Child(name string) (ChildInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ci, ok := s.infos[name]
	if !ok {
		return ChildInfo{}, false
	}
	return ci.copy(), true
}

// Children returns snapshots of every child, in start order.
func (s *Supervisor) Children() []ChildInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ChildInfo, 0, len(s.infos))
	for _, c := range s.cfg.Children {
		if ci, ok := s.infos[c.Name]; ok {
			out = append(out, ci.copy())
		}
	}
	return out
}

func (ci *ChildInfo) copy() ChildInfo {
	out := *ci
	out.PIDs = make(map[string]*actor.PID, len(ci.PIDs))
	for k, v := range ci.PIDs {
		out.PIDs[k] = v
	}
	return out
}

// Done is closed when the supervisor has ended: it gave up (Err returns a
// *GaveUpError) or was stopped (Err returns nil). Every child is stopped
// by then.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Err returns why the supervisor ended; nil while it runs or after Stop.
func (s *Supervisor) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Stop stops every child (last started first) and the supervisor, and
// waits for them. It is safe to call more than once.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.cancel() // starts in flight end now instead of at their StartTimeout
	s.node.System().Root.Send(s.pid, shutdownMsg{})
	select {
	case <-s.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}
