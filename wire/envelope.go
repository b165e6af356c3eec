package wire

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
)

// Envelope flag bits.
const (
	envHasSender = 1 << 0
	envHasFDs    = 1 << 1
)

// Envelope is the body of a [KindUser] frame: an actor message addressed to
// an actor in the destination context.
//
// Layout (str = uvarint length, then bytes; at most [MaxNameLen] bytes):
//
//	flags u8 (bit 0: has sender, bit 1: has descriptors) |
//	[descriptor count u8] | target str |
//	[sender ctx u32 | sender id str] | type str | payload (rest of body)
//
// A frame whose envelope has descriptors has [FlagFDs] set, and its
// descriptors travel with it as SCM_RIGHTS ancillary data.
type Envelope struct {
	FDs       int    // descriptors carried with the frame, 0..MaxFDs
	Target    string // actor ID in the destination context
	HasSender bool
	SenderCtx uint32 // context ID of the sender PID
	SenderID  string // actor ID of the sender PID
	Type      string // registered wire type name (from Registry.AppendEncode)
	Payload   []byte // msgpack payload; aliases the input in ParseEnvelope
}

// Validate reports, as an error wrapping [ErrMalformed], a string in e that
// is longer than [MaxNameLen] bytes and would be cut by
// [AppendEnvelopeHead].
func (e Envelope) Validate() error {
	for _, f := range [...]struct{ name, s string }{
		{"target", e.Target}, {"sender id", e.SenderID}, {"type", e.Type},
	} {
		if len(f.s) > MaxNameLen {
			return malformed("envelope: %s of %d bytes, limit %d", f.name, len(f.s), MaxNameLen)
		}
	}
	return nil
}

// AppendEnvelopeHead appends everything of e except the payload to dst; the
// caller appends the payload bytes right after it (the payload is the rest
// of the body), for instance with [Registry.AppendEncode]. e.Payload is
// ignored. Strings longer than [MaxNameLen] are cut (see
// [Envelope.Validate]), so the output always parses.
func AppendEnvelopeHead(dst []byte, e Envelope) []byte {
	var flags byte
	if e.HasSender {
		flags |= envHasSender
	}
	fds := min(max(e.FDs, 0), MaxFDs)
	if fds > 0 {
		flags |= envHasFDs
	}
	dst = append(dst, flags)
	if fds > 0 {
		dst = append(dst, byte(fds))
	}
	dst = appendString(dst, e.Target)
	if e.HasSender {
		dst = binary.BigEndian.AppendUint32(dst, e.SenderCtx)
		dst = appendString(dst, e.SenderID)
	}
	return appendString(dst, e.Type)
}

// SetEnvelopeFDs records in the envelope head that starts at b[at] (as
// written by [AppendEnvelopeHead] without descriptors) that its frame
// carries n descriptors, for a sender that learns n only from encoding the
// payload. It returns b with the count inserted; n must be 1..MaxFDs.
func SetEnvelopeFDs(b []byte, at, n int) ([]byte, error) {
	if n < 1 || n > MaxFDs {
		return b, fmt.Errorf("%w: %d", ErrTooManyFDs, n)
	}
	if at < 0 || at >= len(b) || b[at]&envHasFDs != 0 {
		return b, malformed("envelope: no envelope without descriptors at offset %d", at)
	}
	b[at] |= envHasFDs
	return slices.Insert(b, at+1, byte(n)), nil
}

// FrameFDs returns how many descriptors frame f says it carries: 0 without
// [FlagFDs]; with it, the count in its [KindUser] envelope. Any other kind
// with FlagFDs, or a flag and envelope that disagree, is an error wrapping
// [ErrMalformed].
func FrameFDs(f Frame) (int, error) {
	h := f.Header()
	flagged := h.Flags()&FlagFDs != 0
	if h.Kind() != KindUser {
		if flagged {
			return 0, malformed("%s frame with descriptors", h.Kind())
		}
		return 0, nil
	}
	body := f.Body()
	hasFDs := len(body) > 0 && body[0]&envHasFDs != 0
	if flagged != hasFDs {
		return 0, malformed("descriptor flag and envelope disagree")
	}
	if !flagged {
		return 0, nil
	}
	if len(body) < 2 || body[1] == 0 || int(body[1]) > MaxFDs {
		return 0, malformed("envelope: bad descriptor count")
	}
	return int(body[1]), nil
}

