package introspect

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// service is the package's state in one context.
type service struct {
	n          *actors.Node
	start      time.Time
	host, user string
	pid        int

	seq     atomic.Uint64
	serving atomic.Int32
	mu      sync.Mutex
	pending map[uint64]*asked
	sub     *eventstream.Subscription
	wg      sync.WaitGroup  // serve goroutines
	ctx     context.Context // canceled at the node's shutdown
	cancel  context.CancelFunc
}

// asked is a TREE_QUERY in flight to a child.
type asked struct {
	child uint32
	done  chan answer // buffered 1: the first answer wins
}

// answer is what came back: a reply body (copied) or why none will.
type answer struct {
	body  []byte
	err   error
	state State // with err: StateUnreachable when zero
}

var services sync.Map // *actors.Node -> *service

func serviceOf(n *actors.Node) *service {
	s, _ := services.Load(n)
	sv, _ := s.(*service)
	return sv
}

// senderPrefix is the reply ID of a query, as dead replies name it.
const senderPrefix = "spindle.introspect/"

// Setup registers the package's kinds in n: call it in Config.Setup of
// every context (alone, or from the Setup function that also registers
// the application's types and kinds).
func Setup(n *actors.Node) error {
	s := &service{n: n, start: time.Now(), pid: os.Getpid(), pending: map[uint64]*asked{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.host, _ = os.Hostname()
	if u, err := user.Current(); err == nil {
		s.user = u.Username
	} else {
		s.user = strconv.Itoa(os.Getuid())
	}
	replyTo := func(body []byte) (string, bool) {
		var q query
		if len(body) > 64 || msgpack.Unmarshal(body, &q) != nil {
			return "", false
		}
		return senderPrefix + strconv.FormatUint(q.ID, 10), true
	}
	if err := n.HandleKindReplies(wire.KindTreeQuery, s.onQuery, replyTo); err != nil {
		return fmt.Errorf("introspect: %w", err)
	}
	if err := n.HandleKind(wire.KindTreeReply, s.onReply); err != nil {
		return fmt.Errorf("introspect: %w", err)
	}
	s.sub = n.System().EventStream.Subscribe(s.onEvent)
	services.Store(n, s)
	n.OnShutdown(func(context.Context) error {
		s.cancel()
		s.wg.Wait()
		n.System().EventStream.Unsubscribe(s.sub)
		services.Delete(n)
		return nil
	})
	return nil
}

// onQuery serves a TREE_QUERY from an ancestor, on a goroutine of its own
// (it waits for the children); others are dropped.
func (s *service) onQuery(f wire.Frame) error {
	src := f.Header().Src()
	var q query
	if !slices.Contains(s.n.Parents(), src) || len(f.Body()) > 64 || msgpack.Unmarshal(f.Body(), &q) != nil {
		return nil
	}
	if s.serving.Add(1) > MaxServing {
		s.serving.Add(-1)
		return nil
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.serving.Add(-1)
		budget := time.Duration(min(q.BudgetMS, 60_000)) * time.Millisecond
		ctx, cancel := context.WithTimeout(s.ctx, budget)
		defer cancel()
		rows := s.gather(ctx, int(min(q.MaxRows, MaxRows)))
		// Sent even when ctx has expired: the asker's deadline is later.
		_ = s.n.SendKindContext(s.ctx, wire.KindTreeReply, src, encode(reply{ID: q.ID, Rows: rows}))
	}()
	return nil
}

// onReply hands a TREE_REPLY from the child it was asked of to the waiting
// gatherer; others are dropped.
func (s *service) onReply(f wire.Frame) error {
	body := f.Body()
	id, ok := replyID(body)
	if !ok {
		return nil
	}
	s.mu.Lock()
	a := s.pending[id]
	s.mu.Unlock()
	if a == nil || a.child != f.Header().Src() {
		return nil
	}
	if len(body) > MaxReplyBytes {
		offerAnswer(a, answer{state: StateInvalid,
			err: fmt.Errorf("answer of %d bytes is over the limit of %d", len(body), MaxReplyBytes)})
		return nil
	}
	offerAnswer(a, answer{body: append([]byte(nil), body...)})
	return nil
}

// replyID reads the ID of a reply without decoding its rows.
func replyID(body []byte) (uint64, bool) {
	d := msgpack.NewDecoder(bytes.NewReader(body[:min(len(body), 32)]))
	n, err := d.DecodeMapLen()
	if err != nil || n < 1 {
		return 0, false
	}
	if k, err := d.DecodeString(); err != nil || k != "i" {
		return 0, false
	}
	id, err := d.DecodeUint64()
	return id, err == nil
}

func offerAnswer(a *asked, ans answer) {
	select {
	case a.done <- ans:
	default:
	}
}

// onEvent fails a query whose frame could not be delivered.
func (s *service) onEvent(evt any) {
	u, ok := evt.(*actors.Undeliverable)
	if !ok || u.Sender == nil || u.Sender.Address != s.n.Address() {
		return
	}
	rest, ok := strings.CutPrefix(u.Sender.Id, senderPrefix)
	if !ok {
		return
	}
	id, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return
	}
	s.mu.Lock()
	a := s.pending[id]
	s.mu.Unlock()
	if a != nil {
		offerAnswer(a, answer{err: u.Err})
	}
}

// self is this context's own row.
func (s *service) self() row {
	r := row{ID: s.n.ID(), Name: s.n.Name(), Inc: s.n.Incarnation().String(), Host: s.host, User: s.user,
		PID: s.pid, UptimeMS: time.Since(s.start).Milliseconds(), State: StateUp}
	if p := s.n.Parents(); len(p) > 0 {
		r.Parent = p[len(p)-1]
	}
	for _, l := range s.n.LinkStats() {
		r.Links = append(r.Links, linkRowOf(l))
	}
	return r
}

// gather returns this context's subtree, at most limit rows, in
// pre-order, by ctx's deadline: it asks every child at once with three
// quarters of the time left, and marks those that have not answered when
// ctx is done.
func (s *service) gather(ctx context.Context, limit int) []row {
	me := s.self()
	rows := []row{me}
	type child struct {
		id   uint32
		name string
		a    *asked
		err  error
	}
	var kids []child
	for _, l := range me.Links {
		if !l.IsParent {
			kids = append(kids, child{id: l.Peer, name: l.Name})
		}
	}
	budget := time.Second
	if dl, ok := ctx.Deadline(); ok {
		budget = time.Until(dl) * 3 / 4
	}
	for i := range kids {
		k := &kids[i]
		k.a = &asked{child: k.id, done: make(chan answer, 1)}
		id := s.seq.Add(1)
		s.mu.Lock()
		s.pending[id] = k.a
		s.mu.Unlock()
		defer func() { s.mu.Lock(); delete(s.pending, id); s.mu.Unlock() }()
		q := query{ID: id, BudgetMS: uint32(max(budget, 0) / time.Millisecond), MaxRows: uint32(max(limit-1, 1))}
		k.err = s.n.SendKindContext(ctx, wire.KindTreeQuery, k.id, encode(q))
	}
	for _, k := range kids {
		left := limit - len(rows)
		stub := row{ID: k.id, Parent: me.ID, Name: k.name}
		if left <= 0 {
			me.Dropped++
			continue
		}
		if k.err != nil {
			stub.State, stub.Err = StateUnreachable, k.err.Error()
			rows = append(rows, sanitize(stub))
			continue
		}
		var ans answer
		select {
		case ans = <-k.a.done: // an answer that is in wins over a deadline that passed
		default:
			select {
			case ans = <-k.a.done:
			case <-ctx.Done():
				stub.State, stub.Err = StateTimeout, "no answer within the deadline"
				rows = append(rows, sanitize(stub))
				continue
			}
		}
		rows = append(rows, s.answerRows(k.id, stub, ans, left)...)
	}
	rows[0].Dropped = me.Dropped
	s.annotate(rows[1:])
	return rows
}

// annotate puts what this context recorded of its descendants
// (actors.Node.Annotate) into their rows, over what they said.
func (s *service) annotate(rows []row) {
	for i := range rows {
		a, ok := s.n.AnnotationOf(rows[i].ID)
		if !ok {
			continue
		}
		if a.Method != "" {
			rows[i].Method = cut(a.Method)
		}
		if a.Restarts > 0 {
			rows[i].Restarts = a.Restarts
		}
	}
}

// answerRows turns child's answer into checked rows.
func (s *service) answerRows(child uint32, stub row, ans answer, limit int) []row {
	if ans.err != nil {
		stub.State, stub.Err = StateUnreachable, ans.err.Error()
		if ans.state != "" {
			stub.State = ans.state
		}
		return []row{sanitize(stub)}
	}
	rep, err := decodeReply(ans.body)
	if err != nil {
		stub.State, stub.Err = StateInvalid, "undecodable answer: "+err.Error()
		return []row{sanitize(stub)}
	}
	behind := func(id uint32) bool {
		c, ok := s.n.ChildVia(id)
		return ok && c == child
	}
	return check(stub, rep.Rows, limit, behind)
}
