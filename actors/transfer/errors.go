package transfer

import (
	"errors"
	"fmt"
)

// Code says why a stream was reset. It travels in STREAM_RESET frames;
// codes are never renumbered, and a code this version does not know is
// kept as it is.
type Code uint16

// Reset codes.
const (
	CodeCancel      Code = 1 // the other side cancelled or closed the stream early
	CodeRefused     Code = 2 // the opener may not open this stream (policy)
	CodeNoHandler   Code = 3 // no handler of that name
	CodeLimit       Code = 4 // too many streams open
	CodeFlowControl Code = 5 // data beyond the granted window, or at the wrong offset
	CodeShutdown    Code = 6 // the context is shutting down
	CodeHandler     Code = 7 // the handler returned an error (the message says which)
	CodeProtocol    Code = 8 // a malformed or unexpected frame
)

var codeNames = map[Code]string{
	CodeCancel: "cancel", CodeRefused: "refused", CodeNoHandler: "no handler", CodeLimit: "limit",
	CodeFlowControl: "flow control", CodeShutdown: "shutdown", CodeHandler: "handler error",
	CodeProtocol: "protocol",
}

func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("code %d", uint16(c))
}

// Sentinels a *StreamError matches under errors.Is, by its code.
var (
	// ErrCanceled: the other side cancelled the stream or closed it before
	// reading everything.
	ErrCanceled = errors.New("transfer: stream canceled")
	// ErrRefused: the receiving context's policy does not let this context
	// open that stream (by default only ancestors may).
	ErrRefused = errors.New("transfer: stream refused by policy")
	// ErrNoHandler: no stream handler of that name in the receiving context.
	ErrNoHandler = errors.New("transfer: no stream handler")
	// ErrLimit: the receiving context has too many streams open.
	ErrLimit = errors.New("transfer: too many streams")
	// ErrFlowControl: a peer sent data beyond its window or at a wrong offset.
	ErrFlowControl = errors.New("transfer: stream flow control violated")
	// ErrShutdown: a context of the stream is shutting down.
	ErrShutdown = errors.New("transfer: context shutting down")
	// ErrHandler: the stream's handler failed; the message says how.
	ErrHandler = errors.New("transfer: stream handler failed")
	// ErrProtocol: a malformed or unexpected stream frame.
	ErrProtocol = errors.New("transfer: stream protocol error")
	// ErrClosed: a Write after CloseWrite or Close, or a Read after Close.
	ErrClosed = errors.New("transfer: stream closed")
)

var codeErrs = map[Code]error{
	CodeCancel: ErrCanceled, CodeRefused: ErrRefused, CodeNoHandler: ErrNoHandler, CodeLimit: ErrLimit,
	CodeFlowControl: ErrFlowControl, CodeShutdown: ErrShutdown, CodeHandler: ErrHandler, CodeProtocol: ErrProtocol,
}

// StreamError is the error of a stream that was reset, by this side
// (Remote false) or by the other (Remote true). It matches the sentinel of
// its code under errors.Is (ErrRefused, ErrNoHandler, ...).
type StreamError struct {
	Code   Code
	Msg    string // the reason, as the side that reset wrote it
	Remote bool   // the other side reset the stream
	Peer   uint32 // the context at the other end
}

func (e *StreamError) Error() string {
	who := "reset by this side"
	if e.Remote {
		who = fmt.Sprintf("reset by context %d", e.Peer)
	}
	if e.Msg == "" {
		return fmt.Sprintf("transfer: stream %s (%s)", who, e.Code)
	}
	return fmt.Sprintf("transfer: stream %s (%s): %s", who, e.Code, e.Msg)
}

// Is matches the sentinel of e's code.
func (e *StreamError) Is(target error) bool {
	s, ok := codeErrs[e.Code]
	return ok && s == target
}

// codeOf is the reset code that reports err to the other side.
func codeOf(err error) Code {
	var se *StreamError
	switch {
	case errors.As(err, &se):
		return se.Code
	case errors.Is(err, ErrShutdown):
		return CodeShutdown
	case errors.Is(err, ErrClosed), errors.Is(err, errCanceledLocally):
		return CodeCancel
	}
	return CodeHandler
}

// errCanceledLocally marks a stream this side closed or whose ctx ended.
var errCanceledLocally = errors.New("transfer: stream canceled by this side")