// ParseEnvelope decodes a [KindUser] body. Strings are copied; Payload
// aliases b. Errors wrap [ErrMalformed]: a truncated field, a string longer
// than [MaxNameLen], or unknown flag bits.
func ParseEnvelope(b []byte) (Envelope, error) {
	v, err := ParseEnvelopeView(b)
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{
		FDs:       v.FDs,
		Target:    string(v.Target),
		HasSender: v.HasSender,
		SenderCtx: v.SenderCtx,
		SenderID:  string(v.SenderID),
		Type:      string(v.Type),
		Payload:   v.Payload,
	}, nil
}

// EnvelopeView is an [Envelope] whose fields alias the parsed body, for
// receivers that look names up without allocating.
type EnvelopeView struct {
	FDs       int
	Target    []byte
	HasSender bool
	SenderCtx uint32
	SenderID  []byte
	Type      []byte
	Payload   []byte
}

// ParseEnvelopeView is [ParseEnvelope] without copies: every field aliases
// b and is valid only as long as b is.
func ParseEnvelopeView(b []byte) (EnvelopeView, error) {
	var e EnvelopeView
	flags, b, ok := parseU8(b)
	if !ok {
		return EnvelopeView{}, malformed("envelope: empty body")
	}
	if flags&^(envHasSender|envHasFDs) != 0 {
		return EnvelopeView{}, malformed("envelope: unknown flags %#x", flags)
	}
	if flags&envHasFDs != 0 {
		var n uint8
		if n, b, ok = parseU8(b); !ok {
			return EnvelopeView{}, malformed("envelope: truncated descriptor count")
		}
		if n == 0 || int(n) > MaxFDs {
			return EnvelopeView{}, malformed("envelope: descriptor count %d, want 1..%d", n, MaxFDs)
		}
		e.FDs = int(n)
	}
	if e.Target, b, ok = parseName(b); !ok {
		return EnvelopeView{}, malformed("envelope: bad target")
	}
	if flags&envHasSender != 0 {
		e.HasSender = true
		if e.SenderCtx, b, ok = parseU32(b); !ok {
			return EnvelopeView{}, malformed("envelope: truncated sender context")
		}
		if e.SenderID, b, ok = parseName(b); !ok {
			return EnvelopeView{}, malformed("envelope: bad sender id")
		}
	}
	if e.Type, b, ok = parseName(b); !ok {
		return EnvelopeView{}, malformed("envelope: bad type name")
	}
	e.Payload = b
	return e, nil
}

// DeadCode classifies a [DeadReply]: why the message was not delivered.
type DeadCode uint8

// Dead reply codes. The zero value is Mitogen's plain IS_DEAD.
const (
	// DeadUnreachable: the target context is dead or unreachable (its link
	// broke, its process exited, no route leads to it).
	DeadUnreachable DeadCode = 0
	// DeadNoActor: the target context is alive but has no such actor.
	DeadNoActor DeadCode = 1
	// DeadRejected: the target context refused the message (unknown kind or
	// type name, undecodable payload, policy).
	DeadRejected DeadCode = 2

	maxDeadCode = DeadRejected
)

// String returns "unreachable", "no actor", "rejected" or "DeadCode(n)".
func (c DeadCode) String() string {
	switch c {
	case DeadUnreachable:
		return "unreachable"
	case DeadNoActor:
		return "no actor"
	case DeadRejected:
		return "rejected"
	}
	return "DeadCode(" + strconv.Itoa(int(c)) + ")"
}

