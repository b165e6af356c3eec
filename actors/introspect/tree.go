package introspect

import (
	"context"
	"errors"
	"time"

	"github.com/spindle-go/spindle/actors"
)

// DefaultDeadline is how long Tree waits when ctx has no deadline.
const DefaultDeadline = 2 * time.Second

// Bounds of what a context accepts from a child's answer.
const (
	// MaxRows is the most contexts one Tree returns; a query passes the
	// rows left down, and answers beyond them are cut.
	MaxRows = 4096
	// MaxReplyBytes is the largest TREE_REPLY body read; a larger one
	// marks the child StateInvalid without being decoded.
	MaxReplyBytes = 4 << 20
	// MaxString is the longest name, host, user or error kept from a row.
	MaxString = 256
	// MaxLinks is the most link records kept per row.
	MaxLinks = 256
	// MaxServing is the most TREE_QUERY a context serves at once; more
	// are dropped (the asker marks them StateTimeout).
	MaxServing = 8
)

// ErrNotSetUp is returned by Tree for a node whose Config.Setup did not
// call Setup.
var ErrNotSetUp = errors.New("introspect: Setup was not called for this node")

// State is what the asker knows of a context.
type State string

const (
	// StateUp: the context answered.
	StateUp State = "up"
	// StateTimeout: no answer within the deadline (a slow or stopped
	// context, or one without this package).
	StateTimeout State = "timeout"
	// StateUnreachable: the query could not reach the context (link
	// down, no route, congested path).
	StateUnreachable State = "unreachable"
	// StateInvalid: the answer was too large or could not be decoded.
	StateInvalid State = "invalid"
)

// Context is one context of the tree. Rows a context reports about its
// own subtree are its word, checked only against the bounds and the
// routes of its ancestors (see the package documentation).
type Context struct {
	ID, Parent  uint32
	Name        string
	Incarnation string // the context's incarnation UUID
	Host, User  string // where the context runs and as whom, as it reports
	PID         int
	Uptime      time.Duration // since Setup ran in the context
	State       State
	Err         string // why State is not StateUp
	// Dropped counts rows of this context's answer that broke the rules
	// (outside its subtree, duplicate, over the row limit) and were
	// dropped.
	Dropped int
	// Method (how the context was started: "local", "ssh", "docker",
	// "sudo", ...) and Restarts (its supervisor's restarts before it) are
	// what its ancestors recorded with actors.Node.Annotate (spawn
	// records the method, supervision the restarts); where several did,
	// the one nearest the asker wins. A descendant's own word for them
	// counts only where no ancestor recorded a field. Empty and 0 for the
	// asked context itself and where nobody recorded them.
	Method   string
	Restarts int
	// Links are the context's link counters (actors.LinkStats), its
	// parent's link first.
	Links    []actors.LinkStats
	Children []*Context
}

// Walk calls f for c and each context below it, depth first, parents
// before children.
func (c *Context) Walk(f func(*Context)) {
	f(c)
	for _, ch := range c.Children {
		ch.Walk(f)
	}
}

// Tree returns the subtree of n (the whole tree when n is the root), by
// ctx's deadline (DefaultDeadline when it has none). It fails only when n
// was not set up; unreachable or slow parts are rows with their State.
func Tree(ctx context.Context, n *actors.Node) (*Context, error) {
	s := serviceOf(n)
	if s == nil {
		return nil, ErrNotSetUp
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultDeadline)
		defer cancel()
	}
	return build(s.gather(ctx, MaxRows)), nil
}

// build turns pre-ordered rows (parents first) into a tree.
func build(rows []row) *Context {
	if len(rows) == 0 {
		return nil
	}
	byID := make(map[uint32]*Context, len(rows))
	var root *Context
	for i := range rows {
		c := rows[i].context()
		if i == 0 {
			root = c
		} else if p := byID[c.Parent]; p != nil {
			p.Children = append(p.Children, c)
		} else {
			continue
		}
		byID[c.ID] = c
	}
	return root
}
