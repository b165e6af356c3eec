package supervision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/supervision/internal/core"
)

// Messages the supervisor actor sends itself from its goroutines.
type (
	startResult struct {
		name  string
		inc   uint64
		child spawn.Child
		pids  map[string]*actor.PID
		err   error
	}
	childDead struct {
		name   string
		inc    uint64
		reason error
	}
	tickMsg     struct{ at time.Time }
	shutdownMsg struct{}
)

// incarnation is one start of a child, as the actor knows it.
type incarnation struct {
	inc      uint64
	child    spawn.Child // nil until started
	stopWant bool        // Stop arrived while starting
	dead     bool        // its death was fed to the core
}

// supervisorActor applies a Core's directives. It owns the core and the
// incarnations; every blocking step runs on a goroutine of s.wg and comes
// back as a message.
type supervisorActor struct {
	s       *Supervisor
	core    *core.Core
	first   []core.Directive
	running map[string]*incarnation
	timer   *time.Timer
	timerAt time.Time
	gaveUp  *GaveUpError
	ctxErr  error // the Start ctx ended: why the supervisor stopped
	lastID  map[string]uint32
	cause   map[string]error // each child's last failure, with its type
}

func (a *supervisorActor) Receive(c actor.Context) {
	now := a.s.cfg.Now()
	switch m := c.Message().(type) {
	case *actor.Started:
		a.lastID = make(map[string]uint32)
		a.cause = make(map[string]error)
		a.apply(c, a.first)
		a.first = nil
	case startResult:
		a.onStarted(c, m, now)
	case childDead:
		a.onDead(c, m, now)
	case tickMsg:
		if m.at.Equal(a.timerAt) {
			a.timerAt = time.Time{}
			a.apply(c, a.core.Handle(core.Tick{}, now))
		}
	case shutdownMsg:
		a.shutdown(c, now)
	case *actor.Stopping:
		if a.timer != nil {
			a.timer.Stop()
		}
	}
}

// onDead records a child's death: it is down from now on, whatever the
// core decides, and its cause is kept for the events.
func (a *supervisorActor) onDead(c actor.Context, m childDead, now time.Time) {
	in := a.running[m.name]
	if in != nil && in.inc == m.inc {
		if in.dead {
			// Reported already, with a child behind it: keep the cause
			// its own handle gives.
			if m.reason != nil {
				a.cause[m.name] = m.reason
				a.s.update(m.name, func(info *ChildInfo) {
					if info.Incarnation == m.inc && info.LastErr != nil {
						info.LastErr = m.reason
					}
				})
			}
			return
		}
		in.dead = true
		a.intermediateFirst(c, m.name, m.reason, now)
	}
	reason := m.reason
	if reason == nil {
		reason = fmt.Errorf("supervision: link to %s closed without a reason: %w", m.name, actors.ErrContextDead)
	}
	if in != nil && in.inc == m.inc {
		a.cause[m.name] = reason
		a.s.update(m.name, func(info *ChildInfo) {
			if info.Incarnation == m.inc {
				info.Up, info.Context = false, nil
			}
		})
	}
	a.apply(c, a.core.Handle(core.Exited{Name: m.name, Inc: m.inc, Abnormal: abnormal(m.reason), Reason: reason.Error()}, now))
}

// intermediate returns the current incarnation of name's intermediate
// (ContextSpec.Via), or nil.
func (a *supervisorActor) intermediate(name string) spawn.Child {
	if via := a.spec(name).Via; via != "" {
		if in := a.running[via]; in != nil {
			return in.child
		}
	}
	return nil
}

// intermediateFirst feeds the core the death of name's intermediate
// before name's own, when the intermediate is dead too: the root learns of
// both in one update (the intermediate's link, or its DEL_ROUTE, removes
// the routes to it and to everything behind it), while their handles may
// report in either order (a local child's waits for its exit status).
// Then the core stops the children behind the intermediate and restarts
// it first. The intermediate's cause is, until its own handle reports,
// the cause its dependent's death carries (the same link's).
func (a *supervisorActor) intermediateFirst(c actor.Context, name string, reason error, now time.Time) {
	via := a.spec(name).Via
	if via == "" {
		return
	}
	in := a.running[via]
	if in == nil || in.child == nil || in.dead {
		return
	}
	select {
	case <-in.child.Dead():
		reason = in.child.DeadReason()
	default:
		if _, routed := a.s.node.Routes()[in.child.ID()]; routed {
			return // alive: name died alone
		}
		var de *actors.DeadError
		if errors.As(reason, &de) && de.Err != nil {
			reason = de.Err
		}
	}
	a.onDead(c, childDead{name: via, inc: in.inc, reason: reason}, now)
}

