package link

import (
	"errors"
	"slices"
	"syscall"
	"testing"
)

// TestParseRights_Whole: well-formed SCM_RIGHTS messages, one or two in
// a buffer, give back every descriptor in order.
func TestParseRights_Whole(t *testing.T) {
	for _, tc := range []struct {
		name string
		oob  []byte
		want []int
	}{
		{"one", syscall.UnixRights(7), []int{7}},
		{"three", syscall.UnixRights(7, 8, 9), []int{7, 8, 9}},
		{"two messages", append(syscall.UnixRights(7), syscall.UnixRights(8, 9)...), []int{7, 8, 9}},
		{"empty", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRights(tc.oob)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("parseRights = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestParseRights_DarwinTruncatedCmsg: darwin truncates a control message
// that does not fit (MSG_CTRUNC) but leaves its cmsg_len at the full
// length. The descriptors that did arrive must still be found, so the
// reader can close them; syscall.ParseSocketControlMessage rejects such a
// buffer and would lose them. The buffer is built by hand here, the shape
// darwin's kernel leaves; the darwin code path itself only compiles here.
func TestParseRights_DarwinTruncatedCmsg(t *testing.T) {
	full := syscall.UnixRights(7, 8, 9)
	cut := full[:syscall.CmsgLen(2*4)] // room for two descriptors, header still says three
	got, err := parseRights(cut)
	if !errors.Is(err, errCmsgTruncated) {
		t.Fatalf("err = %v, want errCmsgTruncated", err)
	}
	if !slices.Equal(got, []int{7, 8}) {
		t.Fatalf("descriptors = %v, want [7 8]", got)
	}
	if _, err := syscall.ParseSocketControlMessage(cut); err == nil {
		t.Log("note: syscall.ParseSocketControlMessage accepts this buffer on this platform")
	}
}

// TestParseRights_HostileHeaders: a header shorter than itself, or of
// another type, is an error; descriptors before it are still returned.
func TestParseRights_HostileHeaders(t *testing.T) {
	short := syscall.UnixRights(7)
	short = append(short, make([]byte, syscall.CmsgLen(0))...) // a zero-length header
	got, err := parseRights(short)
	if err == nil || !slices.Equal(got, []int{7}) {
		t.Fatalf("zero-length header: %v, %v", got, err)
	}
	creds := syscall.UnixRights(7)
	// SCM_RIGHTS is 1 everywhere; any other type is refused.
	creds[syscall.CmsgLen(0)-4] ^= 0x40
	if got, err := parseRights(creds); err == nil || len(got) != 0 {
		t.Fatalf("other type: %v, %v", got, err)
	}
}

// FuzzParseRights: no control buffer makes parseRights panic, and it never
// reports more descriptors than the buffer could hold.
func FuzzParseRights(f *testing.F) {
	f.Add(syscall.UnixRights(3))
	f.Add(syscall.UnixRights(3, 4, 5))
	f.Add(syscall.UnixRights(3, 4, 5)[:syscall.CmsgLen(4)])
	f.Add(append(syscall.UnixRights(3), syscall.UnixRights(4)...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, oob []byte) {
		fds, _ := parseRights(oob)
		if len(fds) > len(oob)/4 {
			t.Fatalf("%d descriptors from %d bytes", len(fds), len(oob))
		}
	})
}
