package calls

import (
	"bytes"
	"errors"
	"testing"
)

// The decoders of the three frames never panic, and what they accept
// re-encodes to the same bytes (seed corpus in testdata/fuzz/).

func FuzzParseRequest(f *testing.F) {
	id := callID{1, 2, 3}
	for _, seed := range [][]byte{
		mustHead(id, 5e9, "echo", ""),
		append(mustHead(id, 0, "pub", "echo"), 0x80),
		{},
		make([]byte, requestHead+sizeNameLen),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		again, err := appendRequestHead(nil, r.ID, r.Timeout, r.Name, r.Method)
		if err != nil {
			t.Fatalf("accepted request does not re-encode: %v", err)
		}
		if again = append(again, r.Body...); !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, want %x", again, b)
		}
		if id, ok := replyIDOf(b); !ok || id != r.ID.String() {
			t.Fatalf("replyIDOf = %q, %v; want %q", id, ok, r.ID.String())
		}
	})
}

func FuzzParseReply(f *testing.F) {
	id := callID{9}
	f.Add(appendReplyHead(nil, id, statusOK))
	f.Add(append(appendReplyHead(nil, id, statusErr), 0x80))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, status, body, err := parseReply(b)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if again := append(appendReplyHead(nil, id, status), body...); !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, want %x", again, b)
		}
	})
}

func FuzzParseCancel(f *testing.F) {
	f.Add(make([]byte, cancelSize))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := parseCancel(b)
		if err == nil && !bytes.Equal(id[:], b) {
			t.Fatalf("cancel %x parsed as %x", b, id)
		}
	})
}

// FuzzDecodeError: an error reply body from a hostile callee always gives
// a RemoteError, never a panic.
func FuzzDecodeError(f *testing.F) {
	ep := &Endpoint{errByName: map[string]errEntry{}}
	if err := RegisterErrorType[*testError](ep, "t"); err != nil {
		f.Fatal(err)
	}
	f.Add(ep.encodeError(CodeError, &testError{N: 3}))
	f.Add(ep.encodeError(CodeBusy, ErrBusy))
	f.Add([]byte{0xc1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var re *RemoteError
		if err := ep.decodeError(1, "f", b); !errors.As(err, &re) {
			t.Fatalf("decodeError = %v, want a RemoteError", err)
		}
	})
}

type testError struct{ N int }

func (e *testError) Error() string { return "test error" }

func mustHead(id callID, timeout int64, name, method string) []byte {
	b, err := appendRequestHead(nil, id, timeout, name, method)
	if err != nil {
		panic(err)
	}
	return b
}

func TestSenderID_RoundTrip(t *testing.T) {
	id := newCallID()
	got, ok := parseSenderID(id.String())
	if !ok || got != id {
		t.Fatalf("parseSenderID(%q) = %x, %v", id.String(), got, ok)
	}
	for _, s := range []string{"", "$c", "$r" + id.String()[2:], id.String() + "x", "$c!!!!!!!!!!!!!!!!!!!!!!"} {
		if _, ok := parseSenderID(s); ok {
			t.Errorf("parseSenderID(%q) accepted", s)
		}
	}
}

// TestLayout pins the byte layout of docs/calls.md.
func TestLayout(t *testing.T) {
	if offID != 1 || offTimeout != 17 || offName != 25 || requestHead != 26 || replyHead != 17 || cancelSize != 16 {
		t.Fatalf("layout offID %d offTimeout %d offName %d requestHead %d replyHead %d cancel %d",
			offID, offTimeout, offName, requestHead, replyHead, cancelSize)
	}
	got := mustHead(callID{0xaa}, 1, "f", "m")
	want := append([]byte{0, 0xaa}, make([]byte, 15)...)
	want = append(want, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'f', 1, 'm')
	if !bytes.Equal(got, want) {
		t.Fatalf("request head %x, want %x", got, want)
	}
}
