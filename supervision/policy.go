package supervision

import (
	"time"

	"github.com/spindle-go/spindle/supervision/internal/core"
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

func (s Strategy) String() string {
	switch s {
	case OneForAll:
		return "one_for_all"
	case RestForOne:
		return "rest_for_one"
	}
	return "one_for_one"
}

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

func (r Restart) String() string {
	switch r {
	case Transient:
		return "transient"
	case Temporary:
		return "temporary"
	}
	return "permanent"
}

// Backoff spaces restarts of a child that keeps failing: the n-th
// consecutive failure waits Min·2^(n-1), at most Max, stretched by a random
// factor in [0, Jitter). A child that ran for ResetAfter before failing
// starts again from Min.
type Backoff struct {
	Min, Max   time.Duration
	Jitter     float64
	ResetAfter time.Duration
}

// Policy is a supervisor's strategy, restart intensity and backoff. Zero
// values mean the documented defaults.
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
	// OneForOne, whose children otherwise start (and restart) in parallel,
	// each on its own backoff. OneForAll and RestForOne always start in
	// order.
	Sequential bool
}

// Intensity is a child's own restart intensity (ContextSpec.Intensity).
// The zero value means none: the child counts against the Policy's.
type Intensity struct {
	// MaxRestarts restarts within Period are allowed; one more and the
	// child is given up (negative: it is given up at its first failure).
	MaxRestarts int
	// Period defaults to the Policy's.
	Period time.Duration
	// Forever restarts the child for ever, spaced by its backoff (which
	// grows to Backoff.Max): for a host that may be down for a long time.
	Forever bool
}

func (i Intensity) core() core.Intensity {
	return core.Intensity{MaxRestarts: i.MaxRestarts, Period: i.Period, Forever: i.Forever}
}

func (b Backoff) core() core.Backoff {
	return core.Backoff{Min: b.Min, Max: b.Max, Jitter: b.Jitter, ResetAfter: b.ResetAfter}
}

func (p Policy) core() core.Policy {
	return core.Policy{Strategy: core.Strategy(p.Strategy), MaxRestarts: p.MaxRestarts, Period: p.Period,
		Backoff: p.Backoff.core(), Sequential: p.Sequential}
}
