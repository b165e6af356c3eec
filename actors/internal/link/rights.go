package link

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"unsafe"
)

// errCmsgTruncated is the reason parseRights gives for a control message
// whose header claims more bytes than the buffer holds.
var errCmsgTruncated = errors.New("actors: truncated control message")

// parseRights returns the descriptors in the SCM_RIGHTS control messages
// of oob, the control buffer a recvmsg filled. Any other control message,
// or a malformed one, is an error, returned after every descriptor that
// can be read has been collected, so the caller can close them all.
//
// It walks the headers itself rather than with
// syscall.ParseSocketControlMessage, which rejects a buffer whose last
// header's cmsg_len is longer than the buffer, and so loses the
// descriptors in it: darwin leaves cmsg_len at the length the message
// would have had when it truncates one (MSG_CTRUNC). Here the descriptors
// that fit are returned with errCmsgTruncated. Pure: no descriptor is
// touched.
func parseRights(oob []byte) ([]int, error) {
	hdrLen := syscall.CmsgLen(0)
	var fds []int
	var err error
	for off := 0; off+hdrLen <= len(oob); {
		level, typ, l := cmsgHeader(oob[off:])
		if l < uint64(hdrLen) {
			return fds, fmt.Errorf("actors: bad control message: length %d", l)
		}
		end := len(oob)
		if l <= uint64(len(oob)-off) {
			end = off + int(l)
		} else {
			err = errCmsgTruncated
		}
		if level != syscall.SOL_SOCKET || typ != syscall.SCM_RIGHTS {
			err = fmt.Errorf("actors: unexpected control message level %d type %d", level, typ)
		} else {
			fds = appendRights(fds, oob[off+hdrLen:end])
		}
		if end == len(oob) {
			break
		}
		off += cmsgAlign(int(l))
	}
	return fds, err
}

// cmsgHeader reads the control message header at the start of b, which
// holds at least syscall.CmsgLen(0) bytes.
func cmsgHeader(b []byte) (level, typ int32, length uint64) {
	var h syscall.Cmsghdr
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&h)), unsafe.Sizeof(h)), b)
	return h.Level, h.Type, uint64(h.Len) // Len is uint32 on darwin, uint64 on linux/amd64
}

// cmsgAlign rounds a control message length up to the platform's
// alignment (4 bytes on darwin, the word size on linux).
func cmsgAlign(l int) int { return syscall.CmsgSpace(l) - syscall.CmsgSpace(0) }

// appendRights appends the whole 4-byte descriptors in data.
func appendRights(fds []int, data []byte) []int {
	for ; len(data) >= 4; data = data[4:] {
		fds = append(fds, int(int32(binary.NativeEndian.Uint32(data))))
	}
	return fds
}