// Cause is the stable code of what made a context die or a message be
// refused, carried beside the reason text in a [DeadReply] and in DEL_ROUTE
// so that a receiver can still tell a heartbeat timeout from an exit.
// Codes are never renumbered; a receiver keeps a code it does not know
// (a newer peer's) and treats it as [CauseUnknown].
type Cause uint8

// Cause codes.
const (
	CauseUnknown    Cause = 0  // not said (every dead reply of older code)
	CauseClosed     Cause = 1  // the link closed: EOF, or closed by its own side
	CauseExit       Cause = 2  // the context's process exited; Detail is its exit status
	CauseHeartbeat  Cause = 3  // the peer sent nothing for the heartbeat timeout
	CauseProtocol   Cause = 4  // the peer broke the protocol
	CauseStalled    Cause = 5  // the link's writer made no progress
	CauseNoRoute    Cause = 6  // no route leads to the context
	CausePolicy     Cause = 7  // refused by policy: authority, unidirectional mode
	CauseQuota      Cause = 8  // a quota or size limit was exceeded
	CauseShutdown   Cause = 9  // the context (or a hop) shut down
	CauseWatchLimit Cause = 10 // too many remote watches from one context
	CauseCongested  Cause = 11 // the next hop's queue is full
	maxKnownCause         = CauseCongested
)

var causeNames = [...]string{"unknown", "closed", "exit", "heartbeat", "protocol", "stalled", "no route",
	"policy", "quota", "shutdown", "watch limit", "congested"}

// String returns the cause's name ("heartbeat") or "Cause(n)".
func (c Cause) String() string {
	if c <= maxKnownCause {
		return causeNames[c]
	}
	return "Cause(" + strconv.Itoa(int(c)) + ")"
}

// Known reports whether c is one of the codes of this version.
func (c Cause) Known() bool { return c <= maxKnownCause }

// Dead reply flag bits of the optional trailers.
const (
	deadHasCause   = 1 << 1
	deadHasRefused = 1 << 2
)

// MaxRefusedHead is the most of a refused frame's body a dead reply
// quotes (DeadReply.RefusedHead).
const MaxRefusedHead = 64

// DeadReply is the body of a [KindDead] (IS_DEAD) frame: a message could
// not be delivered, or its destination is gone. It is sent back to the
// source context of the frame that failed.
//
// Layout (str as in [Envelope]):
//
//	flags u8 (bit 0: has sender, bit 1: has cause, bit 2: quotes the
//	refused frame) | code u8 | target ctx u32 | target str |
//	[sender ctx u32 | sender id str] | reason str | [cause u8 | detail i32] |
//	[refused kind u16 | head len u8 | head]
//
// A reply without cause (Cause and Detail zero) has bit 1 clear and no
// trailer, and one that quotes no frame (Refused zero) bit 2: the
// encoding of earlier versions, byte for byte.
type DeadReply struct {
	Target    string // actor ID the undeliverable message was for
	TargetCtx uint32 // context ID the undeliverable message was for
	HasSender bool
	SenderCtx uint32 // the sender PID of the undeliverable message, if any
	SenderID  string
	Code      DeadCode // why, as a class
	// Reason says why, e.g. "no route to context 7", "exit status 137",
	// "unregistered type \"x\"".
	Reason string
	Cause  Cause // why, as a stable code
	Detail int32 // with CauseExit: the exit status (128+N for signal N)
	// Refused and RefusedHead quote a frame that was refused as a whole
	// (a kind the destination does not handle): its kind and the first
	// bytes of its body (at most MaxRefusedHead; longer heads are cut),
	// so that its source can tell which of its requests it was. Zero
	// Refused: no quote.
	Refused     Kind
	RefusedHead string
}

