// Package route is the routing table and policy of one context: which of
// its links leads to each context, which blocks of context IDs were granted
// through each child link, which contexts are dead, and the checks built on
// them (reverse path, same route, ancestry).
//
// The package is a pure core: no goroutines, no locks, no clock and no IO.
// A [Table] is not safe for concurrent use; its owner (the node) holds it
// under its own mutex, passes time in where a decision needs it, and does
// the IO that the table's answers call for.
package route

import (
	"strings"

	"github.com/spindle-go/spindle/wire"
)

// Bounds of what a route update may make a context keep.
const (
	// MaxName is the longest context name kept (longer ones are cut).
	MaxName = 255
	// MaxReason is the longest death reason kept (longer ones are cut).
	MaxReason = 1024
	// MaxUpdateIDs is the most context IDs one ADD_ROUTE or DEL_ROUTE
	// frame may carry.
	MaxUpdateIDs = 1024
)

// Bound returns s cut to at most max bytes (on a UTF-8 boundary) and
// copied, so that it never pins the buffer it was decoded from.
func Bound(s string, max int) string {
	if len(s) <= max {
		return strings.Clone(s)
	}
	cut := max
	for cut > 0 && cut > max-4 && !utf8Start(s[cut]) {
		cut--
	}
	return strings.Clone(s[:cut])
}

func utf8Start(b byte) bool { return b&0xc0 != 0x80 }

// Link names one of a context's links without holding it: the parent link,
// or the link to a direct child, named by the child's context ID (IDs are
// never reused, so the name never changes meaning). The zero Link is no
// link.
type Link struct {
	child uint32
	kind  uint8
}

const (
	linkNone uint8 = iota
	linkChild
	linkParent
)

// Parent is the link to this context's parent.
var Parent = Link{kind: linkParent}

// Child returns the link to the direct child with context ID id.
func Child(id uint32) Link { return Link{child: id, kind: linkChild} }

// IsParent reports whether l is the parent link.
func (l Link) IsParent() bool { return l.kind == linkParent }

// ChildID returns the context ID of the child l leads to, and false for
// the parent link and the zero Link.
func (l Link) ChildID() (uint32, bool) { return l.child, l.kind == linkChild }

// Valid reports whether l names a link.
func (l Link) Valid() bool { return l.kind != linkNone }

// Dead is what the table keeps of a context that became unreachable: a
// few words and two bounded strings (Reason is usually shared by all the
// contexts of one update).
type Dead struct {
	Code   wire.DeadCode
	Reason string
	Name   string
	Cause  wire.Cause // the death's cause code (see wire.Cause)
	Detail int32      // with wire.CauseExit: the exit status
	// Err is the cause where this context saw the death itself (a
	// heartbeat timeout, the spawn method's exit error); nil for deaths
	// learnt over the wire, whose cause is Cause and Reason.
	Err error
}

// grant is a block of context IDs handed to the subtree behind a child
// link; only that link may announce routes for them.
type grant struct {
	first, end uint32
	via        uint32 // the direct child
}

// Table is the routing state of one context. It is not safe for
// concurrent use.
type Table struct {
	self      uint32
	parents   []uint32          // ancestors, root first, ending with the parent
	hasParent bool              // the parent link is up
	routes    map[uint32]uint32 // descendant -> direct child it lives behind
	names     map[uint32]string // names of live contexts
	dead      map[uint32]Dead
	deadOrder []uint32 // ring of the dead, oldest at deadNext once full
	deadNext  int
	grants    []grant
	lim       Limits
	usage     map[uint32]*linkQuota  // per child link
	egress    map[uint32]*egressLink // per child link: egress.go
	talkers   map[uint32][]uint32    // context -> child links that recorded it
}

// New returns the table of context self, whose ancestors are parents (root
// first; empty for the root). The parent link, if any, is not up until
// [Table.ParentUp]. Zero fields of lim take their defaults.
func New(self uint32, name string, parents []uint32, lim Limits) *Table {
	lim.setDefaults()
	t := &Table{
		self:    self,
		parents: append([]uint32(nil), parents...),
		routes:  make(map[uint32]uint32),
		names:   make(map[uint32]string),
		dead:    make(map[uint32]Dead),
		lim:     lim,
		usage:   make(map[uint32]*linkQuota),
		egress:  make(map[uint32]*egressLink),
		talkers: make(map[uint32][]uint32),
	}
	t.names[self] = Bound(name, MaxName)
	return t
}

// Limits returns the table's quotas, defaults filled in.
func (t *Table) Limits() Limits { return t.lim }

// ParentUp records that the link to the parent (context id) is up.
func (t *Table) ParentUp(id uint32) {
	t.hasParent = true
	t.names[id] = "parent"
}

// ParentDown records that the parent link is gone.
func (t *Table) ParentDown() { t.hasParent = false }

// Route returns the link that leads to context id: a child link for a
// descendant, the parent link otherwise (the default route). It returns
// false for this context itself, for dead contexts and, without a parent
// link, for unknown contexts.
func (t *Table) Route(id uint32) (Link, bool) {
	if id == t.self {
		return Link{}, false
	}
	if c, ok := t.routes[id]; ok {
		return Child(c), true
	}
	if _, ok := t.dead[id]; ok {
		return Link{}, false
	}
	if !t.hasParent {
		return Link{}, false
	}
	return Parent, true
}

