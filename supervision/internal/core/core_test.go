package core

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// clock is a fake time source for the core.
type clock struct{ t time.Time }

func (c *clock) now() time.Time                { return c.t }
func (c *clock) add(d time.Duration) time.Time { c.t = c.t.Add(d); return c.t }

func noJitter() float64 { return 0 }

func specs(names ...string) []ChildSpec {
	out := make([]ChildSpec, len(names))
	for i, n := range names {
		out[i] = ChildSpec{Name: n}
	}
	return out
}

// harness drives a Core the way the supervisor actor does: every Start is
// answered with Started at once, every Stop with Exited, and Timers fire
// when the clock reaches them.
type harness struct {
	t     *testing.T
	c     *Core
	clk   *clock
	inc   map[string]uint64
	log   []Directive // everything the core said, in order
	timer time.Time
}

func newHarness(t *testing.T, p Policy, sp []ChildSpec) *harness {
	t.Helper()
	clk := &clock{t: time.Unix(1000, 0)}
	c, out, err := NewCore(p, sp, noJitter, clk.now())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, c: c, clk: clk, inc: map[string]uint64{}}
	h.apply(out)
	return h
}

// apply carries out directives, answering Start and Stop at once.
func (h *harness) apply(out []Directive) {
	for len(out) > 0 {
		d := out[0]
		out = out[1:]
		h.log = append(h.log, d)
		switch d := d.(type) {
		case StartChild:
			h.inc[d.Name] = d.Inc
			out = append(out, h.c.Handle(Started{d.Name, d.Inc}, h.clk.now())...)
		case StopChild:
			out = append(out, h.c.Handle(Exited{Name: d.Name, Inc: d.Inc, Reason: "stopped"}, h.clk.now())...)
		case Timer:
			h.timer = d.At
		}
	}
}

func (h *harness) fail(name string) {
	h.apply(h.c.Handle(Exited{Name: name, Inc: h.inc[name], Abnormal: true, Reason: "boom"}, h.clk.now()))
}

// advance moves the clock and fires a due timer.
func (h *harness) advance(d time.Duration) {
	h.clk.add(d)
	if !h.timer.IsZero() && !h.clk.now().Before(h.timer) {
		h.timer = time.Time{}
		h.apply(h.c.Handle(Tick{}, h.clk.now()))
	}
}

// since returns the directives logged from index i, without reports.
func (h *harness) actions(i int) []Directive {
	var out []Directive
	for _, d := range h.log[i:] {
		switch d.(type) {
		case StartChild, StopChild:
			out = append(out, d)
		}
	}
	return out
}

