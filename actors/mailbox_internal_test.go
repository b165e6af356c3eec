package actors

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// recordInvoker is the actor side of a mailbox under test: it records what
// the mailbox hands it, checks that two calls never overlap, and panics on
// a user message "boom".
type recordInvoker struct {
	inside   atomic.Int32
	overlaps atomic.Int32
	mu       sync.Mutex
	got      []any
	failed   chan any
}

func (r *recordInvoker) enter() {
	if r.inside.Add(1) > 1 {
		r.overlaps.Add(1)
	}
}

func (r *recordInvoker) InvokeSystemMessage(msg any) {
	r.enter()
	defer r.inside.Add(-1)
	r.mu.Lock()
	r.got = append(r.got, msg)
	r.mu.Unlock()
}

func (r *recordInvoker) InvokeUserMessage(msg any) {
	r.enter()
	defer r.inside.Add(-1)
	if msg == "boom" {
		panic("boom")
	}
	r.mu.Lock()
	r.got = append(r.got, msg)
	r.mu.Unlock()
}

func (r *recordInvoker) EscalateFailure(reason, msg any) { r.failed <- msg }

func (r *recordInvoker) seen() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]any(nil), r.got...)
}

type sysMark string

func newTestMailbox(throughput int) (*mailbox, *recordInvoker) {
	inv := &recordInvoker{failed: make(chan any, 4)}
	m := newMailbox().(*mailbox)
	m.RegisterHandlers(inv, actor.NewDefaultDispatcher(throughput))
	m.Start()
	return m, inv
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestMailbox_OneAtATimeInOrderPerSender: four goroutines post at once; the
// mailbox hands every message over once, one call at a time, each sender's
// in the order posted, and counts none left.
func TestMailbox_OneAtATimeInOrderPerSender(t *testing.T) {
	m, inv := newTestMailbox(7)
	const senders, each = 4, 5000
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m.PostUserMessage([2]int{s, i})
			}
		}()
	}
	wg.Wait()
	waitUntil(t, "every message", func() bool { return len(inv.seen()) == senders*each })
	next := make([]int, senders)
	for _, g := range inv.seen() {
		p := g.([2]int)
		if p[1] != next[p[0]] {
			t.Fatalf("sender %d: message %d came when %d was due", p[0], p[1], next[p[0]])
		}
		next[p[0]]++
	}
	if n := inv.overlaps.Load(); n != 0 {
		t.Fatalf("%d calls overlapped another", n)
	}
	waitUntil(t, "the count to reach 0", func() bool { return m.UserMessageCount() == 0 })
}

// TestMailbox_SystemFirstAndSuspension: while suspended the mailbox hands
// over system messages only; after the resume the user messages follow in
// order, and a system message posted behind user messages jumps them.
func TestMailbox_SystemFirstAndSuspension(t *testing.T) {
	m, inv := newTestMailbox(300)
	m.PostSystemMessage(&actor.SuspendMailbox{})
	for i := range 3 {
		m.PostUserMessage(fmt.Sprint("u", i))
	}
	m.PostSystemMessage(sysMark("s0"))
	waitUntil(t, "the system message", func() bool { return len(inv.seen()) >= 1 })
	m.PostSystemMessage(sysMark("s1"))
	waitUntil(t, "the second system message", func() bool { return len(inv.seen()) >= 2 })
	if got := fmt.Sprint(inv.seen()); got != "[s0 s1]" {
		t.Fatalf("while suspended the mailbox handed over %s, want [s0 s1]", got)
	}
	m.PostSystemMessage(&actor.ResumeMailbox{})
	waitUntil(t, "the user messages", func() bool { return len(inv.seen()) == 5 })
	if got := fmt.Sprint(inv.seen()); got != "[s0 s1 u0 u1 u2]" {
		t.Fatalf("handed over %s, want [s0 s1 u0 u1 u2]", got)
	}
}

// TestMailbox_PanicEscalatesAndKeepsTheRest: a user message whose handling
// panics goes to EscalateFailure, and the messages behind it are handed
// over after it, in order (the run that panicked had taken them already).
func TestMailbox_PanicEscalatesAndKeepsTheRest(t *testing.T) {
	m, inv := newTestMailbox(300)
	m.PostSystemMessage(&actor.SuspendMailbox{}) // so that all three are taken in one run
	m.PostUserMessage("a")
	m.PostUserMessage("boom")
	m.PostUserMessage("b")
	m.PostSystemMessage(&actor.ResumeMailbox{})
	select {
	case msg := <-inv.failed:
		if msg != "boom" {
			t.Fatalf("escalated with %v, want boom", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the panic was not escalated")
	}
	waitUntil(t, "the message after the panic", func() bool { return len(inv.seen()) == 2 })
	if got := fmt.Sprint(inv.seen()); got != "[a b]" {
		t.Fatalf("handed over %s, want [a b]", got)
	}
}

// batch is an actor.MessageBatch.
type batch []any

func (b batch) GetMessages() []any { return b }

// TestMailbox_BatchPostsItsMessages: a MessageBatch is handed over as its
// messages, then itself (protoactor's contract).
func TestMailbox_BatchPostsItsMessages(t *testing.T) {
	m, inv := newTestMailbox(300)
	b := batch{"x", "y"}
	m.PostUserMessage(b)
	waitUntil(t, "the batch", func() bool { return len(inv.seen()) == 3 })
	if got := fmt.Sprint(inv.seen()); got != "[x y [x y]]" {
		t.Fatalf("handed over %s, want [x y [x y]]", got)
	}
}