// shutdown stops every child and then the supervisor, on Stop or when the
// ctx given to Start ended (then kept as the reason, for Err).
func (a *supervisorActor) shutdown(c actor.Context, now time.Time) {
	if cause := context.Cause(a.s.base); cause != nil && !errors.Is(cause, ErrStopped) && a.ctxErr == nil && a.gaveUp == nil {
		a.ctxErr = fmt.Errorf("supervision: %s stopped: %w", a.s.cfg.Name, cause)
	}
	a.apply(c, a.core.Handle(core.Shutdown{}, now))
}

func (a *supervisorActor) onStarted(c actor.Context, m startResult, now time.Time) {
	if a.s.base.Err() != nil {
		// Stopping: the start's outcome (often ctx's error) is no failure,
		// and the shutdown must come first so the core stops this child.
		a.shutdown(c, now)
	}
	in := a.running[m.name]
	if in == nil || in.inc != m.inc {
		return
	}
	if m.err != nil {
		if in.stopWant {
			delete(a.running, m.name)
			a.apply(c, a.core.Handle(core.Exited{Name: m.name, Inc: m.inc, Reason: "stopped while starting"}, now))
			return
		}
		delete(a.running, m.name)
		a.cause[m.name] = &StartError{Child: m.name, Err: m.err}
		a.apply(c, a.core.Handle(core.StartFailed{Name: m.name, Inc: m.inc, Reason: m.err.Error()}, now))
		return
	}
	in.child = m.child
	a.watch(c, m.name, m.inc, m.child)
	if in.stopWant {
		a.stop(m.name, in)
		return
	}
	var restarts int
	a.s.update(m.name, func(info *ChildInfo) {
		info.Up, info.Context, info.ID, info.Incarnation, info.PIDs = true, m.child, m.child.ID(), m.inc, m.pids
		info.Ended = false
		restarts = info.Restarts
	})
	if restarts > 0 { // for introspection: the new context's row shows its restarts
		a.s.node.Annotate(m.child.ID(), actors.Annotation{Restarts: restarts})
	}
	if old, ok := a.lastID[m.name]; ok {
		ev := &ChildRestarted{Supervisor: a.s.cfg.Name, Child: m.name, ID: m.child.ID(), OldID: old, Restarts: restarts}
		a.s.emit(ev)
		a.s.cfg.Logger.Info("child context restarted", "supervisor", a.s.cfg.Name, "ctx", m.name,
			"id", ev.ID, "old_id", ev.OldID, "restarts", restarts)
	} else {
		a.s.emit(&ChildStarted{Supervisor: a.s.cfg.Name, Child: m.name, ID: m.child.ID()})
	}
	a.lastID[m.name] = m.child.ID()
	if a.spec(m.name).Standby {
		a.s.prepareSpare(a.spec(m.name), a.intermediate(m.name))
	}
	a.apply(c, a.core.Handle(core.Started{Name: m.name, Inc: m.inc}, now))
}

// apply carries out directives.
func (a *supervisorActor) apply(c actor.Context, ds []core.Directive) {
	for _, d := range ds {
		switch d := d.(type) {
		case core.StartChild:
			a.start(c, d)
		case core.StopChild:
			if in := a.running[d.Name]; in != nil && in.inc == d.Inc {
				if in.child == nil {
					in.stopWant = true
				} else {
					a.stop(d.Name, in)
				}
			}
		case core.Timer:
			a.arm(c, d.At)
		case core.Failed:
			a.failed(d)
		case core.ChildGaveUp:
			a.childGaveUp(d)
		case core.GaveUp:
			a.gaveUp = &GaveUpError{Supervisor: a.s.cfg.Name, Child: d.Name, Reason: d.Reason, Restarts: d.Restarts,
				Period: d.Period, Cause: a.cause[d.Name]}
			a.s.cancel(a.gaveUp) // starts in flight are stopped, not waited out
			a.s.emit(&SupervisorGaveUp{Supervisor: a.s.cfg.Name, Err: a.gaveUp})
			a.s.cfg.Logger.Error("supervisor gave up", "supervisor", a.s.cfg.Name, "ctx", d.Name,
				"restarts", d.Restarts, "period", d.Period, "reason", d.Reason)
		case core.Done:
			a.finish(c)
		}
	}
}

