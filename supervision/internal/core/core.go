// Package core is the pure decision logic of a supervisor: a state machine
// fed with events and the time, returning directives. It has no goroutines,
// timers, clock or IO; package supervision drives it from an actor. Its
// types mirror the public configuration of package supervision, which
// converts them.
package core

import (
	"fmt"
	"time"
)

// Strategy says which children restart when one fails (Erlang/OTP names).
type Strategy int

const (
	// OneForOne restarts only the child that failed.
	OneForOne Strategy = iota
	// OneForAll stops every other child and restarts them all.
	OneForAll
	// RestForOne stops the children started after the failed one and
	// restarts it and them, in order.
	RestForOne
)

// Restart says when a child is restarted (Erlang/OTP restart types).
type Restart int

const (
	// Permanent children are always restarted.
	Permanent Restart = iota
	// Transient children are restarted only after an abnormal exit.
	Transient
	// Temporary children are never restarted.
	Temporary
)

// Backoff spaces restarts of a child that keeps failing: the n-th
// consecutive failure waits Min·2^(n-1), at most Max, stretched by a random
// factor in [0, Jitter). A child that ran for ResetAfter before failing
// starts again from Min.
type Backoff struct {
	Min, Max   time.Duration
	Jitter     float64
	ResetAfter time.Duration
}

// Policy is the part of a supervisor's configuration the decision core
// needs. Zero values mean the documented defaults.
type Policy struct {
	Strategy Strategy
	// MaxRestarts restarts within Period are allowed; one more and the
	// supervisor gives up (Erlang's intensity and period). Defaults 3 in 5s;
	// a negative MaxRestarts means no restart is allowed.
	MaxRestarts int
	Period      time.Duration
	// Backoff defaults: Min 10ms, Max 5s, Jitter 0.2, ResetAfter Period.
	Backoff Backoff
	// Sequential starts children one at a time, in order, also under
	// OneForOne (whose children otherwise start in parallel). OneForAll
	// and RestForOne always start in order.
	Sequential bool
}

// SetDefaults writes the documented defaults into the zero fields.
func (p *Policy) SetDefaults() {
	if p.MaxRestarts == 0 {
		p.MaxRestarts = 3
	}
	if p.Period <= 0 {
		p.Period = 5 * time.Second
	}
	b := &p.Backoff
	if b.Min <= 0 {
		b.Min = 10 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 5 * time.Second
	}
	if b.Max < b.Min {
		b.Max = b.Min
	}
	if b.Jitter < 0 {
		b.Jitter = 0
	}
	if b.Jitter == 0 {
		b.Jitter = 0.2
	}
	if b.ResetAfter <= 0 {
		b.ResetAfter = p.Period
	}
}

// parallel reports whether children start independently of each other.
func (p *Policy) parallel() bool { return p.Strategy == OneForOne && !p.Sequential }

// Intensity is a child's own restart intensity (OneForOne only): its
// restarts count against it instead of the supervisor's, and exceeding it
// gives up this child alone. The zero value means none.
type Intensity struct {
	// MaxRestarts restarts within Period are allowed (negative: none).
	MaxRestarts int
	// Period defaults to the Policy's.
	Period time.Duration
	// Forever restarts the child for ever, with backoff.
	Forever bool
}

// Own reports whether the intensity is set.
func (i Intensity) Own() bool { return i.MaxRestarts != 0 || i.Forever }

// withDefaults fills b's zero fields from the policy's backoff.
func (b Backoff) withDefaults(d Backoff) Backoff {
	if b.Min <= 0 {
		b.Min = d.Min
	}
	if b.Max <= 0 {
		b.Max = d.Max
	}
	if b.Max < b.Min {
		b.Max = b.Min
	}
	if b.Jitter <= 0 {
		b.Jitter = d.Jitter
	}
	if b.ResetAfter <= 0 {
		b.ResetAfter = d.ResetAfter
	}
	return b
}

// Event is an input of the decision core.
type Event interface{ event() }

// Started reports that incarnation Inc of child Name is up.
type Started struct {
	Name string
	Inc  uint64
}

// Exited reports that incarnation Inc of child Name is gone: it failed
// (Abnormal), finished normally, or stopped because it was told to.
type Exited struct {
	Name     string
	Inc      uint64
	Abnormal bool
	Reason   string
}

// StartFailed reports that starting incarnation Inc of child Name failed.
type StartFailed struct {
	Name   string
	Inc    uint64
	Reason string
}

// Tick reports that a timer asked for with [Timer] fired.
type Tick struct{}

