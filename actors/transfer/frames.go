package transfer

import (
	"encoding/binary"
	"errors"
)

// Frame bodies of the stream kinds (wire.KindStreamOpen .. KindStreamReset),
// big-endian, laid out in docs/protocol.md ("Streams"). Every body starts
// with the stream ID; its top bit (fromAcceptor) is set on frames that
// travel from the stream's acceptor to its opener, so that a stream is
// named by (peer context, ID, who opened it) and both sides may open
// streams to each other without a clash.
const (
	idSize       = 8
	offsetSize   = 8
	windowSize   = 4
	codeSize     = 2
	fromAcceptor = uint64(1) << 63

	openFixed   = idSize + windowSize + 1 // id, window, name length
	dataHeader  = idSize + offsetSize     // id, offset; the data follows
	creditSize  = idSize + windowSize     // id, increment
	resetFixed  = idSize + codeSize + 2   // id, code, message length
	maxName     = 255                     // bytes of a stream name
	maxResetMsg = 1024                    // bytes of a reset message kept
)

// errMalformed is the error of a frame body that does not parse.
var errMalformed = errors.New("transfer: malformed stream frame")

type openFrame struct {
	id     uint64
	window uint32 // credit the opener grants the acceptor
	name   string
}

type dataFrame struct {
	id     uint64
	offset uint64 // of data[0] in this direction of the stream
	data   []byte // aliases the frame
}

type creditFrame struct {
	id  uint64
	add uint32
}

type resetFrame struct {
	id   uint64
	code Code
	msg  string
}

func appendOpen(b []byte, o openFrame) []byte {
	b = binary.BigEndian.AppendUint64(b, o.id)
	b = binary.BigEndian.AppendUint32(b, o.window)
	name := o.name[:min(len(o.name), maxName)]
	b = append(b, byte(len(name)))
	return append(b, name...)
}

func parseOpen(b []byte) (openFrame, error) {
	if len(b) < openFixed {
		return openFrame{}, errMalformed
	}
	o := openFrame{id: binary.BigEndian.Uint64(b), window: binary.BigEndian.Uint32(b[idSize:])}
	n := int(b[idSize+windowSize])
	if len(b) != openFixed+n || o.id&fromAcceptor != 0 || o.id == 0 {
		return openFrame{}, errMalformed
	}
	o.name = string(b[openFixed:])
	return o, nil
}

// appendDataHeader appends the fixed part of a data body; the data follows.
func appendDataHeader(b []byte, id, offset uint64) []byte {
	b = binary.BigEndian.AppendUint64(b, id)
	return binary.BigEndian.AppendUint64(b, offset)
}

func parseData(b []byte) (dataFrame, error) {
	if len(b) < dataHeader {
		return dataFrame{}, errMalformed
	}
	return dataFrame{id: binary.BigEndian.Uint64(b), offset: binary.BigEndian.Uint64(b[idSize:]), data: b[dataHeader:]}, nil
}

func appendCredit(b []byte, c creditFrame) []byte {
	b = binary.BigEndian.AppendUint64(b, c.id)
	return binary.BigEndian.AppendUint32(b, c.add)
}

func parseCredit(b []byte) (creditFrame, error) {
	if len(b) != creditSize {
		return creditFrame{}, errMalformed
	}
	c := creditFrame{id: binary.BigEndian.Uint64(b), add: binary.BigEndian.Uint32(b[idSize:])}
	if c.add == 0 {
		return creditFrame{}, errMalformed
	}
	return c, nil
}

func appendReset(b []byte, r resetFrame) []byte {
	b = binary.BigEndian.AppendUint64(b, r.id)
	b = binary.BigEndian.AppendUint16(b, uint16(r.code))
	msg := r.msg[:min(len(r.msg), maxResetMsg)]
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	return append(b, msg...)
}

func parseReset(b []byte) (resetFrame, error) {
	if len(b) < resetFixed {
		return resetFrame{}, errMalformed
	}
	r := resetFrame{id: binary.BigEndian.Uint64(b), code: Code(binary.BigEndian.Uint16(b[idSize:]))}
	n := int(binary.BigEndian.Uint16(b[idSize+codeSize:]))
	if len(b) != resetFixed+n || n > maxResetMsg {
		return resetFrame{}, errMalformed
	}
	r.msg = string(b[resetFixed:])
	return r, nil
}