func (a *supervisorActor) failed(d core.Failed) {
	var id uint32
	cause := a.cause[d.Name]
	a.s.update(d.Name, func(info *ChildInfo) {
		id = info.ID
		info.Up, info.Context, info.LastErr = false, nil, cause
		if d.Restart {
			info.Restarts++
		} else {
			info.Ended = true
		}
	})
	a.s.emit(&ChildFailed{Supervisor: a.s.cfg.Name, Child: d.Name, ID: id,
		Reason: cause, Restarts: d.Restarts, Delay: d.Delay, Restart: d.Restart})
	a.s.cfg.Logger.Warn("child context failed", "supervisor", a.s.cfg.Name, "ctx", d.Name, "id", id,
		"reason", d.Reason, "restarts", d.Restarts, "restart", d.Restart, "delay", d.Delay)
}

// childGaveUp reports a child that exceeded its own intensity.
func (a *supervisorActor) childGaveUp(d core.ChildGaveUp) {
	var id uint32
	cause := a.cause[d.Name]
	a.s.update(d.Name, func(info *ChildInfo) {
		id = info.ID
		info.Up, info.Context, info.LastErr, info.Ended, info.GaveUp = false, nil, cause, true, true
	})
	a.s.emit(&ChildFailed{Supervisor: a.s.cfg.Name, Child: d.Name, ID: id, Reason: cause, Restarts: d.Restarts, GaveUp: true})
	a.s.cfg.Logger.Error("child context gave up", "supervisor", a.s.cfg.Name, "ctx", d.Name, "id", id,
		"reason", d.Reason, "restarts", d.Restarts, "period", d.Period)
}

// start runs one start on a goroutine: the context, then its actors.
func (a *supervisorActor) start(c actor.Context, d core.StartChild) {
	spec := a.spec(d.Name)
	via := a.intermediate(d.Name) // the core starts a child only while its intermediate runs
	a.running[d.Name] = &incarnation{inc: d.Inc}
	s, self, root := a.s, c.Self(), c.ActorSystem().Root
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.base, spec.StartTimeout)
		defer cancel()
		if via != nil {
			ctx = context.WithValue(ctx, viaKey{}, via)
		}
		res := startResult{name: d.Name, inc: d.Inc}
		if res.child = s.takeSpare(d.Name); res.child == nil {
			res.child, res.err = spec.Start(ctx, s.node, d.Name)
		}
		if res.err == nil {
			res.pids = make(map[string]*actor.PID, len(spec.Actors))
			for _, as := range spec.Actors {
				pid, err := res.child.Spawn(ctx, as.Kind, as.Name)
				if err == nil && as.Init != nil {
					if _, err = s.node.Request(ctx, pid, as.Init()); err != nil {
						err = fmt.Errorf("supervision: init of %s/%s: %w", d.Name, as.Kind, err)
					}
				}
				if err != nil {
					res.err = err
					s.discard(res.child)
					res.child = nil
					break
				}
				res.pids[as.Name] = pid
			}
		}
		root.Send(self, res)
	}()
}

// discard kills a child whose start failed after its context came up,
// and waits for its death, at most StopTimeout: a child whose link never
// reports its end must not hold the supervisor (and its Stop) for ever.
func (s *Supervisor) discard(c spawn.Child) {
	_ = c.Kill()
	t := time.NewTimer(s.cfg.StopTimeout)
	defer t.Stop()
	select {
	case <-c.Dead():
	case <-t.C:
		s.cfg.Logger.Warn("child of a failed start not dead after Kill", "supervisor", s.cfg.Name,
			"ctx", c.Name(), "id", c.ID(), "waited", s.cfg.StopTimeout)
	}
}

// watch turns the child's death into a childDead message.
func (a *supervisorActor) watch(c actor.Context, name string, inc uint64, child spawn.Child) {
	s, self, root := a.s, c.Self(), c.ActorSystem().Root
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-child.Dead()
		root.Send(self, childDead{name: name, inc: inc, reason: child.DeadReason()})
	}()
}

