package calls

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// The bodies of the three frames of package calls. Fixed fields are
// big-endian; names are a length byte and that many bytes; what follows the
// fixed part is the msgpack document of the request or answer.
//
//	request (CALL_FUNCTION 101, CALL_SERVICE 110):
//	  0  1  version (0)
//	  1 16  call ID (128 random bits, the reply capability)
//	 17  8  time left before the caller's deadline, ns (0: none)
//	 25  1  name length n, then n bytes: function or service name
//	  .  1  method length m, then m bytes (CALL_SERVICE; 0 for functions)
//	  .     msgpack request
//	reply (CALL_REPLY 121):
//	  0 16  call ID
//	 16  1  status: 0 ok (msgpack answer follows), 1 error (msgpack wireError)
//	cancel (CALL_CANCEL 122):
//	  0 16  call ID
const (
	sizeVersion = 1
	sizeID      = 16
	sizeTimeout = 8
	sizeNameLen = 1
	sizeStatus  = 1

	offID       = sizeVersion
	offTimeout  = offID + sizeID
	offName     = offTimeout + sizeTimeout
	requestHead = offName + sizeNameLen // shortest request is requestHead + sizeNameLen
	replyHead   = sizeID + sizeStatus
	cancelSize  = sizeID

	// requestVersion is the only request version this package speaks.
	requestVersion = 0

	// MaxNameLen is the longest function, service or method name.
	MaxNameLen = 255
)

// Reply status codes.
const (
	statusOK  = 0
	statusErr = 1
)

// errMalformed is the sentinel of every parse error: the frame does not
// follow the layout above.
var errMalformed = errors.New("calls: malformed frame")

// callID names one call; it is the capability to answer it.
type callID [sizeID]byte

// newCallID returns 128 bits from crypto/rand.
func newCallID() callID {
	var id callID
	_, _ = rand.Read(id[:]) // never fails: crypto/rand crashes the program instead
	return id
}

// senderPrefix starts the reply ID a call frame's dead reply names (see
// replyIDOf): "$c" and the call ID in unpadded base64url.
const senderPrefix = "$c"

// String returns the form a dead reply carries.
func (id callID) String() string {
	return senderPrefix + base64.RawURLEncoding.EncodeToString(id[:])
}

// parseSenderID is the inverse of callID.String.
func parseSenderID(s string) (callID, bool) {
	var id callID
	if len(s) != len(senderPrefix)+base64.RawURLEncoding.EncodedLen(sizeID) || s[:len(senderPrefix)] != senderPrefix {
		return id, false
	}
	n, err := base64.RawURLEncoding.Decode(id[:], []byte(s[len(senderPrefix):]))
	return id, err == nil && n == sizeID
}

// request is a parsed request frame. Name, Method and Body alias the frame.
type request struct {
	ID      callID
	Timeout int64 // ns; 0: none
	Name    string
	Method  string
	Body    []byte
}

// appendRequest appends the encoding of r's head (everything but Body) to
// dst; the caller appends the msgpack body.
func appendRequestHead(dst []byte, id callID, timeout int64, name, method string) ([]byte, error) {
	if len(name) == 0 || len(name) > MaxNameLen || len(method) > MaxNameLen {
		return dst, fmt.Errorf("calls: name %q or method %q empty or longer than %d bytes", name, method, MaxNameLen)
	}
	if timeout < 0 {
		timeout = 0
	}
	dst = append(dst, requestVersion)
	dst = append(dst, id[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(timeout))
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	dst = append(dst, byte(len(method)))
	return append(dst, method...), nil
}

// parseRequest parses a request body. It never panics; every error wraps
// errMalformed. The strings are copies; Body aliases b.
func parseRequest(b []byte) (request, error) {
	var r request
	if len(b) < requestHead+sizeNameLen {
		return r, fmt.Errorf("%w: request of %d bytes", errMalformed, len(b))
	}
	if b[0] != requestVersion {
		return r, fmt.Errorf("%w: request version %d", errMalformed, b[0])
	}
	copy(r.ID[:], b[offID:])
	t := binary.BigEndian.Uint64(b[offTimeout:])
	if t > 1<<62 {
		return r, fmt.Errorf("%w: timeout %d", errMalformed, t)
	}
	r.Timeout = int64(t)
	name, rest, ok := parseName(b[offName:])
	if !ok || len(name) == 0 {
		return r, fmt.Errorf("%w: request name", errMalformed)
	}
	method, rest, ok := parseName(rest)
	if !ok {
		return r, fmt.Errorf("%w: request method", errMalformed)
	}
	r.Name, r.Method, r.Body = string(name), string(method), rest
	return r, nil
}

// parseName parses a length byte and that many bytes.
func parseName(b []byte) (name, rest []byte, ok bool) {
	if len(b) < sizeNameLen {
		return nil, nil, false
	}
	n := int(b[0])
	if len(b) < sizeNameLen+n {
		return nil, nil, false
	}
	return b[sizeNameLen : sizeNameLen+n], b[sizeNameLen+n:], true
}

// replyIDOf returns the reply ID a request body names, for the dead reply
// of an undeliverable request (actors.Node.HandleKindReplies).
func replyIDOf(b []byte) (string, bool) {
	if len(b) < offID+sizeID {
		return "", false
	}
	return callID(b[offID : offID+sizeID]).String(), true
}

// appendReplyHead appends a reply's head; the caller appends the body.
func appendReplyHead(dst []byte, id callID, status byte) []byte {
	dst = append(dst, id[:]...)
	return append(dst, status)
}

// parseReply parses a reply body; body aliases b.
func parseReply(b []byte) (id callID, status byte, body []byte, err error) {
	if len(b) < replyHead {
		return id, 0, nil, fmt.Errorf("%w: reply of %d bytes", errMalformed, len(b))
	}
	copy(id[:], b)
	status = b[sizeID]
	if status != statusOK && status != statusErr {
		return id, 0, nil, fmt.Errorf("%w: reply status %d", errMalformed, status)
	}
	return id, status, b[replyHead:], nil
}

// parseCancel parses a cancel body.
func parseCancel(b []byte) (callID, error) {
	var id callID
	if len(b) != cancelSize {
		return id, fmt.Errorf("%w: cancel of %d bytes", errMalformed, len(b))
	}
	copy(id[:], b)
	return id, nil
}
