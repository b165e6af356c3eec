package wire

import (
	"strconv"
	"strings"
)

// Kind says what a frame's body is. Kinds 100..110 keep the numbers of
// Mitogen's well-known handles where the meaning carries over, and 999
// (IS_DEAD) is Mitogen's dead-reply marker.
type Kind uint16

// Frame kinds.
const (
	KindHello  Kind = 1  // handshake, first frame in each direction; body = Hello
	KindPing   Kind = 2  // heartbeat request
	KindPong   Kind = 3  // heartbeat answer
	KindUser   Kind = 10 // actor user message, body = Envelope
	KindSystem Kind = 11 // actor system message (watch/unwatch/terminated/stop), body = msgpack
	KindChunk  Kind = 12 // one piece of a frame too big to send whole; see AppendChunks

	KindGetBinary     Kind = 100 // Mitogen GET_MODULE: ask the parent for the binary
	KindCallFunction  Kind = 101 // Mitogen CALL_FUNCTION: call a registered function
	KindForwardLog    Kind = 102 // Mitogen FORWARD_LOG: a log record travelling up
	KindAddRoute      Kind = 103 // Mitogen ADD_ROUTE: a context appeared behind the sender
	KindDelRoute      Kind = 104 // Mitogen DEL_ROUTE: a context went away behind the sender
	KindAllocateID    Kind = 105 // Mitogen ALLOCATE_ID: ask for a block of context IDs
	KindShutdown      Kind = 106 // Mitogen SHUTDOWN: stop the destination context
	KindLoadBinary    Kind = 107 // Mitogen LOAD_MODULE: binary chunks answering GET_BINARY
	KindForwardBinary Kind = 108 // Mitogen FORWARD_MODULE: push a binary hop by hop
	KindDetaching     Kind = 109 // Mitogen DETACHING: the child is detaching from its parent
	KindCallService   Kind = 110 // Mitogen CALL_SERVICE: call a named service
	KindSpawnActor    Kind = 120 // spawn a registered actor kind in the destination context
	KindCallReply     Kind = 121 // the result or error of a CALL_FUNCTION or CALL_SERVICE (actors/calls)
	KindCallCancel    Kind = 122 // the caller gave up on a call: cancel its handler (actors/calls)

	// Streams (package actors/transfer): a byte stream each way between two
	// contexts, with a credit window per stream and direction. START marks
	// the opening frame, END the last data of one direction.
	KindStreamOpen   Kind = 130 // STREAM_OPEN: open a named stream (START)
	KindStreamData   Kind = 131 // STREAM_DATA: bytes at an offset of one direction (END: the last)
	KindStreamCredit Kind = 132 // STREAM_CREDIT: the receiver grants more window
	KindStreamReset  Kind = 133 // STREAM_RESET: abort the stream both ways, with a code (ERROR)

	// Observability (package actors/introspect): an ancestor asks a context
	// for its subtree as data.
	KindTreeQuery Kind = 140 // TREE_QUERY: send me your subtree within a budget
	KindTreeReply Kind = 141 // TREE_REPLY: the subtree, as flat rows

	KindDead Kind = 999 // IS_DEAD: dead reply, body = DeadReply
)

var kindNames = map[Kind]string{
	KindHello:         "HELLO",
	KindPing:          "PING",
	KindPong:          "PONG",
	KindUser:          "USER",
	KindSystem:        "SYSTEM",
	KindChunk:         "CHUNK",
	KindGetBinary:     "GET_BINARY",
	KindCallFunction:  "CALL_FUNCTION",
	KindForwardLog:    "FORWARD_LOG",
	KindAddRoute:      "ADD_ROUTE",
	KindDelRoute:      "DEL_ROUTE",
	KindAllocateID:    "ALLOCATE_ID",
	KindShutdown:      "SHUTDOWN",
	KindLoadBinary:    "LOAD_BINARY",
	KindForwardBinary: "FORWARD_BINARY",
	KindDetaching:     "DETACHING",
	KindCallService:   "CALL_SERVICE",
	KindSpawnActor:    "SPAWN_ACTOR",
	KindCallReply:     "CALL_REPLY",
	KindCallCancel:    "CALL_CANCEL",
	KindStreamOpen:    "STREAM_OPEN",
	KindStreamData:    "STREAM_DATA",
	KindStreamCredit:  "STREAM_CREDIT",
	KindStreamReset:   "STREAM_RESET",
	KindTreeQuery:     "TREE_QUERY",
	KindTreeReply:     "TREE_REPLY",
	KindDead:          "IS_DEAD",
}

// String returns the protocol name of k ("USER", "ADD_ROUTE", "IS_DEAD"),
// or "KIND(n)" for a kind this version does not know.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "KIND(" + strconv.Itoa(int(k)) + ")"
}

// Known reports whether k is one of the kinds defined by this version.
func (k Kind) Known() bool {
	_, ok := kindNames[k]
	return ok
}

// Control reports whether frames of kind k are control traffic: everything
// except [KindUser], [KindChunk] and [KindStreamData]. Writers never hold a
// control frame behind more than one piece of bulk data.
func (k Kind) Control() bool { return k != KindUser && k != KindChunk && k != KindStreamData }

// Flags modify a frame's meaning.
type Flags uint8

// Frame flags.
const (
	FlagStart Flags = 1 << 0 // first chunk of a chunked stream
	FlagEnd   Flags = 1 << 1 // last chunk of a chunked stream
	FlagFDs   Flags = 1 << 2 // frame carries file descriptors (SCM_RIGHTS)
	FlagError Flags = 1 << 3 // error reply
)

var flagNames = [...]string{"START", "END", "FDS", "ERROR"}

// Has reports whether all bits of g are set in f.
func (f Flags) Has(g Flags) bool { return f&g == g }

// String returns the set flags joined by "|" ("START|END"), "0" for none,
// and unknown bits in hex ("START|0x30").
func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	for i, name := range flagNames {
		if f&(1<<i) != 0 {
			parts = append(parts, name)
		}
	}
	if rest := f &^ (1<<len(flagNames) - 1); rest != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(rest), 16))
	}
	return strings.Join(parts, "|")
}