func TestCore_StartsChildrenInOrder(t *testing.T) {
	h := newHarness(t, Policy{}, specs("a", "b", "c"))
	want := []Directive{StartChild{"a", 1}, StartChild{"b", 1}, StartChild{"c", 1}}
	if got := h.actions(0); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestCore_Strategies(t *testing.T) {
	tests := []struct {
		strategy Strategy
		want     []Directive
	}{
		{OneForOne, []Directive{StartChild{"b", 2}}},
		{OneForAll, []Directive{StopChild{"c", 1}, StopChild{"a", 1}, StartChild{"a", 2}, StartChild{"b", 2}, StartChild{"c", 2}}},
		{RestForOne, []Directive{StopChild{"c", 1}, StartChild{"b", 2}, StartChild{"c", 2}}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.strategy), func(t *testing.T) {
			h := newHarness(t, Policy{Strategy: tt.strategy}, specs("a", "b", "c"))
			mark := len(h.log)
			h.fail("b")
			if got := h.actions(mark); len(got) != 0 && tt.strategy == OneForOne {
				t.Fatalf("restart before the backoff: %v", got)
			}
			h.advance(time.Second)
			if got := h.actions(mark); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCore_RestartTypes(t *testing.T) {
	tests := []struct {
		restart  Restart
		abnormal bool
		restarts bool
	}{
		{Permanent, true, true},
		{Permanent, false, true},
		{Transient, true, true},
		{Transient, false, false},
		{Temporary, true, false},
		{Temporary, false, false},
	}
	for _, tt := range tests {
		name := fmt.Sprint(tt.restart)
		if tt.abnormal {
			name += "/abnormal"
		} else {
			name += "/normal"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, Policy{}, []ChildSpec{{Name: "w", Restart: tt.restart}})
			mark := len(h.log)
			h.apply(h.c.Handle(Exited{Name: "w", Inc: 1, Abnormal: tt.abnormal, Reason: "x"}, h.clk.now()))
			h.advance(time.Minute)
			got := len(h.actions(mark)) > 0
			if got != tt.restarts {
				t.Fatalf("restarted %v, want %v", got, tt.restarts)
			}
			f, ok := h.log[mark].(Failed)
			if !ok || f.Restart != tt.restarts {
				t.Fatalf("report %#v", h.log[mark])
			}
			if tt.restart == Temporary && len(h.c.Children()) != 0 {
				t.Fatal("temporary child kept after it ended")
			}
		})
	}
}

// More than MaxRestarts restarts within Period: the supervisor stops every
// child and gives up; restarts spread wider than Period are fine.
func TestCore_Intensity(t *testing.T) {
	p := Policy{MaxRestarts: 2, Period: time.Second, Backoff: Backoff{Min: time.Millisecond, Max: time.Millisecond}}
	h := newHarness(t, p, specs("a", "b"))
	for i := 0; i < 2; i++ {
		h.fail("a")
		h.advance(10 * time.Millisecond)
	}
	mark := len(h.log)
	h.fail("a")
	var gave *GaveUp
	for _, d := range h.log[mark:] {
		if g, ok := d.(GaveUp); ok {
			gave = &g
		}
	}
	if gave == nil || gave.Restarts != 3 || gave.Name != "a" {
		t.Fatalf("no GaveUp after 3 restarts in 1s: %v", h.log[mark:])
	}
	if got, want := h.actions(mark), []Directive{StopChild{"b", 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after giving up: %v, want %v", got, want)
	}
	if _, ok := h.log[len(h.log)-1].(Done); !ok || !h.c.Done() {
		t.Fatalf("no Done after every child stopped: %v", h.log[len(h.log)-1])
	}
	// Nothing restarts after giving up.
	mark = len(h.log)
	h.advance(time.Minute)
	if got := h.actions(mark); len(got) != 0 {
		t.Fatalf("actions after giving up: %v", got)
	}

	// The same three failures spread over more than the period are fine.
	h = newHarness(t, p, specs("a"))
	for i := 0; i < 5; i++ {
		h.fail("a")
		h.advance(600 * time.Millisecond)
	}
	for _, d := range h.log {
		if _, ok := d.(GaveUp); ok {
			t.Fatal("gave up on failures spread over the period")
		}
	}
}

func TestCore_BackoffGrowsAndResets(t *testing.T) {
	p := Policy{MaxRestarts: 100, Period: time.Hour,
		Backoff: Backoff{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond, ResetAfter: time.Second}}
	h := newHarness(t, p, specs("a"))
	var delays []time.Duration
	for i := 0; i < 6; i++ {
		h.fail("a")
		delays = append(delays, h.log[len(h.log)-2].(Failed).Delay) // Failed, then Timer
		h.advance(h.timer.Sub(h.clk.now()))
	}
	want := []time.Duration{10, 20, 40, 80, 80, 80}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !reflect.DeepEqual(delays, want) {
		t.Fatalf("delays %v, want %v", delays, want)
	}
	// A child that ran longer than ResetAfter starts over from Min.
	h.advance(2 * time.Second)
	h.fail("a")
	if d := h.log[len(h.log)-2].(Failed).Delay; d != 10*time.Millisecond {
		t.Fatalf("delay after a long run %v, want 10ms", d)
	}
}

func TestCore_Jitter(t *testing.T) {
	p := Policy{Backoff: Backoff{Min: 100 * time.Millisecond, Jitter: 0.5}}
	c, _, err := NewCore(p, specs("a"), func() float64 { return 0.5 }, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	c.Handle(Started{"a", 1}, time.Unix(0, 0))
	out := c.Handle(Exited{Name: "a", Inc: 1, Abnormal: true}, time.Unix(0, 0))
	if f := out[0].(Failed); f.Delay != 125*time.Millisecond {
		t.Fatalf("delay %v, want 100ms + 0.5·0.5·100ms", f.Delay)
	}
}

// Answers for an older incarnation are ignored: they cannot stop or
// restart the current one.
func TestCore_StaleEventsIgnored(t *testing.T) {
	h := newHarness(t, Policy{}, specs("a"))
	h.fail("a")
	h.advance(time.Second) // incarnation 2 running
	mark := len(h.log)
	for _, ev := range []Event{Exited{Name: "a", Inc: 1, Abnormal: true}, StartFailed{Name: "a", Inc: 1}, Started{Name: "a", Inc: 1}} {
		h.apply(h.c.Handle(ev, h.clk.now()))
	}
	h.advance(time.Minute)
	if len(h.log) != mark {
		t.Fatalf("stale events caused %v", h.log[mark:])
	}
}

// A failed start counts as a failure: it is retried with backoff and
// counts towards the intensity.
func TestCore_StartFailure(t *testing.T) {
	p := Policy{MaxRestarts: 1, Period: time.Minute}
	clk := &clock{t: time.Unix(0, 0)}
	c, out, _ := NewCore(p, specs("a"), noJitter, clk.now())
	if !reflect.DeepEqual(out, []Directive{StartChild{"a", 1}}) {
		t.Fatalf("first: %v", out)
	}
	out = c.Handle(StartFailed{Name: "a", Inc: 1, Reason: "no binary"}, clk.now())
	if f, ok := out[0].(Failed); !ok || !f.Restart || f.Reason != "start failed: no binary" {
		t.Fatalf("after a failed start: %v", out)
	}
	out = c.Handle(Tick{}, clk.add(time.Second))
	if !reflect.DeepEqual(out, []Directive{StartChild{"a", 2}}) {
		t.Fatalf("retry: %v", out)
	}
	out = c.Handle(StartFailed{Name: "a", Inc: 2, Reason: "no binary"}, clk.now())
	if _, ok := out[0].(GaveUp); !ok {
		t.Fatalf("second failed start within the period: %v", out)
	}
	if _, ok := out[len(out)-1].(Done); !ok {
		t.Fatalf("nothing running, so Done at once: %v", out)
	}
}

// Shutdown stops children last-started first, waits for them, then Done.
func TestCore_Shutdown(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	c, _, _ := NewCore(Policy{}, specs("a", "b"), noJitter, clk.now())
	c.Handle(Started{"a", 1}, clk.now())
	c.Handle(Started{"b", 1}, clk.now())
	out := c.Handle(Shutdown{}, clk.now())
	if !reflect.DeepEqual(out, []Directive{StopChild{"b", 1}, StopChild{"a", 1}}) {
		t.Fatalf("shutdown: %v", out)
	}
	if out := c.Handle(Exited{Name: "b", Inc: 1}, clk.now()); len(out) != 0 {
		t.Fatalf("after b: %v", out)
	}
	if out := c.Handle(Exited{Name: "a", Inc: 1}, clk.now()); !reflect.DeepEqual(out, []Directive{Done{}}) {
		t.Fatalf("after a: %v", out)
	}
}

// A child that is starting when a sibling fails under one_for_all is
// stopped once its start completes.
func TestCore_FailureWhileStarting(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	c, _, _ := NewCore(Policy{Strategy: OneForAll}, specs("a", "b"), noJitter, clk.now())
	c.Handle(Started{"a", 1}, clk.now()) // -> Start b
	out := c.Handle(Exited{Name: "a", Inc: 1, Abnormal: true}, clk.now())
	var stops []Directive
	for _, d := range out {
		if s, ok := d.(StopChild); ok {
			stops = append(stops, s)
		}
	}
	if !reflect.DeepEqual(stops, []Directive{StopChild{"b", 1}}) {
		t.Fatalf("b not stopped: %v", out)
	}
	c.Handle(Exited{Name: "b", Inc: 1}, clk.now())
	out = c.Handle(Tick{}, clk.add(time.Second))
	if !reflect.DeepEqual(out, []Directive{StartChild{"a", 2}}) {
		t.Fatalf("restart: %v", out)
	}
	out = c.Handle(Started{"a", 2}, clk.now())
	if !reflect.DeepEqual(out, []Directive{StartChild{"b", 2}}) {
		t.Fatalf("restart b: %v", out)
	}
}

func TestCore_BadSpecs(t *testing.T) {
	for _, sp := range [][]ChildSpec{specs("a", "a"), specs("")} {
		if _, _, err := NewCore(Policy{}, sp, noJitter, time.Now()); err == nil {
			t.Fatalf("accepted %v", sp)
		}
	}
}

func starts(out []Directive) []Directive {
	var got []Directive
	for _, d := range out {
		if s, ok := d.(StartChild); ok {
			got = append(got, s)
		}
	}
	return got
}

// Under OneForOne every child starts at once; Sequential (and the other
// strategies) start one at a time, in order.
func TestCore_ParallelStart(t *testing.T) {
	for _, tt := range []struct {
		p    Policy
		want []Directive
	}{
		{Policy{}, []Directive{StartChild{"a", 1}, StartChild{"b", 1}, StartChild{"c", 1}}},
		{Policy{Sequential: true}, []Directive{StartChild{"a", 1}}},
		{Policy{Strategy: OneForAll}, []Directive{StartChild{"a", 1}}},
		{Policy{Strategy: RestForOne}, []Directive{StartChild{"a", 1}}},
	} {
		_, out, err := NewCore(tt.p, specs("a", "b", "c"), noJitter, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if got := starts(out); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%+v: first starts %v, want %v", tt.p, got, tt.want)
		}
	}
}

// A child whose start keeps failing (a host that is down) waits out its
// own backoff; the others start and restart on their own schedule.
func TestCore_DownChildDoesNotDelayOthers(t *testing.T) {
	p := Policy{MaxRestarts: 100, Period: time.Hour, Backoff: Backoff{Min: time.Second, Max: time.Minute}}
	sp := specs("down", "b")
	sp[0].Intensity = Intensity{Forever: true}
	clk := &clock{t: time.Unix(0, 0)}
	c, out, _ := NewCore(p, sp, noJitter, clk.now())
	if len(starts(out)) != 2 {
		t.Fatalf("first: %v", out)
	}
	c.Handle(StartFailed{Name: "down", Inc: 1, Reason: "connection refused"}, clk.now())
	if out := c.Handle(Started{"b", 1}, clk.add(time.Millisecond)); len(out) != 0 {
		t.Fatalf("after b started: %v", out)
	}
	// b fails 10ms later: it restarts after its own 1s, not down's.
	out = c.Handle(Exited{Name: "b", Inc: 1, Abnormal: true}, clk.add(10*time.Millisecond))
	if f, ok := out[0].(Failed); !ok || f.Delay != time.Second {
		t.Fatalf("b failed: %v", out)
	}
	out = c.Handle(Tick{}, clk.t.Add(time.Second-11*time.Millisecond)) // down's retry is due
	if got := starts(out); !reflect.DeepEqual(got, []Directive{StartChild{"down", 2}}) {
		t.Fatalf("down's retry: %v", out)
	}
	out = c.Handle(Tick{}, clk.add(time.Second))
	if got := starts(out); !reflect.DeepEqual(got, []Directive{StartChild{"b", 2}}) {
		t.Fatalf("b's restart: %v", out)
	}
}

// A flapping child with its own intensity gives up alone; its restarts do
// not count against the supervisor's intensity.
func TestCore_OwnIntensityGivesUpAlone(t *testing.T) {
	p := Policy{MaxRestarts: 1, Period: time.Hour, Backoff: Backoff{Min: time.Millisecond, Max: time.Millisecond}}
	sp := specs("flap", "ok")
	sp[0].Intensity = Intensity{MaxRestarts: 3, Period: time.Minute}
	h := newHarness(t, p, sp)
	for i := 0; i < 3; i++ {
		h.fail("flap")
		h.advance(10 * time.Millisecond)
	}
	mark := len(h.log)
	h.fail("flap")
	want := []Directive{ChildGaveUp{Name: "flap", Reason: "boom", Restarts: 4, Period: time.Minute}}
	if got := h.log[mark:]; !reflect.DeepEqual(got, want) {
		t.Fatalf("fourth failure: %v, want %v", got, want)
	}
	h.advance(time.Hour)
	if got := h.actions(mark); len(got) != 0 {
		t.Fatalf("actions after the child gave up: %v", got)
	}
	// The supervisor's own intensity (1) is untouched: ok may fail once.
	h.fail("ok")
	h.advance(time.Second)
	if h.c.Done() || h.inc["ok"] != 2 {
		t.Fatalf("sibling not restarted (done %v, inc %d): %v", h.c.Done(), h.inc["ok"], h.log[mark:])
	}
	// Shutdown: the given-up child is not stopped again.
	mark = len(h.log)
	h.apply(h.c.Handle(Shutdown{}, h.clk.now()))
	if got, want := h.actions(mark), []Directive{StopChild{"ok", 2}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("shutdown: %v, want %v", got, want)
	}
}

// Forever never gives up; the delay stays capped at the child's Max.
func TestCore_ForeverBackoff(t *testing.T) {
	p := Policy{MaxRestarts: 1, Period: time.Hour}
	sp := specs("host")
	sp[0].Intensity = Intensity{Forever: true}
	sp[0].Backoff = Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}
	clk := &clock{t: time.Unix(0, 0)}
	c, _, _ := NewCore(p, sp, noJitter, clk.now())
	var last time.Duration
	for inc := uint64(1); inc <= 200; inc++ {
		out := c.Handle(StartFailed{Name: "host", Inc: inc, Reason: "refused"}, clk.now())
		f, ok := out[0].(Failed)
		if !ok || !f.Restart {
			t.Fatalf("failure %d: %v", inc, out)
		}
		last = f.Delay
		out = c.Handle(Tick{}, clk.add(f.Delay))
		if got := starts(out); !reflect.DeepEqual(got, []Directive{StartChild{"host", inc + 1}}) {
			t.Fatalf("retry %d: %v", inc, out)
		}
	}
	if last != 2*time.Second || c.Done() {
		t.Fatalf("last delay %v (want the 2s cap), done %v", last, c.Done())
	}
}

func TestCore_OwnIntensityNeedsOneForOne(t *testing.T) {
	sp := specs("a")
	sp[0].Intensity = Intensity{MaxRestarts: 2}
	if _, _, err := NewCore(Policy{Strategy: OneForAll}, sp, noJitter, time.Unix(0, 0)); err == nil {
		t.Fatal("own intensity accepted under one_for_all")
	}
}

// viaSpecs: bastion, then w started through it, then an unrelated x, then
// app started through w.
func viaSpecs() []ChildSpec {
	return []ChildSpec{{Name: "bastion"}, {Name: "w", Via: "bastion"}, {Name: "x"}, {Name: "app", Via: "w"}}
}

func failures(out []Directive) []string {
	var got []string
	for _, d := range out {
		if f, ok := d.(Failed); ok {
			got = append(got, f.Name)
		}
	}
	return got
}

// A child started through an intermediate starts once the intermediate
// runs, under every strategy; the others are not held up.
func TestCore_ViaStartsAfterIntermediate(t *testing.T) {
	_, out, err := NewCore(Policy{}, viaSpecs(), noJitter, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := starts(out), []Directive{StartChild{"bastion", 1}, StartChild{"x", 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("first starts %v, want %v", got, want)
	}
	for _, p := range []Policy{{}, {Sequential: true}, {Strategy: RestForOne}, {Strategy: OneForAll}} {
		h := newHarness(t, p, viaSpecs())
		got := starts(h.log)
		if len(got) != 4 || got[0] != (StartChild{"bastion", 1}) || !before(got, "w", "app") {
			t.Errorf("%+v: starts %v", p, got)
		}
	}
}

// before reports whether a starts before b in the starts ds.
func before(ds []Directive, a, b string) bool {
	ia, ib := -1, -1
	for i, d := range ds {
		switch d.(StartChild).Name {
		case a:
			ia = i
		case b:
			ib = i
		}
	}
	return ia >= 0 && ib > ia
}

// The intermediate dies: under OneForOne the children behind it (and
// behind them) are stopped, last first, and restarted after it, in order;
// the unrelated child is left alone; one restart is counted.
func TestCore_ViaIntermediateRestartsFirst(t *testing.T) {
	h := newHarness(t, Policy{}, viaSpecs())
	mark := len(h.log)
	h.fail("bastion")
	h.advance(time.Second)
	want := []Directive{StopChild{"app", 1}, StopChild{"w", 1},
		StartChild{"bastion", 2}, StartChild{"w", 2}, StartChild{"app", 2}}
	if got := h.actions(mark); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := failures(h.log[mark:]); !reflect.DeepEqual(got, []string{"bastion"}) {
		t.Fatalf("failures %v, want the bastion's only", got)
	}
}

// The child behind is reported dead before its intermediate (two
// deaths in one update, in either order): it waits for the intermediate's
// restart instead of starting through the dead one.
func TestCore_ViaDependentReportedFirst(t *testing.T) {
	h := newHarness(t, Policy{}, viaSpecs())
	mark := len(h.log)
	h.fail("app")
	h.fail("w")
	h.fail("bastion")
	if got := starts(h.log[mark:]); len(got) != 0 {
		t.Fatalf("started before the backoff: %v", got)
	}
	h.advance(time.Second)
	want := []Directive{StartChild{"bastion", 2}, StartChild{"w", 2}, StartChild{"app", 2}}
	if got := starts(h.log[mark:]); !reflect.DeepEqual(got, want) {
		t.Fatalf("starts %v, want %v", got, want)
	}
}

// A child behind an intermediate that is starting again, and fails to:
// the children behind it keep waiting; they start once it runs.
func TestCore_ViaIntermediateStartFails(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	c, out, err := NewCore(Policy{MaxRestarts: 10}, viaSpecs()[:2], noJitter, clk.now())
	if err != nil {
		t.Fatal(err)
	}
	if got := starts(out); !reflect.DeepEqual(got, []Directive{StartChild{"bastion", 1}}) {
		t.Fatalf("starts %v", got)
	}
	out = c.Handle(StartFailed{Name: "bastion", Inc: 1, Reason: "refused"}, clk.now())
	if got := starts(out); len(got) != 0 {
		t.Fatalf("starts %v after the intermediate's failed start", got)
	}
	out = c.Handle(Tick{}, clk.add(time.Second))
	if got := starts(out); !reflect.DeepEqual(got, []Directive{StartChild{"bastion", 2}}) {
		t.Fatalf("starts %v, want the intermediate alone", got)
	}
	if got := starts(c.Handle(Started{"bastion", 2}, clk.now())); !reflect.DeepEqual(got, []Directive{StartChild{"w", 1}}) {
		t.Fatalf("starts %v once the intermediate runs, want w", got)
	}
}

func TestCore_ViaBadSpecs(t *testing.T) {
	for _, sp := range [][]ChildSpec{
		{{Name: "w", Via: "nobody"}},
		{{Name: "w", Via: "bastion"}, {Name: "bastion"}}, // listed after
		{{Name: "w", Via: "w"}},
		{{Name: "bastion", Restart: Temporary}, {Name: "w", Via: "bastion"}},
	} {
		if _, _, err := NewCore(Policy{}, sp, noJitter, time.Now()); err == nil {
			t.Errorf("accepted %+v", sp)
		}
	}
}
