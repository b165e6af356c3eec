package link

import "errors"

// ErrClosed is the reason of a link closed by its own side (Close, or
// Shutdown with this cause).
var ErrClosed = errors.New("link closed")

// ProtocolError is the reason a link was closed because the peer sent bytes
// that do not follow the protocol. Package actors exports it as
// actors.ProtocolError.
type ProtocolError struct{ Err error }

func (e *ProtocolError) Error() string { return "protocol error: " + e.Err.Error() }
func (e *ProtocolError) Unwrap() error { return e.Err }

// ErrProtocol is the sentinel behind *ProtocolError (actors.ErrProtocol).
var ErrProtocol = errors.New("actors: protocol error")

// Is makes errors.Is(err, ErrProtocol) work.
func (e *ProtocolError) Is(target error) bool { return target == ErrProtocol }