// Shutdown asks the supervisor to stop all its children and itself.
type Shutdown struct{}

func (Started) event()     {}
func (Exited) event()      {}
func (StartFailed) event() {}
func (Tick) event()        {}
func (Shutdown) event()    {}

// Directive is an output of the decision core: something for the actor
// around it to do, or to report.
type Directive interface{ directive() }

// StartChild asks for incarnation Inc of child Name to be started. The
// actor answers with [Started] or [StartFailed].
type StartChild struct {
	Name string
	Inc  uint64
}

// StopChild asks for incarnation Inc of child Name to be stopped. The
// actor answers with [Exited] once it is gone.
type StopChild struct {
	Name string
	Inc  uint64
}

// Timer asks for a [Tick] at At (replacing any earlier request).
type Timer struct{ At time.Time }

// Failed reports a child's failure and what the supervisor does about it.
type Failed struct {
	Name     string
	Reason   string
	Restarts int           // restarts within the current period, this one included
	Delay    time.Duration // backoff before the restart
	Restart  bool          // false: the child is not restarted (its restart type)
}

// ChildGaveUp reports that a child exceeded its own [Intensity]: it is
// not restarted, and its siblings go on.
type ChildGaveUp struct {
	Name     string
	Reason   string
	Restarts int
	Period   time.Duration
}

// GaveUp reports that the restart intensity was exceeded: every child is
// being stopped and the supervisor fails upward.
type GaveUp struct {
	Name     string // the child whose failure was one too many
	Reason   string
	Restarts int
	Period   time.Duration
}

// Done reports that every child is stopped after GaveUp or Shutdown: the
// supervisor may terminate.
type Done struct{}

func (StartChild) directive()  {}
func (StopChild) directive()   {}
func (Timer) directive()       {}
func (Failed) directive()      {}
func (ChildGaveUp) directive() {}
func (GaveUp) directive()      {}
func (Done) directive()        {}

// Child states in the core.
type status uint8

const (
	idle     status = iota // not running, not queued (transient exited normally, gave up)
	queued                 // waiting to be started
	starting               // Start sent, no answer yet
	running
	stopping // Stop sent, waiting for Exited
)

type child struct {
	name      string
	via       *child // the child this one is started through (ChildSpec.Via), or nil
	restart   Restart
	own       Intensity   // the child's own intensity, if Own()
	backoff   Backoff     // the policy's, with the child's overrides
	restarts  []time.Time // within own.Period, when own.Own()
	st        status
	inc       uint64
	startedAt time.Time
	notBefore time.Time // backoff: no start before this
	failures  int       // consecutive, for backoff
}

// Core is the decision logic of one supervisor: a pure state machine with
// no goroutines, timers or IO. Time comes in with each event, randomness
// (for jitter) from the function given to NewCore. Core is not safe for
// concurrent use; the supervisor actor owns it.
type Core struct {
	p        Policy
	rand     func() float64
	children []*child
	restarts []time.Time // restarts within the period
	timerAt  time.Time   // the pending Timer, zero when none
	ending   bool        // gave up or shutting down
	done     bool
}

// ChildSpec names a child and its restart type, for the core, with its
// own intensity and backoff (zero values: the policy's).
type ChildSpec struct {
	Name      string
	Restart   Restart
	Intensity Intensity
	Backoff   Backoff
	// Via names the child this one is started through (its intermediate):
	// a child listed before it, not Temporary. The child starts only while
	// its intermediate runs, and the end of the intermediate stops and
	// restarts it after the intermediate, whatever the strategy.
	Via string
}

// NewCore returns the core of a supervisor with these children, in start
// order, and the directives that start the first of them (all of them
// under a parallel OneForOne). rand returns values in [0, 1) (math/rand's
// Float64; tests pass a fixed function).
func NewCore(p Policy, specs []ChildSpec, rand func() float64, now time.Time) (*Core, []Directive, error) {
	p.SetDefaults()
	seen := make(map[string]*child, len(specs))
	c := &Core{p: p, rand: rand}
	for _, s := range specs {
		if s.Name == "" || seen[s.Name] != nil {
			return nil, nil, fmt.Errorf("supervision: child name %q empty or used twice", s.Name)
		}
		var via *child
		if s.Via != "" {
			if via = seen[s.Via]; via == nil {
				return nil, nil, fmt.Errorf("supervision: child %q is started through %q, which is not a child listed before it", s.Name, s.Via)
			}
			if via.restart == Temporary {
				return nil, nil, fmt.Errorf("supervision: child %q is started through %q, which is temporary", s.Name, s.Via)
			}
		}
		if s.Intensity.Own() && p.Strategy != OneForOne {
			return nil, nil, fmt.Errorf("supervision: child %q has its own intensity, which needs OneForOne", s.Name)
		}
		own := s.Intensity
		if own.Period <= 0 {
			own.Period = p.Period
		}
		ch := &child{name: s.Name, via: via, restart: s.Restart, own: own,
			backoff: s.Backoff.withDefaults(p.Backoff), st: queued}
		seen[s.Name] = ch
		c.children = append(c.children, ch)
	}
	return c, c.pump(now, nil), nil
}

