package transfer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// The kind handlers below run on a link's reader goroutine: they never
// block (except to queue a frame back on the link it came from) and copy
// what they keep. A malformed or unexpected frame is dropped and logged,
// never a reason to close the link: its source may be behind a relay
// whose other contexts did nothing wrong.

// onOpen accepts or refuses a STREAM_OPEN.
func (t *Transfer) onOpen(f wire.Frame) error {
	src := f.Header().Src()
	o, err := parseOpen(f.Body())
	if err != nil {
		t.dropped("open", f, err)
		return nil
	}
	reply := o.id | fromAcceptor
	t.mu.Lock()
	e, found := t.handlers[o.name]
	closed := t.closed
	t.mu.Unlock()
	switch {
	case closed != nil:
		t.sendReset(src, reply, CodeShutdown, "context shutting down")
		return nil
	case !found:
		t.sendReset(src, reply, CodeNoHandler, fmt.Sprintf("no stream handler %q in context %d", o.name, t.node.ID()))
		return nil
	case !e.allow(src):
		t.sendReset(src, reply, CodeRefused, fmt.Sprintf("context %d may not open %q in context %d", src, o.name, t.node.ID()))
		return nil
	case o.window == 0:
		t.sendReset(src, reply, CodeProtocol, "zero window")
		return nil
	}
	s := t.newStream(streamKey{peer: src, id: o.id}, o.name, min(uint64(o.window), MaxWindow), uint64(t.cfg.Window))
	if err := t.add(s, true); err != nil {
		if se, ok := err.(*StreamError); ok && se.Code == CodeProtocol {
			t.dropped("open", f, err) // a second open of a live ID: the stream goes on
			return nil
		}
		t.sendReset(src, reply, codeOf(err), err.Error())
		return nil
	}
	// Accept: the opener may send a window's worth.
	body := appendCredit(nil, creditFrame{id: reply, add: uint32(t.cfg.Window)})
	if err := t.node.SendKindFlags(wire.KindStreamCredit, 0, src, body); err != nil {
		s.teardown(err)
		t.running.Done() // counted by add
		return nil
	}
	hctx, cancel := context.WithCancelCause(t.base)
	s.setCancel(cancel)
	go t.serve(hctx, s, e.h) // owned: shutdown waits for t.running (counted by add)
	return nil
}

// serve runs a handler and closes or resets its stream after it.
func (t *Transfer) serve(ctx context.Context, s *Stream, h Handler) {
	defer t.running.Done()
	err := safeRun(ctx, s, h)
	if err != nil {
		s.Reset(err)
	} else {
		_ = s.Close()
	}
	s.setCancel(nil)
}

// safeRun runs h; a panic is the handler's error, never the context's end.
func safeRun(ctx context.Context, s *Stream, h Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &StreamError{Code: CodeHandler, Msg: fmt.Sprintf("handler %q panicked: %v", s.name, r)}
		}
	}()
	return h(ctx, s)
}

func (t *Transfer) onData(f wire.Frame) error {
	d, err := parseData(f.Body())
	if err != nil {
		t.dropped("data", f, err)
		return nil
	}
	if s := t.lookup(f.Header().Src(), d.id); s != nil {
		s.onData(d, f.Header().Flags().Has(wire.FlagEnd))
	}
	return nil
}

func (t *Transfer) onCredit(f wire.Frame) error {
	c, err := parseCredit(f.Body())
	if err != nil {
		t.dropped("credit", f, err)
		return nil
	}
	if s := t.lookup(f.Header().Src(), c.id); s != nil {
		s.onCredit(c.add)
	}
	return nil
}

func (t *Transfer) onReset(f wire.Frame) error {
	r, err := parseReset(f.Body())
	if err != nil {
		t.dropped("reset", f, err)
		return nil
	}
	if s := t.lookup(f.Header().Src(), r.id); s != nil {
		s.teardown(&StreamError{Code: r.code, Msg: r.msg, Remote: true, Peer: s.key.peer})
	}
	return nil
}

// replyPrefix starts the reply IDs that name a stream in dead replies.
const replyPrefix = "spindle.stream/"

// replyTo names the stream of a frame that could not be delivered, so that
// the IS_DEAD a hop answers with comes back as an Undeliverable naming it
// (actors.Node.HandleKindReplies): a stream whose frame was lost fails at
// once instead of waiting for data or credit that will never come.
func replyTo(body []byte) (string, bool) {
	if len(body) < idSize {
		return "", false
	}
	return replyPrefix + strconv.FormatUint(binary.BigEndian.Uint64(body), 16), true
}

