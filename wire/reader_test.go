package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
	"unsafe"
)

// testFrames returns a stream of frames of several kinds and sizes.
func testFrames(t testing.TB) (stream []byte, frames [][]byte) {
	t.Helper()
	kv, err := AppendKV(nil, map[string]string{"trace": "abc", "k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	specs := []struct {
		s    FrameSpec
		kv   []byte
		body []byte
	}{
		{FrameSpec{Kind: KindHello}, nil, AppendHello(nil, Hello{ContextID: 1, MaxFrame: DefaultMaxFrame})},
		{FrameSpec{Kind: KindPing, Dst: 2, Src: 1, Auth: 1}, nil, nil},
		{FrameSpec{Kind: KindUser, Dst: 2, Src: 1, Auth: 1}, kv, []byte("user body")},
		{FrameSpec{Kind: KindLoadBinary, Flags: FlagStart}, nil, bytes.Repeat([]byte{0xab}, 200<<10)},
		{FrameSpec{Kind: KindDead, Flags: FlagEnd}, kv, AppendDeadReply(nil, DeadReply{Target: "a", Reason: "gone"})},
	}
	for _, s := range specs {
		f := AppendFrame(nil, s.s, s.kv, s.body)
		frames = append(frames, f)
		stream = append(stream, f...)
	}
	return stream, frames
}

func readAll(t *testing.T, r *Reader) [][]byte {
	t.Helper()
	var got [][]byte
	for {
		f, err := r.ReadFrame()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("ReadFrame after %d frames: %v", len(got), err)
		}
		got = append(got, append([]byte(nil), f.Raw...))
	}
}

func TestReader_Frames(t *testing.T) {
	stream, frames := testFrames(t)
	readers := []struct {
		name string
		r    func() io.Reader
	}{
		{"buffer", func() io.Reader { return bytes.NewBuffer(stream) }},
		{"one byte", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) }},
		{"half", func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) }},
		{"data+EOF", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) }},
		{"pipe one byte writes", func() io.Reader {
			pr, pw := io.Pipe()
			go func() {
				for i := range stream {
					if _, err := pw.Write(stream[i : i+1]); err != nil {
						return
					}
				}
				pw.Close()
			}()
			return iotest.OneByteReader(pr)
		}},
	}
	for _, rr := range readers {
		t.Run(rr.name, func(t *testing.T) {
			got := readAll(t, NewReader(rr.r(), 0))
			if len(got) != len(frames) {
				t.Fatalf("read %d frames, want %d", len(got), len(frames))
			}
			for i := range frames {
				if !bytes.Equal(got[i], frames[i]) {
					t.Fatalf("frame %d differs", i)
				}
			}
		})
	}
}

func TestReader_EOF(t *testing.T) {
	stream, frames := testFrames(t)
	first := len(frames[0])
	third := first + len(frames[1]) // frames[1] is a PING without body
	tests := []struct {
		name  string
		input []byte
		want  error
	}{
		{"empty stream", nil, io.EOF},
		{"clean EOF after frame", stream[:first], io.EOF},
		{"EOF in magic", stream[:first+1], io.ErrUnexpectedEOF},
		{"EOF in header", stream[:first+HeaderSize-1], io.ErrUnexpectedEOF},
		{"clean EOF after empty frame", stream[:third], io.EOF},
		{"EOF after header", stream[:third+HeaderSize], io.ErrUnexpectedEOF},
		{"EOF in kv", stream[:third+HeaderSize+1], io.ErrUnexpectedEOF},
		{"EOF in body", stream[:len(stream)-1], io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.input), 0)
			var err error
			for err == nil {
				_, err = r.ReadFrame()
			}
			if err != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if _, again := r.ReadFrame(); again != err {
				t.Fatalf("second call = %v, want sticky %v", again, err)
			}
		})
	}
}

func TestReader_OversizeFrame(t *testing.T) {
	// A header claiming a 4 GiB body, followed by nothing.
	h := AppendFrame(nil, FrameSpec{Kind: KindUser}, nil, nil)
	copy(h[offBodyLen:], []byte{0xff, 0xff, 0xff, 0xff})
	r := NewReader(bytes.NewReader(h), 0)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := r.ReadFrame()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Fatalf("allocated %d bytes for a rejected frame", n)
	}
}

