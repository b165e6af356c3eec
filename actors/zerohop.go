package actors

import (
	"sync/atomic"
	_ "unsafe" // go:linkname

	"github.com/asynkron/protoactor-go/actor"
)

// Zero-hop delivery: a message read from a link for an idle local actor is
// processed on the link's reader goroutine, right after its frame, instead
// of on a new mailbox goroutine (each hand-off wakes a thread, which costs
// more here than the round trip's real work). The link's watchdog bounds
// how long a run may hold the reader (lnk.RunBudget): a Receive that blocks
// or runs long keeps its goroutine and a new one takes over the link, so
// the link's heartbeats, its other actors and its IS_DEAD never wait for it
// (docs/links.md, "Zero-hop delivery").
//
// The mechanism is protoactor's own: a mailbox that becomes busy hands its
// run to its dispatcher's Schedule. hopDispatcher is protoactor's default
// goroutine dispatcher, except that a Schedule made while a link's reader
// posts a message (post, below) gives the run to that reader. Nothing else
// changes: the mailbox still runs one message at a time, in the order
// posted, and a mailbox that is already running just gets the message.

// protoDefaultDispatcher is protoactor's default dispatcher, the one of
// every Props without WithDispatcher. Package actors sets it to
// hopDispatcher when it is initialised (process-wide, like SHARD_COUNT; see
// the package doc). An actor with its own dispatcher keeps it.
//
//go:linkname protoDefaultDispatcher github.com/asynkron/protoactor-go/actor.defaultDispatcher
var protoDefaultDispatcher actor.Dispatcher

// hopThroughput is protoactor's default: a mailbox yields its thread after
// that many messages in one run.
const hopThroughput = 300

func init() { protoDefaultDispatcher = hopDispatcher(hopThroughput) }

// hopDispatcher is the dispatcher of zero-hop delivery (see above).
type hopDispatcher int

var _ actor.Dispatcher = hopDispatcher(0)

// Schedule gives fn to the reader whose post is in progress, if any, and
// starts a goroutine for it otherwise (protoactor's default).
func (hopDispatcher) Schedule(fn func()) {
	if s := armed.Load(); s != nil && s.fn.CompareAndSwap(nil, &fn) {
		return
	}
	go fn()
}

// Throughput implements actor.Dispatcher.
func (d hopDispatcher) Throughput() int { return int(d) }

// armed is the slot of the reader that is posting a message now: at most
// one in the process at a time (a reader that finds it taken posts the
// ordinary way). A Schedule made by another goroutine during that post
// takes the slot just as well; that run then happens on the reader too,
// which is only a matter of where, never of order.
var armed atomic.Pointer[hopSlot]

// hopSlot receives the run a post scheduled. closedSlot marks a slot whose
// post is over.
type hopSlot struct{ fn atomic.Pointer[func()] }

var closedSlot = new(func())

// post delivers msg to the local actor target from l's reader goroutine,
// and leaves the run of its mailbox, when the message made it busy, to
// that reader (lnk.Link.RunAfter). On a link that is streaming (the next
// frame is already read) the run waits on the reader behind the frames
// already buffered (lnk.Link.RunWhenDry): what the reader posts to the same
// actor meanwhile joins the busy mailbox's queue without a hand-off, and
// the run takes it all at once, before the reader next reads.
func (n *Node) post(l *link, target *actor.PID, msg any) {
	streaming := l.Streaming()
	if streaming && target == l.heldFor && l.Holding() {
		// Its mailbox is busy and its run waits on this reader: the message
		// only joins the queue.
		n.sys.Root.Send(target, msg)
		return
	}
	s := &l.hop
	s.fn.Store(nil)
	if armed.CompareAndSwap(nil, s) {
		n.sys.Root.Send(target, msg)
		armed.CompareAndSwap(s, nil)
	} else {
		n.sys.Root.Send(target, msg)
	}
	// A Schedule that saw the slot armed may have filled it until now.
	fn := s.fn.Swap(closedSlot)
	switch {
	case fn == nil || fn == closedSlot:
	case streaming:
		if l.RunWhenDry(*fn) { // false: another run waits, fn got a goroutine
			l.heldFor = target
		}
	default:
		l.RunAfter(*fn)
	}
}