// Handle feeds one event at time now and returns what to do.
func (c *Core) Handle(ev Event, now time.Time) []Directive {
	var out []Directive
	switch ev := ev.(type) {
	case Started:
		if ch := c.current(ev.Name, ev.Inc); ch != nil && ch.st == starting {
			ch.st, ch.startedAt = running, now
			if c.ending {
				ch.st = stopping
				out = append(out, StopChild{ch.name, ch.inc})
			}
		}
	case StartFailed:
		if ch := c.current(ev.Name, ev.Inc); ch != nil && ch.st == starting {
			ch.startedAt = now
			out = c.failed(ch, true, "start failed: "+ev.Reason, now, out)
		}
	case Exited:
		ch := c.current(ev.Name, ev.Inc)
		switch {
		case ch == nil:
		case ch.st == stopping:
			ch.st = idle
			switch {
			case c.ending:
			case ch.restart == Temporary:
				c.remove(ch) // stopped for a sibling's restart: not restarted
			case c.isQueuedGroup(ch):
				ch.st = queued
			}
		case ch.st == running || ch.st == starting:
			out = c.failed(ch, ev.Abnormal, ev.Reason, now, out)
		}
	case Tick:
		c.timerAt = time.Time{}
	case Shutdown:
		if !c.ending {
			c.ending = true
			out = c.stopAll(out)
		}
	}
	return c.pump(now, out)
}

// Children returns the specs of the children still supervised (a
// temporary child that ended is gone), in start order.
func (c *Core) Children() []ChildSpec {
	out := make([]ChildSpec, len(c.children))
	for i, ch := range c.children {
		out[i] = ChildSpec{Name: ch.name, Restart: ch.restart, Intensity: ch.own, Backoff: ch.backoff}
		if ch.via != nil {
			out[i].Via = ch.via.name
		}
	}
	return out
}

// Done reports whether the supervisor has finished (gave up or shut down,
// and every child stopped).
func (c *Core) Done() bool { return c.done }

func (c *Core) current(name string, inc uint64) *child {
	for _, ch := range c.children {
		if ch.name == name && ch.inc == inc {
			return ch
		}
	}
	return nil
}

// window appends now to ts and drops the times older than period.
func window(ts []time.Time, now time.Time, period time.Duration) []time.Time {
	ts = append(ts, now)
	cut := 0
	for cut < len(ts) && now.Sub(ts[cut]) > period {
		cut++
	}
	return ts[cut:]
}

// failed handles the end of a child that was not asked to stop.
func (c *Core) failed(ch *child, abnormal bool, reason string, now time.Time, out []Directive) []Directive {
	ch.st = idle
	if c.ending {
		return out
	}
	restart := ch.restart == Permanent || (ch.restart == Transient && abnormal)
	if !restart {
		if ch.restart == Temporary {
			c.remove(ch)
		}
		return append(out, Failed{Name: ch.name, Reason: reason, Restart: false})
	}
	if now.Sub(ch.startedAt) >= ch.backoff.ResetAfter {
		ch.failures = 0
	}
	ch.failures++
	var restarts int
	if ch.own.Own() {
		ch.restarts = window(ch.restarts, now, ch.own.Period)
		restarts = len(ch.restarts)
		if !ch.own.Forever && (ch.own.MaxRestarts < 0 || restarts > ch.own.MaxRestarts) {
			return append(out, ChildGaveUp{Name: ch.name, Reason: reason, Restarts: restarts, Period: ch.own.Period})
		}
	} else {
		c.restarts = window(c.restarts, now, c.p.Period)
		restarts = len(c.restarts)
		if c.p.MaxRestarts < 0 || restarts > c.p.MaxRestarts {
			c.ending = true
			out = append(out, GaveUp{Name: ch.name, Reason: reason, Restarts: restarts, Period: c.p.Period})
			return c.stopAll(out)
		}
	}
	delay := c.backoff(ch)
	ch.notBefore = now.Add(delay)
	out = append(out, Failed{Name: ch.name, Reason: reason, Restarts: restarts, Delay: delay, Restart: true})
	ch.st = queued
	group := c.group(ch)
	for i := len(group) - 1; i >= 0; i-- { // stop in reverse start order, as OTP does
		sib := group[i]
		switch sib.st {
		case running, starting:
			sib.st = stopping
			out = append(out, StopChild{sib.name, sib.inc})
		case idle:
			if sib.restart != Temporary {
				sib.st = queued
			}
		}
	}
	return out
}

