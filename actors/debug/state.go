package debug

import (
	"time"
	"unicode/utf8"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/introspect"
)

// Snapshot is one sample of the tree, as /tree.json and the "tree" events
// of /events send it.
type Snapshot struct {
	Node       NodeInfo  `json:"node"`        // the context serving the view
	Time       time.Time `json:"time"`        // when the sample began
	TookMS     float64   `json:"took_ms"`     // how long it took
	IntervalMS int64     `json:"interval_ms"` // Options.Interval
	Error      string    `json:"error,omitempty"`
	// Contexts is the tree in pre-order (each row after its parent, with
	// its Depth), the contexts that went down (State "dead") under their
	// last parent.
	Contexts []Row   `json:"contexts"`
	Stats    Stats   `json:"stats"`
	Events   []Event `json:"events,omitempty"` // /tree.json only: the recent events, oldest first
}

// NodeInfo names the context serving the view.
type NodeInfo struct {
	ID   uint32 `json:"id"`
	Name string `json:"name"`
}

// StateDead is the State of a context that went down (IS_DEAD), or left
// the tree, since the view saw it; the introspect states are the others.
const StateDead = "dead"

// Row is one context.
type Row struct {
	ID          uint32  `json:"id"`
	Parent      uint32  `json:"parent"`
	Depth       int     `json:"depth"`
	Name        string  `json:"name"`
	Method      string  `json:"method"`
	Host        string  `json:"host"`
	User        string  `json:"user"`
	PID         int     `json:"pid"`
	Incarnation string  `json:"incarnation"`
	State       string  `json:"state"`
	Err         string  `json:"err,omitempty"`
	UptimeS     float64 `json:"uptime_s"`
	Restarts    int     `json:"restarts"`
	Dropped     int     `json:"dropped"` // rows of its answer that broke the rules
	// RTTUS and SRTTUS are the heartbeat round trip of the link to its
	// parent (as the parent measures it, else as it does), last and
	// smoothed, in microseconds; RTTHistoryUS the last Options.History
	// samples of RTTUS, oldest first.
	RTTUS        int64   `json:"rtt_us"`
	SRTTUS       int64   `json:"srtt_us"`
	RTTHistoryUS []int64 `json:"rtt_history_us"`
	Links        []Link  `json:"links"`
	Down         *Down   `json:"down,omitempty"` // State "dead": why
}

// Link is one actors.LinkStats of a context.
type Link struct {
	Peer      uint32 `json:"peer"`
	Name      string `json:"name"`
	Parent    bool   `json:"parent"`
	FramesIn  uint64 `json:"frames_in"`
	BytesIn   uint64 `json:"bytes_in"`
	FramesOut uint64 `json:"frames_out"`
	BytesOut  uint64 `json:"bytes_out"`
	Queue     uint64 `json:"queue_bytes"`
	QueueHigh uint64 `json:"queue_high"`
	RTTUS     int64  `json:"rtt_us"`
	SRTTUS    int64  `json:"srtt_us"`
	DeadIn    uint64 `json:"dead_in"`
	DeadOut   uint64 `json:"dead_out"`
	Dropped   uint64 `json:"dropped"`
	Chunks    int64  `json:"chunks_in_flight"`
}

// Down is why a context is shown dead.
type Down struct {
	Time   time.Time `json:"time"`
	Code   string    `json:"code,omitempty"`  // "unreachable", "no actor", "rejected"
	Cause  string    `json:"cause,omitempty"` // "exit", "heartbeat", "protocol", ...
	Reason string    `json:"reason"`
}

