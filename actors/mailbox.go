package actors

import (
	"runtime"
	"sync"
	"sync/atomic"
	_ "unsafe" // go:linkname

	"github.com/asynkron/protoactor-go/actor"
)

// The default mailbox. protoactor's (actor.Unbounded) locks a ring once to
// push each message and once to pop it. Since a streaming link's reader
// holds the run of the mailbox it posts to (zerohop.go), posting and running
// happen on one goroutine, and those locks, with the ring's bookkeeping,
// were two fifths of a receiving context's CPU per one-way message. This
// mailbox keeps the same contract with one lock per message posted and one
// per run of messages taken: system messages before user messages,
// suspension, the dispatcher's throughput (the run yields its thread after
// that many messages), a panic escalated to the actor's supervisor with the
// message that caused it, and a MessageBatch posted as its messages and then
// itself. An actor with a mailbox of its own (actor.WithMailbox) keeps it.

//go:linkname protoDefaultMailboxProducer github.com/asynkron/protoactor-go/actor.defaultMailboxProducer
var protoDefaultMailboxProducer actor.MailboxProducer

func init() { protoDefaultMailboxProducer = newMailbox }

// Mailbox states.
const (
	mailboxIdle int32 = iota
	mailboxRunning
)

// mailbox is the default mailbox of package actors (see above). It is safe
// for concurrent posts; one run at a time takes its messages.
type mailbox struct {
	mu   sync.Mutex
	user []any // posted and not yet taken by a run
	sys  []any

	users, systems atomic.Int32 // messages posted and not yet processed
	state          atomic.Int32 // mailboxIdle or mailboxRunning
	suspended      atomic.Bool

	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
	process    func() // m.processMessages, made once

	// Owned by the run in progress: the user messages it took, from next.
	taken []any
	next  int
}

func newMailbox() actor.Mailbox {
	m := &mailbox{}
	m.process = m.processMessages
	return m
}

// PostUserMessage implements actor.Mailbox.
func (m *mailbox) PostUserMessage(msg any) {
	if b, ok := msg.(actor.MessageBatch); ok {
		m.postBatch(b)
	} else if env, ok := msg.(*actor.MessageEnvelope); ok {
		if b, ok := env.Message.(actor.MessageBatch); ok {
			m.postBatch(b)
		}
	}
	m.mu.Lock()
	m.user = append(m.user, msg)
	m.mu.Unlock()
	m.users.Add(1)
	m.schedule()
}

// postBatch posts the messages of a batch, each on its own (protoactor's
// contract: the batch itself is posted after them).
func (m *mailbox) postBatch(b actor.MessageBatch) {
	for _, msg := range b.GetMessages() {
		m.PostUserMessage(msg)
	}
}

// PostSystemMessage implements actor.Mailbox.
func (m *mailbox) PostSystemMessage(msg any) {
	m.mu.Lock()
	m.sys = append(m.sys, msg)
	m.mu.Unlock()
	m.systems.Add(1)
	m.schedule()
}

// RegisterHandlers implements actor.Mailbox.
func (m *mailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker, m.dispatcher = invoker, dispatcher
}

// Start implements actor.Mailbox.
func (m *mailbox) Start() {}

// UserMessageCount implements actor.Mailbox.
func (m *mailbox) UserMessageCount() int { return int(m.users.Load()) }

// schedule hands a run to the dispatcher unless one is scheduled already.
func (m *mailbox) schedule() {
	if m.state.CompareAndSwap(mailboxIdle, mailboxRunning) {
		m.dispatcher.Schedule(m.process)
	}
}

// processMessages is a run: it processes messages until none is left, and
// goes on when one was posted after it looked last.
func (m *mailbox) processMessages() {
	for {
		m.run()
		m.state.Store(mailboxIdle)
		if m.systems.Load() == 0 && (m.suspended.Load() || m.users.Load() == 0) {
			return
		}
		if !m.state.CompareAndSwap(mailboxIdle, mailboxRunning) {
			return // a post scheduled another run
		}
	}
}

// keepTaken is the largest list of taken messages a drained mailbox keeps.
const keepTaken = 1024

// run processes system messages, then user messages, one at a time, until
// none is left or the mailbox is suspended. A panic in the actor ends the
// run and goes to the invoker with the message that caused it; the messages
// taken after it stay for the next run.
func (m *mailbox) run() {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	throughput, done := m.dispatcher.Throughput(), 0
	for {
		if done++; done > throughput {
			done = 0
			runtime.Gosched()
		}
		if m.systems.Load() > 0 {
			if msg = m.popSystem(); msg != nil {
				m.systems.Add(-1)
				switch msg.(type) {
				case *actor.SuspendMailbox:
					m.suspended.Store(true)
				case *actor.ResumeMailbox:
					m.suspended.Store(false)
				default:
					m.invoker.InvokeSystemMessage(msg)
				}
				continue
			}
		}
		if m.suspended.Load() {
			return
		}
		if m.next == len(m.taken) && !m.take() {
			return
		}
		msg = m.taken[m.next]
		m.taken[m.next] = nil
		m.next++
		m.users.Add(-1)
		m.invoker.InvokeUserMessage(msg)
	}
}

// popSystem returns the oldest system message, or nil.
func (m *mailbox) popSystem() any {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sys) == 0 {
		return nil
	}
	msg := m.sys[0]
	m.sys[0] = nil
	m.sys = m.sys[1:]
	if len(m.sys) == 0 {
		m.sys = nil
	}
	return msg
}

// take moves every posted user message to the run's list, in one lock, and
// reports whether there was any.
func (m *mailbox) take() bool {
	spare := m.taken[:0]
	if cap(spare) > keepTaken {
		spare = nil
	}
	m.mu.Lock()
	m.taken, m.user = m.user, spare
	m.mu.Unlock()
	m.next = 0
	return len(m.taken) > 0
}