// ArrivedOn is the reverse-path check: a frame claiming to come from
// context id must arrive on the link that leads to id.
func (t *Table) ArrivedOn(l Link, id uint32) bool {
	r, ok := t.Route(id)
	return ok && r == l
}

// Below reports whether id lives behind one of this context's child links.
func (t *Table) Below(id uint32) bool {
	_, ok := t.routes[id]
	return ok
}

// IsAncestor reports whether id is one of this context's ancestors.
func (t *Table) IsAncestor(id uint32) bool {
	for _, p := range t.parents {
		if p == id {
			return true
		}
	}
	return false
}

// Name returns the name of a known or dead context ("" when unknown).
func (t *Table) Name(id uint32) string {
	if n, ok := t.names[id]; ok {
		return n
	}
	return t.dead[id].Name
}

// Dead returns what is known of a dead context.
func (t *Table) Dead(id uint32) (Dead, bool) {
	d, ok := t.dead[id]
	return d, ok
}

// Descendants returns the contexts routed through child links, with their
// names.
func (t *Table) Descendants() map[uint32]string {
	out := make(map[uint32]string, len(t.routes))
	for id := range t.routes {
		out[id] = t.names[id]
	}
	return out
}

// AddChild records a new direct child id, reached through its own link.
func (t *Table) AddChild(id uint32, name string) {
	t.routes[id] = id
	t.names[id] = Bound(name, MaxName)
}

// Grant records that the IDs [first, first+count) were handed to the
// subtree behind the link to child via.
func (t *Table) Grant(first, count, via uint32) {
	t.grants = append(t.grants, grant{first: first, end: first + count, via: via})
}

// grantedVia reports whether id was granted through the link to child via.
func (t *Table) grantedVia(id, via uint32) bool {
	for _, g := range t.grants {
		if id >= g.first && id < g.end {
			return g.via == via
		}
	}
	return false
}

// AddRoutes handles an ADD_ROUTE that arrived on the link to child via: it
// learns each of ids (names[i] is its name, if given) that was granted
// through that link, is not routed elsewhere and is not dead, and returns
// the accepted IDs with their names (to pass on to the parent) and the
// refused ones (not granted through via, or routed elsewhere).
func (t *Table) AddRoutes(via uint32, ids []uint32, names []string) (accepted []uint32, accNames []string, refused []uint32) {
	for i, id := range ids {
		if old, ok := t.routes[id]; (ok && old != via) || !t.grantedVia(id, via) {
			refused = append(refused, id)
			continue
		}
		if _, ok := t.dead[id]; ok {
			continue
		}
		t.routes[id] = via
		name := ""
		if i < len(names) {
			name = Bound(names[i], MaxName)
			t.names[id] = name
		}
		accepted = append(accepted, id)
		accNames = append(accNames, name)
	}
	return accepted, accNames, refused
}

// RoutedVia returns those of ids whose route is l: only the link a context
// lives behind may declare it dead (DEL_ROUTE).
func (t *Table) RoutedVia(l Link, ids []uint32) []uint32 {
	var out []uint32
	for _, id := range ids {
		if t.ArrivedOn(l, id) {
			out = append(out, id)
		}
	}
	return out
}

// ChildDown forgets the blocks granted through the link to child via (the
// IDs are not handed out again: IDs are never reused), the usage charged
// to it and its egress records, and returns the contexts that lived behind it (still routed until
// [Table.MarkDead]).
func (t *Table) ChildDown(via uint32) []uint32 {
	var ids []uint32
	for id, c := range t.routes {
		if c == via {
			ids = append(ids, id)
		}
	}
	kept := t.grants[:0]
	for _, g := range t.grants {
		if g.via != via {
			kept = append(kept, g)
		}
	}
	clear(t.grants[len(kept):])
	t.grants = kept
	delete(t.usage, via)
	t.dropEgress(via)
	return ids
}

// MarkDead records ids as dead and unroutes them; it returns those that
// were not dead already. d.Reason is bounded to [MaxReason] bytes and
// copied once for all of ids; each record takes the context's name. The
// table remembers the last [Limits].DeadRecords deaths.
func (t *Table) MarkDead(ids []uint32, d Dead) (fresh []uint32) {
	d.Reason = Bound(d.Reason, MaxReason)
	for _, id := range ids {
		if _, already := t.dead[id]; already || id == t.self {
			continue
		}
		rec := d
		rec.Name = t.names[id]
		delete(t.names, id)
		delete(t.routes, id)
		t.remember(id, rec)
		fresh = append(fresh, id)
	}
	return fresh
}

// remember adds a dead record, forgetting the oldest when the set is full.
func (t *Table) remember(id uint32, d Dead) {
	t.dead[id] = d
	if len(t.deadOrder) < t.lim.DeadRecords {
		t.deadOrder = append(t.deadOrder, id)
		return
	}
	delete(t.dead, t.deadOrder[t.deadNext])
	t.deadOrder[t.deadNext] = id
	t.deadNext = (t.deadNext + 1) % len(t.deadOrder)
}

// DeadCount returns how many dead contexts the table remembers.
func (t *Table) DeadCount() int { return len(t.dead) }