// AppendDeadReply appends the encoding of d to dst. Strings longer than
// [MaxNameLen] bytes are cut, so a dead reply can always be sent and
// parsed.
func AppendDeadReply(dst []byte, d DeadReply) []byte {
	var flags byte
	if d.HasSender {
		flags |= envHasSender
	}
	hasCause := d.Cause != CauseUnknown || d.Detail != 0
	if hasCause {
		flags |= deadHasCause
	}
	if d.Refused != 0 {
		flags |= deadHasRefused
	}
	dst = append(dst, flags, byte(d.Code))
	dst = binary.BigEndian.AppendUint32(dst, d.TargetCtx)
	dst = appendString(dst, d.Target)
	if d.HasSender {
		dst = binary.BigEndian.AppendUint32(dst, d.SenderCtx)
		dst = appendString(dst, d.SenderID)
	}
	dst = appendString(dst, d.Reason)
	if hasCause {
		dst = append(dst, byte(d.Cause))
		dst = binary.BigEndian.AppendUint32(dst, uint32(d.Detail))
	}
	if d.Refused != 0 {
		head := d.RefusedHead[:min(len(d.RefusedHead), MaxRefusedHead)]
		dst = binary.BigEndian.AppendUint16(dst, uint16(d.Refused))
		dst = append(dst, byte(len(head)))
		dst = append(dst, head...)
	}
	return dst
}

// ParseDeadReply decodes a [KindDead] body. Errors wrap [ErrMalformed]: a
// truncated field, a string longer than [MaxNameLen], unknown flag bits, an
// unknown code or trailing bytes.
func ParseDeadReply(b []byte) (DeadReply, error) {
	var d DeadReply
	flags, b, ok := parseU8(b)
	if !ok {
		return DeadReply{}, malformed("dead reply: empty body")
	}
	if flags&^(envHasSender|deadHasCause|deadHasRefused) != 0 {
		return DeadReply{}, malformed("dead reply: unknown flags %#x", flags)
	}
	code, b, ok := parseU8(b)
	if !ok {
		return DeadReply{}, malformed("dead reply: truncated code")
	}
	if d.Code = DeadCode(code); d.Code > maxDeadCode {
		return DeadReply{}, malformed("dead reply: unknown code %d", code)
	}
	if d.TargetCtx, b, ok = parseU32(b); !ok {
		return DeadReply{}, malformed("dead reply: truncated target context")
	}
	if d.Target, b, ok = parseString(b); !ok {
		return DeadReply{}, malformed("dead reply: bad target")
	}
	if flags&envHasSender != 0 {
		d.HasSender = true
		if d.SenderCtx, b, ok = parseU32(b); !ok {
			return DeadReply{}, malformed("dead reply: truncated sender context")
		}
		if d.SenderID, b, ok = parseString(b); !ok {
			return DeadReply{}, malformed("dead reply: bad sender id")
		}
	}
	if d.Reason, b, ok = parseString(b); !ok {
		return DeadReply{}, malformed("dead reply: bad reason")
	}
	if flags&deadHasCause != 0 {
		var cause uint8
		var detail uint32
		if cause, b, ok = parseU8(b); !ok {
			return DeadReply{}, malformed("dead reply: truncated cause")
		}
		if detail, b, ok = parseU32(b); !ok {
			return DeadReply{}, malformed("dead reply: truncated cause detail")
		}
		d.Cause, d.Detail = Cause(cause), int32(detail)
		if d.Cause == CauseUnknown && d.Detail == 0 {
			return DeadReply{}, malformed("dead reply: empty cause trailer")
		}
	}
	if flags&deadHasRefused != 0 {
		var kind uint16
		var n uint8
		if kind, b, ok = parseU16(b); !ok || kind == 0 {
			return DeadReply{}, malformed("dead reply: bad refused kind")
		}
		if n, b, ok = parseU8(b); !ok || n > MaxRefusedHead || len(b) < int(n) {
			return DeadReply{}, malformed("dead reply: bad refused head")
		}
		d.Refused, d.RefusedHead, b = Kind(kind), string(b[:n]), b[n:]
	}
	if len(b) != 0 {
		return DeadReply{}, malformed("dead reply: %d trailing bytes", len(b))
	}
	return d, nil
}
