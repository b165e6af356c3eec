package wire

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/google/uuid"
)

// Hello limits.
const (
	MaxParentIDs    = 1024          // most ancestors a Hello may list
	MaxHelloNameLen = math.MaxUint8 // longest context name in a Hello
	helloFixedLen   = 4 + 4 + 16 + 4 + 4 + 4 + 4 + 2
	helloMaxLen     = helloFixedLen + 4*MaxParentIDs + 1 + MaxHelloNameLen
)

// Feature bits announced in Hello.Features.
const (
	// FeatureFDPassing says the sender can pass file descriptors over this
	// link (SCM_RIGHTS on a unix socket; see [FlagFDs]).
	FeatureFDPassing uint32 = 1 << 0
)

// Hello is the handshake body (kind [KindHello]), the first frame in each
// direction. The parent speaks first.
//
// Layout, big-endian:
//
//	ctx u32 | assigned u32 | incarnation [16] | maxframe u32 | features u32 |
//	heartbeat u32 | timeout u32 | nparents u16 | parents u32*nparents |
//	namelen u8 | name
type Hello struct {
	ContextID   uint32    // the sender's context ID
	AssignedID  uint32    // parent->child: the ID the child must take; 0 from a child
	Incarnation uuid.UUID // the sender's incarnation
	// ParentIDs: parent->child, the child's ancestors, root first, ending
	// with the parent; child->parent, the child's own ancestors echoed (may
	// be empty). At most MaxParentIDs.
	ParentIDs []uint32
	// Name: parent->child, the child's name; child->parent, the child's own
	// name. At most MaxHelloNameLen bytes.
	Name     string
	MaxFrame uint32 // largest frame the sender accepts, at least MinMaxFrame
	Features uint32 // Feature* bits
	// HeartbeatMS and TimeoutMS are the sender's link heartbeat interval
	// and silence timeout in milliseconds; 0 means heartbeats are off. A
	// child adopts its parent's values for the link to it.
	HeartbeatMS uint32
	TimeoutMS   uint32
}

// Validate reports, as an error wrapping [ErrMalformed], what [ParseHello]
// would reject in h: more than [MaxParentIDs] parents, a name over
// [MaxHelloNameLen] bytes or a MaxFrame below [MinMaxFrame].
func (h Hello) Validate() error {
	if len(h.ParentIDs) > MaxParentIDs {
		return malformed("hello: %d parent IDs, limit %d", len(h.ParentIDs), MaxParentIDs)
	}
	if len(h.Name) > MaxHelloNameLen {
		return malformed("hello: name of %d bytes, limit %d", len(h.Name), MaxHelloNameLen)
	}
	if h.MaxFrame < MinMaxFrame {
		return malformed("hello: max frame %d below the minimum %d", h.MaxFrame, MinMaxFrame)
	}
	return nil
}

// AppendHello appends the encoding of h to dst. It does not validate h (see
// [Hello.Validate]); it only cuts what the layout cannot hold: the name to
// [MaxHelloNameLen] bytes and the parent list to 65535 entries.
func AppendHello(dst []byte, h Hello) []byte {
	parents := h.ParentIDs
	if len(parents) > math.MaxUint16 {
		parents = parents[:math.MaxUint16]
	}
	name := clip(h.Name, MaxHelloNameLen)
	dst = binary.BigEndian.AppendUint32(dst, h.ContextID)
	dst = binary.BigEndian.AppendUint32(dst, h.AssignedID)
	dst = append(dst, h.Incarnation[:]...)
	dst = binary.BigEndian.AppendUint32(dst, h.MaxFrame)
	dst = binary.BigEndian.AppendUint32(dst, h.Features)
	dst = binary.BigEndian.AppendUint32(dst, h.HeartbeatMS)
	dst = binary.BigEndian.AppendUint32(dst, h.TimeoutMS)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(parents)))
	for _, id := range parents {
		dst = binary.BigEndian.AppendUint32(dst, id)
	}
	dst = append(dst, byte(len(name)))
	return append(dst, name...)
}

// ParseHello decodes a Hello body. Errors wrap [ErrMalformed]: a truncated
// body, trailing bytes, more than [MaxParentIDs] parents, or a MaxFrame
// below [MinMaxFrame].
func ParseHello(b []byte) (Hello, error) {
	var h Hello
	if len(b) > helloMaxLen {
		return Hello{}, malformed("hello: %d bytes, limit %d", len(b), helloMaxLen)
	}
	fixed, rest, ok := parseBytes(b, helloFixedLen)
	if !ok {
		return Hello{}, malformed("hello: %d bytes, need at least %d", len(b), helloFixedLen+1)
	}
	h.ContextID = binary.BigEndian.Uint32(fixed[0:])
	h.AssignedID = binary.BigEndian.Uint32(fixed[4:])
	copy(h.Incarnation[:], fixed[8:24])
	h.MaxFrame = binary.BigEndian.Uint32(fixed[24:])
	h.Features = binary.BigEndian.Uint32(fixed[28:])
	h.HeartbeatMS = binary.BigEndian.Uint32(fixed[32:])
	h.TimeoutMS = binary.BigEndian.Uint32(fixed[36:])
	n := int(binary.BigEndian.Uint16(fixed[40:]))
	if h.MaxFrame < MinMaxFrame {
		return Hello{}, malformed("hello: max frame %d below the minimum %d", h.MaxFrame, MinMaxFrame)
	}
	if n > MaxParentIDs {
		return Hello{}, malformed("hello: %d parent IDs, limit %d", n, MaxParentIDs)
	}
	ids, rest, ok := parseBytes(rest, 4*n)
	if !ok {
		return Hello{}, malformed("hello: truncated parent IDs (%d announced)", n)
	}
	if n > 0 {
		h.ParentIDs = make([]uint32, n)
		for i := range h.ParentIDs {
			h.ParentIDs[i] = binary.BigEndian.Uint32(ids[4*i:])
		}
	}
	nameLen, rest, ok := parseU8(rest)
	if !ok {
		return Hello{}, malformed("hello: truncated name length")
	}
	name, rest, ok := parseBytes(rest, int(nameLen))
	if !ok {
		return Hello{}, malformed("hello: truncated name (%d bytes announced)", nameLen)
	}
	if len(rest) != 0 {
		return Hello{}, malformed("hello: %d trailing bytes", len(rest))
	}
	h.Name = string(name)
	return h, nil
}

// AppendVersionReject appends the frame sent, before closing, to a peer
// whose first frame carried protocol version remote: a [KindHello] frame of
// our own [Version] with [FlagError], whose body is a short UTF-8 text
// naming both versions. The peer's [Reader] reports it as a [*VersionError]
// from the header alone, whatever its version.
func AppendVersionReject(dst []byte, remote uint8) []byte {
	body := fmt.Sprintf("spindle wire: this peer speaks protocol version %d, not %d", Version, remote)
	return AppendFrame(dst, FrameSpec{Kind: KindHello, Flags: FlagError}, nil, []byte(body))
}