func TestReader_LyingLengthAllocatesWhatArrives(t *testing.T) {
	// Within the limit, but the peer sends only 100 bytes of 100 MiB.
	h := AppendFrame(nil, FrameSpec{Kind: KindUser}, nil, nil)
	copy(h[offBodyLen:], []byte{0x06, 0x40, 0x00, 0x00})
	stream := append(h, make([]byte, 100)...)
	r := NewReader(bytes.NewReader(stream), 0)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := r.ReadFrame()
	runtime.ReadMemStats(&after)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Fatalf("allocated %d bytes for 100 bytes of data", n)
	}
}

func TestReader_MaxFrame(t *testing.T) {
	f := AppendFrame(nil, FrameSpec{Kind: KindUser}, nil, make([]byte, 100))
	stream := append(append([]byte(nil), f...), f...)
	r := NewReader(bytes.NewReader(stream), len(f))
	if _, err := r.ReadFrame(); err != nil {
		t.Fatalf("frame at the limit: %v", err)
	}
	r.SetMaxFrame(len(f) - 1)
	if _, err := r.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("frame over the limit: %v", err)
	}
}

func TestReader_BadMagic(t *testing.T) {
	r := NewReader(bytes.NewReader([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), 0)
	if _, err := r.ReadFrame(); err != ErrBadMagic {
		t.Fatalf("err = %v", err)
	}
}

func TestReader_VersionMismatch(t *testing.T) {
	// A future peer whose header is only 3 bytes long still gets a
	// VersionError, not a hang or a truncation error.
	r := NewReader(bytes.NewReader([]byte{0x53, 0x50, 7}), 0)
	_, err := r.ReadFrame()
	var ve *VersionError
	if !errors.As(err, &ve) || ve.Remote != 7 || ve.Local != Version || !errors.Is(err, ErrVersion) {
		t.Fatalf("err = %v", err)
	}
}

func TestReader_VersionRejectBothSides(t *testing.T) {
	// We receive a v2 hello and answer with a reject of our version.
	reject := AppendVersionReject(nil, 2)
	h := Header(reject)
	if h.Kind() != KindHello || !h.Flags().Has(FlagError) || h.Version() != Version {
		t.Fatalf("reject header % x", reject[:HeaderSize])
	}
	f, err := NewReader(bytes.NewReader(reject), 0).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("speaks protocol version %d, not 2", Version); !bytes.Contains(f.Body(), []byte(want)) {
		t.Fatalf("body %q", f.Body())
	}
	// A v2 peer reading it sees v1, which it reports the same way. Simulate
	// by checking the header against a different local version: the first
	// three bytes are what it needs.
	if reject[0] != 0x53 || reject[1] != 0x50 || reject[2] != Version {
		t.Fatalf("stable prefix % x", reject[:3])
	}
}

func TestReader_BufferReuseAndShrink(t *testing.T) {
	small := AppendFrame(nil, FrameSpec{Kind: KindUser}, nil, []byte("small"))
	big := AppendFrame(nil, FrameSpec{Kind: KindUser}, nil, make([]byte, 3<<20))
	var stream []byte
	for _, f := range [][]byte{small, small, big, small} {
		stream = append(stream, f...)
	}
	r := NewReader(bytes.NewReader(stream), 0)
	for range 2 {
		f, _ := r.ReadFrame() // small frames alias the read or the frame buffer: no allocation
		if !aliases(f.Raw, r.br.b) && !aliases(f.Raw, r.buf[:cap(r.buf)]) {
			t.Error("a small frame is in neither of the Reader's buffers")
		}
	}
	f3, err := r.ReadFrame()
	if err != nil || len(f3.Raw) != len(big) {
		t.Fatalf("big frame: %v", err)
	}
	if _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if cap(r.buf) > keepFrameBuf {
		t.Fatalf("buffer of %d bytes kept after a big frame", cap(r.buf))
	}
}

// aliases reports whether p lies within buf.
func aliases(p, buf []byte) bool {
	if len(p) == 0 || len(buf) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(&buf[0]))
	at := uintptr(unsafe.Pointer(&p[0]))
	return at >= start && at+uintptr(len(p)) <= start+uintptr(len(buf))
}