// group returns the siblings that restart with ch, in start order: those
// of the strategy, and every child started through ch (directly or
// through another such child), whatever the strategy.
func (c *Core) group(ch *child) []*child {
	var out []*child
	after := false
	for _, sib := range c.children {
		if sib == ch {
			after = true
			continue
		}
		if c.p.Strategy == OneForAll || (c.p.Strategy == RestForOne && after) || sib.behind(ch) {
			out = append(out, sib)
		}
	}
	return out
}

// behind reports whether ch is started through x, directly or through
// intermediates.
func (ch *child) behind(x *child) bool {
	for v := ch.via; v != nil; v = v.via {
		if v == x {
			return true
		}
	}
	return false
}

// ready reports whether ch may start: its intermediate, if any, runs.
func (ch *child) ready() bool { return ch.via == nil || ch.via.st == running }

// isQueuedGroup reports whether a stopped sibling belongs to a restart in
// progress (some child is queued), so it is restarted too.
func (c *Core) isQueuedGroup(ch *child) bool {
	for _, sib := range c.children {
		if sib != ch && sib.st == queued {
			return true
		}
	}
	return false
}

func (c *Core) remove(ch *child) {
	for i, sib := range c.children {
		if sib == ch {
			c.children = append(c.children[:i], c.children[i+1:]...)
			return
		}
	}
}

// backoff returns the delay before the restart of ch after its
// ch.failures-th consecutive failure.
func (c *Core) backoff(ch *child) time.Duration {
	b := ch.backoff
	d := b.Min
	for i := 1; i < ch.failures && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return d + time.Duration(float64(d)*b.Jitter*c.rand())
}

// stopAll stops every running child, last started first.
func (c *Core) stopAll(out []Directive) []Directive {
	for i := len(c.children) - 1; i >= 0; i-- {
		ch := c.children[i]
		switch ch.st {
		case running, starting:
			ch.st = stopping
			out = append(out, StopChild{ch.name, ch.inc})
		case queued:
			ch.st = idle
		}
	}
	return out
}

// pump starts what may start now: under a parallel OneForOne every queued
// child whose backoff has passed; otherwise the next queued child, in
// order, when nothing is starting or stopping and the backoff of every
// queued child has passed. It asks for a Timer when a start must wait.
func (c *Core) pump(now time.Time, out []Directive) []Directive {
	busy := false
	for _, ch := range c.children {
		if ch.st == stopping || ch.st == starting {
			busy = true
		}
	}
	if c.ending {
		if !busy && !c.done {
			c.done = true
			out = append(out, Done{})
		}
		return out
	}
	if c.p.parallel() {
		return c.pumpParallel(now, out)
	}
	if busy {
		return out
	}
	var first *child
	var notBefore time.Time
	for _, ch := range c.children {
		if ch.st != queued {
			continue
		}
		if first == nil && ch.ready() {
			first = ch
		}
		if ch.notBefore.After(notBefore) {
			notBefore = ch.notBefore
		}
	}
	switch {
	case first == nil:
		return out
	case now.Before(notBefore):
		return c.timer(notBefore, out)
	}
	first.inc++
	first.st = starting
	return append(out, StartChild{first.name, first.inc})
}

// pumpParallel starts every queued child whose backoff has passed.
func (c *Core) pumpParallel(now time.Time, out []Directive) []Directive {
	var next time.Time
	for _, ch := range c.children {
		if ch.st != queued || !ch.ready() {
			continue // a child behind an intermediate waits for it to run
		}
		if now.Before(ch.notBefore) {
			if next.IsZero() || ch.notBefore.Before(next) {
				next = ch.notBefore
			}
			continue
		}
		ch.inc++
		ch.st = starting
		out = append(out, StartChild{ch.name, ch.inc})
	}
	if next.IsZero() {
		return out
	}
	return c.timer(next, out)
}

// timer asks for a Tick at at, unless that one is pending.
func (c *Core) timer(at time.Time, out []Directive) []Directive {
	if c.timerAt.Equal(at) {
		return out
	}
	c.timerAt = at
	return append(out, Timer{At: at})
}
