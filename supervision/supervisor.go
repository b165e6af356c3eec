package supervision

import (
	"context"
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
	// Intensity, when set, gives this child a restart intensity of its own
	// (OneForOne only): its restarts count against it instead of the
	// supervisor's Policy, and when it is exceeded only this child is
	// given up (ChildFailed.GaveUp, ChildInfo.GaveUp); its siblings go on.
	// Intensity{Forever: true} retries for ever, with backoff: a host that
	// is down is tried again until it is back.
	Intensity Intensity
	// Backoff overrides the Policy's backoff for this child, field by
	// field (zero fields: the Policy's).
	Backoff Backoff
	// Via names the child this one is started through: its intermediate
	// (docs/via.md), a child listed before it that is not Temporary. The
	// StartFunc gets the intermediate's current incarnation from
	// Intermediate(ctx) and passes it as spawn.Common.Via. The child starts
	// only while its intermediate is up; when the intermediate ends, the
	// children behind it (which end with it) are stopped and restarted
	// after it, in order, whatever the strategy, and only the
	// intermediate's failure counts toward the intensity.
	Via string
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
	// OnEvent, when set, is called with every event, in order, on the
	// supervisor's goroutine: it must not block (hand the event to a
	// buffered channel of your own). Events are also published on the actor
	// system's event stream.
	OnEvent func(Event)
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

// ChildInfo is a snapshot of one supervised child's current incarnation.
type ChildInfo struct {
	Name        string
	Up          bool
	Context     spawn.Child // nil while down
	ID          uint32
	Incarnation uint64 // 1 for the first start, +1 per restart
	PIDs        map[string]*actor.PID
	Restarts    int // restarts since the supervisor started
	// LastErr is why the child's last incarnation ended (its death
	// reason, an exit status 0 included) or failed to start (a
	// *StartError), with its type; nil until then. It stays after a
	// restart.
	LastErr error
	// Ended: the child is not going to be started again (its restart
	// type, or GaveUp), until a sibling's restart under OneForAll or
	// RestForOne takes it along.
	Ended bool
	// GaveUp: the child exceeded its own Intensity.
	GaveUp bool
}

// Supervisor supervises child contexts. Its decisions come from a pure core
// (supervision/internal/core); an actor applies them, doing every start and
// stop on its own goroutines, so it never blocks. A Supervisor is safe for
// concurrent use.
type Supervisor struct {
	cfg  Config
	node *actors.Node
	pid  *actor.PID

	mu      sync.Mutex
	infos   map[string]*ChildInfo
	changed chan struct{}          // closed and replaced when an info changes
	spares  map[string]spawn.Child // Standby contexts, ready to take over
	sparing map[string]bool        // a spare is being started
	closing bool                   // no more spares: the supervisor is ending

	wg sync.WaitGroup // start, stop and watch goroutines
	// base is the parent of every start's context; Stop and a give-up
	// cancel it, so no start in flight holds the supervisor up.
	base   context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}
	err    error
	// stopCtx unregisters the hook that stops the supervisor when the ctx
	// given to Start ends; ended tells Start the supervisor is already done.
	stopCtx func() bool
	ended   bool
}

// viaKey is the context key of Intermediate.
type viaKey struct{}

// Intermediate returns, inside a StartFunc, the current incarnation of the
// child named by the spec's Via: the context to start this one through
// (spawn.Common.Via). It is nil when the spec has no Via, or outside a
// supervisor's start.
//
//	Start: func(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
//		return ssh.Start(ctx, node, ssh.Options{Common: spawn.Common{Name: name,
//			Via: supervision.Intermediate(ctx)}, Host: "inner"})
//	},
func Intermediate(ctx context.Context) spawn.Child {
	c, _ := ctx.Value(viaKey{}).(spawn.Child)
	return c
}

