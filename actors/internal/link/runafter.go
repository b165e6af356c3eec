package link

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// RunBudget is how long work handed to RunAfter may hold a link's reader.
// A run that the watchdog finds still going after RunBudget (it looks
// every WatchEvery, so after at most RunBudget + WatchEvery) keeps the
// goroutine it runs on, and a new reader goroutine takes over the link: a
// Receive that blocks or runs long never stalls the link (heartbeats, other
// actors, IS_DEAD).
const RunBudget = time.Millisecond

// WatchEvery is how often the watchdog of a link looks at its run while
// runs happen. Each look is a timer that fires and wakes a thread, and on
// an idle machine a thread woken every millisecond made both processes of
// an actor ping-pong wake their second vCPU: looking every 1 ms (the
// budget itself) cost 18 µs of its 20 µs median (docs/benchmarks.md, "Hot
// path, request latency"). So the watchdog looks ten times less often than
// the budget; a run that blocks is handed on within RunBudget + WatchEvery.
const WatchEvery = 10 * time.Millisecond

// watchQuiet is how many watchdog looks without a run the watchdog waits
// before it parks until the next run.
const watchQuiet = 16

// detached marks l.run of a run the watchdog took the reader from.
const detached = -1

// RunAfter asks the reader goroutine to run fn once the frame being handled
// is done, before it reads the next frame, under the watchdog (RunBudget).
// Only HandleFrame may call it; fn must not touch what belongs to the
// reader goroutine (it may run on a goroutine that is no longer the
// reader). A second call for the same frame runs fn on a new goroutine;
// a call while a run given to RunWhenDry waits runs that one, then fn.
// This is the zero-hop delivery of package actors: an idle actor's mailbox
// runs where its message was read, with no goroutine hand-off.
func (l *Link) RunAfter(fn func()) {
	switch {
	case l.after == nil:
		l.after = fn
	case l.hold && l.then == nil:
		l.hold, l.then = false, fn
	default:
		go fn()
	}
}

// MaxHeld is how many frames a run given to RunWhenDry waits behind at
// most before it runs.
const MaxHeld = 128

// RunWhenDry is RunAfter for a link that is streaming: fn runs on the
// reader, under the same watchdog, once the frames already wholly in the
// read buffer behind this one are handled (before any read that could wait
// for the peer), or after MaxHeld of them, whichever is first. A mailbox
// whose run is held this way stays busy meanwhile, so what the reader posts
// to it in between only joins its queue (no hand-off, no lock the run
// holds), and the run then takes them all in one go. Only HandleFrame may
// call it; a second call while a run waits runs fn on a new goroutine, as
// RunAfter does, and reports false.
func (l *Link) RunWhenDry(fn func()) bool {
	if l.after != nil {
		go fn()
		return false
	}
	l.after, l.hold, l.held = fn, true, 0
	return true
}

// Holding reports whether a run given to RunWhenDry still waits. Only
// HandleFrame may call it.
func (l *Link) Holding() bool { return l.hold }

// YieldAfter asks the reader goroutine to give its thread away once the
// frame being handled is done, when nothing more of the stream has arrived:
// the goroutine the frame readied (a requester waiting for its answer, in
// the runtime's next slot) then runs at once on this thread, instead of
// after the reader's next read and park, and the reader goes on from the
// run queue. Only HandleFrame may call it.
func (l *Link) YieldAfter() { l.yield = true }

// YieldKeep is YieldAfter for an answer after which the reader keeps the
// read side (no baton goes out): the answer came in pieces, which the
// reader's chunk placement reads best, and the next answer likely will.
func (l *Link) YieldKeep() { l.yield, l.keep = true, true }

// yieldIfAsked does what YieldAfter asked for the frame just handled. When
// nothing more is buffered it gives the read side to the requester it
// answered when no other request waits on the link (the baton, baton.go;
// it reports true, and the reader must awaitBaton), or else its thread.
func (l *Link) yieldIfAsked() bool {
	if !l.yield {
		return false
	}
	keep := l.keep
	l.yield, l.keep = false, false
	if l.r.Buffered() != 0 {
		return false
	}
	if !keep && l.handOut() {
		return true
	}
	runtime.Gosched()
	return false
}

// Streaming reports whether more of the stream has arrived behind the frame
// being handled: the link is streaming rather than in request/response
// mode, and work handed to another goroutine overlaps with reading. Only
// HandleFrame may call it.
func (l *Link) Streaming() bool { return l.r.Buffered() > 0 }

