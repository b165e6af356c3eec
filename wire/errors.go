package wire

import (
	"errors"
	"fmt"
)

// ErrBadMagic is returned when a frame header does not start with [Magic].
// The stream is not a Spindle link (or has lost framing) and must be closed.
var ErrBadMagic = errors.New("wire: bad magic")

// ErrVersion is the sentinel behind [*VersionError]: the peer speaks another
// protocol version. Test for it with errors.Is; use errors.As to get the
// versions.
var ErrVersion = errors.New("wire: protocol version mismatch")

// ErrFrameTooLarge is returned when a header announces a frame longer than
// the negotiated limit, or when a caller asks to build one. The wrapping
// error names both sizes.
var ErrFrameTooLarge = errors.New("wire: frame too large")

// ErrTruncated is returned by [Header.Check] when it is given fewer than
// [HeaderSize] bytes.
var ErrTruncated = errors.New("wire: truncated")

// ErrMalformed is the sentinel behind every error from the body parsers
// ([ParseKV], [ParseHello], [ParseEnvelope], [ParseDeadReply]) and from
// frame builders given impossible lengths. The wrapping error says which
// field was wrong.
var ErrMalformed = errors.New("wire: malformed frame")

// ErrUnregistered is returned by [Registry.AppendEncode] for a message whose
// Go type was never registered. Nothing is encoded; the wrapping error names
// the Go type.
var ErrUnregistered = errors.New("wire: unregistered message type")

// ErrUnknownType is returned by [Registry.Decode] for a wire type name that
// is not registered in this context. The wrapping error quotes the name.
var ErrUnknownType = errors.New("wire: unknown message type")

// ErrDuplicateType is returned by [Register] when a name is already taken
// by another type, or the type is already registered under another name.
var ErrDuplicateType = errors.New("wire: duplicate type registration")

// ErrBadPayload is returned when a msgpack payload cannot be decoded into
// its registered type (or into the value given to [Unmarshal]).
var ErrBadPayload = errors.New("wire: bad payload")

// VersionError reports a peer speaking another protocol version.
// errors.Is(err, ErrVersion) is true for a *VersionError.
type VersionError struct {
	Local  uint8 // the version this side speaks (always [Version])
	Remote uint8 // the version found in the peer's header
}

// Error implements error.
func (e *VersionError) Error() string {
	return fmt.Sprintf("%v: we speak %d, peer speaks %d", ErrVersion, e.Local, e.Remote)
}

// Unwrap returns [ErrVersion].
func (e *VersionError) Unwrap() error { return ErrVersion }

// malformed builds an error wrapping ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