// Start starts a supervisor and its children and returns without waiting
// for them; WaitUp waits, Child and Children tell what is up. OneForOne
// children start in parallel (unless Policy.Sequential), the others one at
// a time, in order. The supervisor lives until Stop, until it gives up, or
// until ctx ends: then it stops its children as Stop does, and Err returns
// ctx's cause. Every start derives from ctx.
func Start(ctx context.Context, node *actors.Node, cfg Config) (*Supervisor, error) {
	cfg.Children = slices.Clone(cfg.Children) // defaults must not write into the caller's slice
	cfg.setDefaults(node)
	specs := make([]core.ChildSpec, len(cfg.Children))
	infos := make(map[string]*ChildInfo, len(cfg.Children))
	for i, c := range cfg.Children {
		if c.Start == nil {
			return nil, fmt.Errorf("supervision: child %q has no Start function", c.Name)
		}
		specs[i] = core.ChildSpec{Name: c.Name, Restart: core.Restart(c.Restart),
			Intensity: c.Intensity.core(), Backoff: c.Backoff.core(), Via: c.Via}
		infos[c.Name] = &ChildInfo{Name: c.Name}
	}
	cr, first, err := core.NewCore(cfg.Policy.core(), specs, cfg.Rand, cfg.Now())
	if err != nil {
		return nil, err
	}
	base, cancel := context.WithCancelCause(ctx)
	s := &Supervisor{cfg: cfg, node: node, infos: infos, changed: make(chan struct{}), done: make(chan struct{}),
		spares: make(map[string]spawn.Child), sparing: make(map[string]bool), base: base, cancel: cancel}
	a := &supervisorActor{s: s, core: cr, first: first, running: make(map[string]*incarnation)}
	pid, err := node.System().Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return a }),
		"supervisor/"+cfg.Name)
	if err != nil {
		cancel(err)
		return nil, fmt.Errorf("supervision: %w", err)
	}
	s.pid = pid
	stop := context.AfterFunc(ctx, func() { node.System().Root.Send(pid, shutdownMsg{}) })
	s.mu.Lock()
	if s.ended {
		stop()
	} else {
		s.stopCtx = stop
	}
	s.mu.Unlock()
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
// *GaveUpError), was stopped (Err returns nil) or its Start ctx ended
// (Err wraps ctx's cause). Every child is stopped by then, and the name
// is free for a new supervisor.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Err returns why the supervisor ended: a *GaveUpError, or an error
// wrapping the cause of the Start ctx's end; nil while it runs or after
// Stop.
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
	s.cancel(ErrStopped) // starts in flight end now instead of at their StartTimeout
	s.node.System().Root.Send(s.pid, shutdownMsg{})
	select {
	case <-s.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// WaitUp waits until every child is up, or has ended and is not to be
// restarted (a Temporary child, a Transient one that exited normally),
// and returns nil. It returns a *WaitError at once when a child gave up
// (ErrChildGaveUp) or the supervisor ended (its *GaveUpError, or
// ErrStopped), and when ctx ends (ctx's error); the error lists the
// children that were not up with their last errors.
func (s *Supervisor) WaitUp(ctx context.Context) error { return s.wait(ctx, false) }

// WaitTried waits until every child has been tried: it is up, or it
// failed (its start or its incarnation: LastErr is set), or it ended. It
// returns nil when every child is up (or ended and is not to be
// restarted), and otherwise a *WaitError listing the others with
// ErrDown, without waiting for their retries: a fleet goes on with the
// hosts that are up and reports the others. It fails as WaitUp does when
// the supervisor ends or ctx does.
func (s *Supervisor) WaitTried(ctx context.Context) error { return s.wait(ctx, true) }

// wait is WaitUp, or WaitTried when tried.
func (s *Supervisor) wait(ctx context.Context, tried bool) error {
	for {
		s.mu.Lock()
		var down []ChildInfo
		gaveUp, pending := false, false
		for _, c := range s.cfg.Children {
			ci := s.infos[c.Name]
			if !ci.Up && (!ci.Ended || ci.GaveUp) {
				down = append(down, ci.copy())
				gaveUp = gaveUp || ci.GaveUp
				pending = pending || (ci.LastErr == nil && !ci.Ended)
			}
		}
		changed := s.changed
		s.mu.Unlock()
		fail := func(err error) error { return &WaitError{Supervisor: s.cfg.Name, Down: down, Err: err} }
		switch {
		case len(down) == 0:
			return nil
		case gaveUp:
			return fail(ErrChildGaveUp)
		case tried && !pending:
			return fail(ErrDown)
		}
		select {
		case <-changed:
		case <-s.done:
			if err := s.Err(); err != nil {
				return fail(err)
			}
			return fail(ErrStopped)
		case <-ctx.Done():
			return fail(ctx.Err())
		}
	}
}

// update changes the info of a child under the lock and wakes WaitUp.
func (s *Supervisor) update(name string, f func(ci *ChildInfo)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.infos[name])
	close(s.changed)
	s.changed = make(chan struct{})
}

// emit hands ev to OnEvent and the event stream.
func (s *Supervisor) emit(ev Event) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(ev)
	}
	s.node.System().EventStream.Publish(ev)
}