// runAfter runs the function RunAfter left for the frame just handled, if
// any. It reports false when the watchdog gave the reader to a new
// goroutine meanwhile: this goroutine is no longer the reader and must not
// touch the link's read side again.
func (l *Link) runAfter() bool {
	fn := l.after
	if fn == nil {
		return true
	}
	if l.hold {
		if l.held < MaxHeld && l.r.NextBuffered() {
			l.held++
			return true
		}
		l.hold = false
	}
	then := l.then
	l.after, l.then = nil, nil
	start := int64(time.Since(l.epoch)) + 1 // never 0 or detached
	l.run.Store(start)
	if !l.watchOn.Load() && l.watchOn.CompareAndSwap(false, true) {
		l.kickWatch()
	}
	fn()
	if then != nil {
		then()
	}
	return l.run.CompareAndSwap(start, 0)
}

// handOffRun gives the run RunAfter or RunWhenDry left, if any, a
// goroutine of its own: the reader is ending.
func (l *Link) handOffRun() {
	if fn, then := l.after, l.then; fn != nil {
		l.after, l.then, l.hold = nil, nil, false
		go func() {
			fn()
			if then != nil {
				then()
			}
		}()
	}
}

// kickWatch wakes the watchdog, starting it on first use.
func (l *Link) kickWatch() {
	l.watchOnce.Do(func() {
		l.watchKick = make(chan struct{}, 1)
		l.wg.Add(1) // the reader holds a count, so Wait cannot be returning
		go l.watchLoop()
	})
	select {
	case l.watchKick <- struct{}{}:
	default:
	}
}

// watchLoop is the watchdog of runs: while runs happen it looks every
// WatchEvery, and gives the link a new reader goroutine when a run has held
// the reader for RunBudget or more. After watchQuiet looks without a run it
// parks until runAfter kicks it.
func (l *Link) watchLoop() {
	defer l.wg.Done()
	t := time.NewTimer(WatchEvery)
	t.Stop()
	for {
		select {
		case <-l.quit:
			l.watchClosing(t)
			return
		case <-l.watchKick:
		}
		for quiet := 0; quiet < watchQuiet; {
			t.Reset(WatchEvery)
			select {
			case <-l.quit:
				t.Stop()
				l.watchClosing(t)
				return
			case <-t.C:
			}
			v := l.run.Load()
			if v <= 0 {
				quiet++
				continue
			}
			quiet = 0
			if int64(time.Since(l.epoch))+1-v >= int64(RunBudget) && l.run.CompareAndSwap(v, detached) {
				l.detachCount.Add(1)
				go l.readLoop() // the new reader: the count of l.wg passes to it
			}
		}
		// Park, unless a run began meanwhile (runAfter stores l.run before
		// it looks at watchOn; this side clears watchOn before it looks at
		// l.run, so one of them sees the other).
		l.watchOn.Store(false)
		if l.run.Load() > 0 && l.watchOn.CompareAndSwap(false, true) {
			l.kickSelf()
		}
	}
}

// watchClosing is the watchdog of a link that is being closed: until the
// reader has reported the link down (l.done), any run gives the link a new
// reader at once, so that a run that blocks cannot keep the reader from
// seeing the end of the stream (LinkDown, and Close, wait for that).
func (l *Link) watchClosing(t *time.Timer) {
	for {
		if v := l.run.Load(); v > 0 && l.run.CompareAndSwap(v, detached) {
			l.detachCount.Add(1)
			go l.readLoop()
		}
		t.Reset(RunBudget)
		select {
		case <-l.done:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// kickSelf makes the next select of watchLoop go on at once.
func (l *Link) kickSelf() {
	select {
	case l.watchKick <- struct{}{}:
	default:
	}
}

// Detached returns how many times the watchdog gave the link a new reader
// because a run held the old one too long (for tests and metrics).
func (l *Link) Detached() int64 { return l.detachCount.Load() }

// runState is the reader's side of RunAfter, kept in Link.
type runState struct {
	after       func()       // owned by the reader goroutine
	yield       bool         // owned by the reader goroutine, see YieldAfter
	keep        bool         // owned by the reader goroutine, see YieldKeep
	hold        bool         // owned by the reader goroutine: after waits (RunWhenDry)
	held        int          // owned by the reader goroutine: frames handled since RunWhenDry
	then        func()       // owned by the reader goroutine: RunAfter's, behind a held run
	run         atomic.Int64 // 1 + start of the run in progress (ns since epoch), 0, or detached
	watchOn     atomic.Bool  // the watchdog is looking (false: parked or not started)
	watchOnce   sync.Once
	watchKick   chan struct{}
	detachCount atomic.Int64
}