// undeliverable fails the stream a dead reply names.
func (t *Transfer) undeliverable(u *actors.Undeliverable) {
	var de *actors.DeadError
	if !errors.As(u.Err, &de) {
		return
	}
	if u.Sender == nil && u.PID == nil {
		t.unknownKind(de)
		return
	}
	if u.Sender == nil || u.Sender.Address != t.node.Address() {
		return
	}
	hex, ok := strings.CutPrefix(u.Sender.Id, replyPrefix)
	if !ok {
		return
	}
	wireID, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		return
	}
	// The frame was this side's: its ID has the top bit when this side
	// accepted the stream.
	key := streamKey{peer: de.Context, id: wireID &^ fromAcceptor, mine: wireID&fromAcceptor == 0}
	t.mu.Lock()
	s := t.streams[key]
	t.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	opening := !s.acceptOK
	s.mu.Unlock()
	if nh := noHandlerErr(de); opening && nh != nil {
		s.teardown(nh) // the peer refused STREAM_OPEN as an unknown kind
	} else {
		s.teardown(u.Err)
	}
}

// unknownKind fails the opens to a context that answered a frame with a
// dead reply naming nothing, rejected without a cause: what a context
// without a Transfer answers to STREAM_OPEN ("unknown kind") when its
// dead reply quotes no frame (a node of an earlier version; a quoting one
// names the stream, see undeliverable). Only opens not yet accepted fail,
// so an open can at worst fail early with ErrNoHandler when another
// sender's unnamed frame to that context was rejected meanwhile.
func (t *Transfer) unknownKind(de *actors.DeadError) {
	err := noHandlerErr(de)
	if err == nil {
		return
	}
	for _, s := range t.streamsOf(func(k streamKey) bool { return k.mine && k.peer == de.Context }) {
		s.mu.Lock()
		opening := !s.acceptOK
		s.mu.Unlock()
		if opening {
			s.teardown(err)
		}
	}
}

// noHandlerErr is the error of an open that de answered, when de is what
// a context without a Transfer answers ("unknown kind": rejected without
// a cause); nil otherwise.
func noHandlerErr(de *actors.DeadError) error {
	if de.Code != wire.DeadRejected || de.Cause != wire.CauseUnknown {
		return nil
	}
	return &StreamError{Code: CodeNoHandler, Remote: true, Peer: de.Context,
		Msg: fmt.Sprintf("context %d rejected a frame as unknown (no transfer.New in its setup?): %s", de.Context, de.Reason)}
}

// peerDown fails every stream with context id at once (its death is the
// streams' error: a *actors.DeadError).
func (t *Transfer) peerDown(id uint32, reason *actors.DeadError) {
	var err error = reason
	if reason == nil {
		err = fmt.Errorf("transfer: context %d is down: %w", id, actors.ErrContextDead)
	}
	for _, s := range t.streamsOf(func(k streamKey) bool { return k.peer == id }) {
		s.teardown(err)
	}
}

func (t *Transfer) streamsOf(match func(streamKey) bool) []*Stream {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*Stream
	for k, s := range t.streams {
		if match(k) {
			out = append(out, s)
		}
	}
	return out
}

// watchStop closes t when the node starts to stop, whatever the cause
// (Shutdown, a SHUTDOWN from the parent, the parent link's loss).
func (t *Transfer) watchStop() {
	defer close(t.done)
	<-t.node.Stopping()
	t.close()
}

// close refuses new streams, resets the open ones (CodeShutdown) and
// cancels the handlers' contexts.
func (t *Transfer) close() {
	err := &StreamError{Code: CodeShutdown, Msg: fmt.Sprintf("context %d is shutting down", t.node.ID())}
	t.mu.Lock()
	if t.closed == nil {
		t.closed = err
	}
	t.mu.Unlock()
	t.node.System().EventStream.Unsubscribe(t.sub)
	for _, s := range t.streamsOf(func(streamKey) bool { return true }) {
		s.Reset(err)
	}
	t.stop(ErrShutdown)
}

// shutdown is the node's OnShutdown hook: close, then wait (until ctx) for
// the handlers, so that what they started (a command's processes) is gone
// before the links close.
func (t *Transfer) shutdown(ctx context.Context) error {
	t.close()
	<-t.done
	waited := make(chan struct{})
	go func() { // owned: ends when the handlers have returned
		t.running.Wait()
		close(waited)
	}()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("transfer: handlers still running at shutdown: %w", ctx.Err())
	}
}