// Event is one change of the tree.
type Event struct {
	Seq  uint64    `json:"seq"` // 1, 2, ...: a page keeps the highest it has seen
	Time time.Time `json:"time"`
	// Kind: "up" (a new context), "restart" (a new context that its
	// supervisor restarted: Restarts), "state" (From -> To between two
	// samples), "down" (IS_DEAD: Code, Cause, Reason), "gone" (left the
	// tree without an IS_DEAD here).
	Kind     string `json:"kind"`
	ID       uint32 `json:"id"`
	Name     string `json:"name"`
	From     string `json:"from,omitempty"`
	To       string `json:"to,omitempty"`
	Restarts int    `json:"restarts,omitempty"`
	Code     string `json:"code,omitempty"`
	Cause    string `json:"cause,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// state is what the view knows between samples; View.mu guards it.
type state struct {
	opt     Options
	snap    *Snapshot      // the latest sample
	snapAt  time.Time      // when it was taken (zero: resample)
	prev    map[uint32]Row // the live rows of the latest sample
	rootID  uint32         // of the latest sample
	hist    map[uint32][]int64
	graves  []Row   // oldest first
	events  []Event // oldest first, at most opt.MaxEvents
	seq     uint64
	sampled bool
}

func (s *state) init(o Options) {
	s.opt, s.prev, s.hist = o, map[uint32]Row{}, map[uint32][]int64{}
}

// cut bounds a string from the tree to MaxString bytes, on a rune
// boundary.
func cut(str string) string {
	if len(str) <= MaxString {
		return str
	}
	i := MaxString
	for i > 0 && !utf8.RuneStart(str[i]) {
		i--
	}
	return str[:i] + "…"
}

func us(d time.Duration) int64 { return d.Microseconds() }

func linkOf(l actors.LinkStats) Link {
	return Link{Peer: l.Peer, Name: cut(l.Name), Parent: l.IsParent, FramesIn: l.FramesIn, BytesIn: l.BytesIn,
		FramesOut: l.FramesOut, BytesOut: l.BytesOut, Queue: l.QueueBytes, QueueHigh: l.QueueHigh,
		RTTUS: us(l.RTT), SRTTUS: us(l.RTTSmoothed), DeadIn: l.DeadIn, DeadOut: l.DeadOut,
		Dropped: l.Dropped, Chunks: l.ChunksInFlight}
}

// rowsOf flattens tree in pre-order, each row's RTT taken from its
// parent's link to it where the parent reports one, else from its own.
func rowsOf(tree *introspect.Context) []Row {
	var rows []Row
	var walk func(c *introspect.Context, depth int, fromParent *actors.LinkStats)
	walk = func(c *introspect.Context, depth int, fromParent *actors.LinkStats) {
		r := Row{ID: c.ID, Parent: c.Parent, Depth: depth, Name: cut(c.Name), Method: cut(c.Method),
			Host: cut(c.Host), User: cut(c.User), PID: c.PID, Incarnation: cut(c.Incarnation), State: cut(string(c.State)),
			Err: cut(c.Err), UptimeS: c.Uptime.Seconds(), Restarts: c.Restarts, Dropped: c.Dropped}
		kids := map[uint32]*actors.LinkStats{}
		for i := range c.Links {
			l := &c.Links[i]
			r.Links = append(r.Links, linkOf(*l))
			if l.IsParent && fromParent == nil {
				fromParent = l
			} else if !l.IsParent {
				kids[l.Peer] = l
			}
		}
		if fromParent != nil {
			r.RTTUS, r.SRTTUS = us(fromParent.RTT), us(fromParent.RTTSmoothed)
		}
		rows = append(rows, r)
		for _, ch := range c.Children {
			walk(ch, depth+1, kids[ch.ID])
		}
	}
	if tree != nil {
		walk(tree, 0, nil)
	}
	return rows
}

// commit takes a new sample: it returns the snapshot and the events of
// what changed since the last one.
func (s *state) commit(n *actors.Node, tree *introspect.Context, treeErr error, at time.Time, took time.Duration) []Event {
	rows := rowsOf(tree)
	if len(s.graves) > 0 { // a context seen down never comes back (IDs are not reused)
		kept := rows[:0]
		for _, r := range rows {
			if !s.isGrave(r.ID) {
				kept = append(kept, r)
			}
		}
		rows = kept
	}
	live := make(map[uint32]Row, len(rows))
	var evs []Event
	for i := range rows {
		r := &rows[i]
		h := append(s.hist[r.ID], r.RTTUS)
		if len(h) > s.opt.History {
			h = append(h[:0:0], h[len(h)-s.opt.History:]...)
		}
		s.hist[r.ID] = h
		r.RTTHistoryUS = h
		old, seen := s.prev[r.ID]
		switch {
		case !s.sampled:
		case !seen && r.Restarts > 0:
			evs = append(evs, s.event(Event{Kind: "restart", ID: r.ID, Name: r.Name, To: r.State, Restarts: r.Restarts}))
		case !seen:
			evs = append(evs, s.event(Event{Kind: "up", ID: r.ID, Name: r.Name, To: r.State}))
		case old.State != r.State:
			evs = append(evs, s.event(Event{Kind: "state", ID: r.ID, Name: r.Name, From: old.State, To: r.State}))
		}
		live[r.ID] = *r
	}
	for id, old := range s.prev {
		if _, ok := live[id]; !ok && !s.isGrave(id) {
			evs = append(evs, s.bury(old, Down{Time: at, Reason: "gone from the tree"}, "gone"))
		}
	}
	for id := range s.hist {
		if _, ok := live[id]; !ok {
			delete(s.hist, id)
		}
	}
	s.prev, s.sampled, s.snapAt = live, true, at.Add(took)
	snap := &Snapshot{Node: NodeInfo{ID: n.ID(), Name: cut(n.Name())}, Time: at,
		TookMS: float64(took.Microseconds()) / 1000, IntervalMS: s.opt.Interval.Milliseconds()}
	if treeErr != nil {
		snap.Error = treeErr.Error()
	}
	if len(rows) > 0 {
		s.rootID = rows[0].ID
	}
	snap.Contexts = s.withGraves(rows)
	s.snap = snap
	return evs
}

func (s *state) isGrave(id uint32) bool { return s.grave(id) != nil }

func (s *state) grave(id uint32) *Row {
	for i := range s.graves {
		if s.graves[i].ID == id {
			return &s.graves[i]
		}
	}
	return nil
}

// bury shows r as dead from now on, and returns the event that says so.
func (s *state) bury(r Row, d Down, kind string) Event {
	from := r.State
	r.State, r.Down, r.Links = StateDead, &d, nil
	if g := s.grave(r.ID); g != nil {
		*g = r
	} else {
		s.graves = append(s.graves, r)
		if len(s.graves) > s.opt.MaxGraves {
			s.graves = append(s.graves[:0:0], s.graves[len(s.graves)-s.opt.MaxGraves:]...)
		}
	}
	delete(s.prev, r.ID)
	return s.event(Event{Kind: kind, ID: r.ID, Name: r.Name, From: from, To: StateDead,
		Code: d.Code, Cause: d.Cause, Reason: d.Reason})
}

// down records an IS_DEAD of a context: the event, and the context shown
// dead when the view has seen it.
func (s *state) down(cd *actors.ContextDown, at time.Time) Event {
	d := Down{Time: at, Reason: "down"}
	if e := cd.Reason; e != nil {
		d.Code, d.Cause, d.Reason = e.Code.String(), e.Cause.String(), cut(e.Reason)
	}
	r, seen := s.prev[cd.ID]
	if g := s.grave(cd.ID); g != nil {
		r, seen = *g, true
	}
	if !seen {
		return s.event(Event{Kind: "down", ID: cd.ID, Name: cut(cd.Name), To: StateDead,
			Code: d.Code, Cause: d.Cause, Reason: d.Reason})
	}
	s.snapAt = time.Time{} // /tree.json samples again
	return s.bury(r, d, "down")
}

func (s *state) event(e Event) Event {
	s.seq++
	e.Seq = s.seq
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.events = append(s.events, e)
	if len(s.events) > s.opt.MaxEvents {
		s.events = append(s.events[:0:0], s.events[len(s.events)-s.opt.MaxEvents:]...)
	}
	return e
}

// withGraves returns the live rows with the dead ones under their last
// parent (under the root when it is gone too), in pre-order with depths.
func (s *state) withGraves(live []Row) []Row {
	if len(s.graves) == 0 {
		return live
	}
	byID := make(map[uint32]*Row, len(live)+len(s.graves))
	kids := map[uint32][]uint32{}
	all := append(append(make([]Row, 0, len(live)+len(s.graves)), live...), s.graves...)
	for i := range all {
		byID[all[i].ID] = &all[i]
	}
	var roots []uint32
	for i, r := range all {
		_, hasParent := byID[r.Parent]
		switch {
		case i == 0 && len(live) > 0:
			roots = append(roots, r.ID)
		case hasParent && r.Parent != r.ID:
			kids[r.Parent] = append(kids[r.Parent], r.ID)
		case len(live) > 0:
			kids[live[0].ID] = append(kids[live[0].ID], r.ID)
		default:
			roots = append(roots, r.ID)
		}
	}
	out := make([]Row, 0, len(all))
	type item struct {
		id    uint32
		depth int
	}
	var stack []item
	for i := len(roots) - 1; i >= 0; i-- {
		stack = append(stack, item{roots[i], 0})
	}
	done := make(map[uint32]bool, len(all))
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if done[it.id] {
			continue
		}
		done[it.id] = true
		r := *byID[it.id]
		r.Depth = it.depth
		out = append(out, r)
		k := kids[it.id]
		for i := len(k) - 1; i >= 0; i-- {
			stack = append(stack, item{k[i], it.depth + 1})
		}
	}
	return out
}