func (a *supervisorActor) stop(name string, in *incarnation) {
	s, child := a.s, in.child
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StopTimeout)
		defer cancel()
		if err := child.Shutdown(ctx); err != nil {
			s.cfg.Logger.Debug("child shutdown", "ctx", name, "err", err)
		}
	}()
}

func (a *supervisorActor) arm(c actor.Context, at time.Time) {
	if a.timer != nil {
		a.timer.Stop()
	}
	a.timerAt = at
	self, root := c.Self(), c.ActorSystem().Root
	a.timer = time.AfterFunc(at.Sub(a.s.cfg.Now()), func() { root.Send(self, tickMsg{at: at}) })
}

// finish ends the supervisor once every child has stopped.
func (a *supervisorActor) finish(c actor.Context) {
	if a.timer != nil {
		a.timer.Stop()
	}
	s, self := a.s, c.Self()
	err := a.ctxErr
	if a.gaveUp != nil {
		err = a.gaveUp
	}
	sys := c.ActorSystem()
	s.mu.Lock()
	for _, info := range s.infos { // every child is stopped by now, or is being
		info.Up, info.Context = false, nil
	}
	s.ended = true
	if s.stopCtx != nil {
		s.stopCtx()
	}
	s.mu.Unlock()
	go func() {
		s.dropSpares()
		s.wg.Wait()
		s.cancel(ErrStopped)
		s.err = err
		// The actor's name is free again once Done is closed: a new
		// supervisor of the same name may start right after Stop.
		_ = sys.Root.StopFuture(self).Wait()
		close(s.done)
	}()
}

func (a *supervisorActor) spec(name string) ContextSpec {
	for _, c := range a.s.cfg.Children {
		if c.Name == name {
			return c
		}
	}
	panic("supervision: core named an unknown child " + name)
}

// abnormal reports whether a context's death reason is a failure: anything
// but a process that exited with status 0, whatever method started it
// (spawn.ExitStatus is the one exit-status contract). A link that closed
// without a known reason is a failure.
func abnormal(reason error) bool {
	if reason == nil {
		return true
	}
	code, ok := spawn.ExitStatus(reason)
	return !ok || code != 0
}

// takeSpare returns the standby context of a child, if one is ready and
// alive.
func (s *Supervisor) takeSpare(name string) spawn.Child {
	s.mu.Lock()
	defer s.mu.Unlock()
	spare := s.spares[name]
	delete(s.spares, name)
	if spare == nil {
		return nil
	}
	select {
	case <-spare.Dead():
		return nil
	default:
		return spare
	}
}

// prepareSpare starts a standby context for spec on a goroutine (through
// via, when the spec has an intermediate), unless one is ready or on its
// way. A spare dies with its intermediate, and a dead spare is not taken.
func (s *Supervisor) prepareSpare(spec ContextSpec, via spawn.Child) {
	s.mu.Lock()
	if s.closing || s.sparing[spec.Name] || s.spares[spec.Name] != nil {
		s.mu.Unlock()
		return
	}
	s.sparing[spec.Name] = true
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.base, spec.StartTimeout)
		defer cancel()
		if via != nil {
			ctx = context.WithValue(ctx, viaKey{}, via)
		}
		spare, err := spec.Start(ctx, s.node, spec.Name)
		s.mu.Lock()
		delete(s.sparing, spec.Name)
		keep := err == nil && !s.closing
		if keep {
			s.spares[spec.Name] = spare
		}
		s.mu.Unlock()
		if err != nil {
			s.cfg.Logger.Warn("standby context not started", "supervisor", s.cfg.Name, "ctx", spec.Name, "err", err)
			return
		}
		if !keep {
			s.shutdown(spare)
		}
	}()
}

// dropSpares shuts the standby contexts down; no new ones are kept.
func (s *Supervisor) dropSpares() {
	s.mu.Lock()
	s.closing = true
	spares := s.spares
	s.spares = nil
	s.mu.Unlock()
	for _, spare := range spares {
		s.shutdown(spare)
	}
}

func (s *Supervisor) shutdown(c spawn.Child) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StopTimeout)
	defer cancel()
	_ = c.Shutdown(ctx)
}
