package wire

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestHeader_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		spec FrameSpec
		kv   []byte
		body []byte
	}{
		{"empty", FrameSpec{}, nil, nil},
		{"hello", FrameSpec{Kind: KindHello}, nil, []byte("x")},
		{"user", FrameSpec{Kind: KindUser, Dst: 7, Src: 1, Auth: 1}, []byte{1, 'a', 0, 0}, []byte("payload")},
		{"max ids", FrameSpec{Kind: KindDead, Flags: FlagError | FlagFDs, Dst: math.MaxUint32, Src: math.MaxUint32 - 1, Auth: 1 << 31}, nil, make([]byte, 1000)},
		{"unknown kind", FrameSpec{Kind: 0xffff, Flags: 0xff}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix")
			buf := AppendFrame(append([]byte(nil), prefix...), tt.spec, tt.kv, tt.body)
			if !bytes.Equal(buf[:len(prefix)], prefix) {
				t.Fatal("prefix clobbered")
			}
			f := Frame{Raw: buf[len(prefix):]}
			h := f.Header()
			if err := h.Check(0); err != nil {
				t.Fatal(err)
			}
			if h.Magic() != Magic || h.Version() != Version || h.Kind() != tt.spec.Kind ||
				h.Flags() != tt.spec.Flags || h.Dst() != tt.spec.Dst || h.Src() != tt.spec.Src ||
				h.Auth() != tt.spec.Auth || h.KVLen() != len(tt.kv) || h.BodyLen() != len(tt.body) {
				t.Fatalf("header fields do not match %+v: % x", tt.spec, []byte(h))
			}
			if h.FrameLen() != len(f.Raw) {
				t.Fatalf("FrameLen %d, frame %d bytes", h.FrameLen(), len(f.Raw))
			}
			if !bytes.Equal(f.KV(), tt.kv) || !bytes.Equal(f.Body(), tt.body) {
				t.Fatal("kv or body differ")
			}

			// BeginFrame/FinishFrame give the same bytes.
			b2, start := BeginFrame(append([]byte(nil), prefix...), tt.spec)
			if start != len(prefix) {
				t.Fatalf("start = %d", start)
			}
			b2 = append(append(b2, tt.kv...), tt.body...)
			if err := FinishFrame(b2, start, len(tt.kv)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b2, buf) {
				t.Fatalf("BeginFrame/FinishFrame\n got % x\nwant % x", b2, buf)
			}
		})
	}
}

func TestHeader_SetDst(t *testing.T) {
	buf := AppendFrame(nil, FrameSpec{Kind: KindUser, Dst: 1, Src: 2, Auth: 3}, nil, []byte("b"))
	h := Header(buf)
	h.SetDst(99)
	if h.Dst() != 99 || h.Src() != 2 || h.Auth() != 3 || h.BodyLen() != 1 {
		t.Fatalf("after SetDst: % x", buf)
	}
	Header(buf[:5]).SetDst(1) // short: no-op, no panic
}

func TestHeader_Check(t *testing.T) {
	good := AppendFrame(nil, FrameSpec{Kind: KindPing}, nil, make([]byte, 100))
	mod := func(f func(b []byte)) Header {
		b := append([]byte(nil), good[:HeaderSize]...)
		f(b)
		return b
	}
	tests := []struct {
		name     string
		h        Header
		maxFrame int
		want     error
	}{
		{"ok", good[:HeaderSize], 0, nil},
		{"exact limit", good[:HeaderSize], HeaderSize + 100, nil},
		{"one over", good[:HeaderSize], HeaderSize + 99, ErrFrameTooLarge},
		{"bad magic", mod(func(b []byte) { b[0] = 'X' }), 0, ErrBadMagic},
		{"version", mod(func(b []byte) { b[2] = 2 }), 0, ErrVersion},
		{"4 GiB body", mod(func(b []byte) { copy(b[offBodyLen:], []byte{0xff, 0xff, 0xff, 0xff}) }), 0, ErrFrameTooLarge},
		{"nil", nil, 0, ErrTruncated},
		{"one byte", good[:1], 0, ErrTruncated},
		{"magic only", good[:2], 0, ErrTruncated},
		{"magic+version", good[:3], 0, ErrTruncated},
		{"short", good[:HeaderSize-1], 0, ErrTruncated},
		{"short bad magic", Header("XX"), 0, ErrBadMagic},
		{"short bad version", Header{0x53, 0x50, 9}, 0, ErrVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.h.Check(tt.maxFrame)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestHeader_CheckVersionError(t *testing.T) {
	h := Header(AppendFrame(nil, FrameSpec{}, nil, nil))
	h[offVersion] = 2
	var ve *VersionError
	err := h.Check(0)
	if !errors.As(err, &ve) || ve.Local != 1 || ve.Remote != 2 {
		t.Fatalf("Check = %v", err)
	}
	if got, want := err.Error(), "wire: protocol version mismatch: we speak 1, peer speaks 2"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestHeader_TooLargeMessage(t *testing.T) {
	h := Header(AppendFrame(nil, FrameSpec{}, nil, make([]byte, 10)))
	err := h.Check(20)
	if !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), "34 bytes") || !strings.Contains(err.Error(), "limit 20") {
		t.Fatalf("Check = %v", err)
	}
}

func TestHeader_ShortAccessorsDoNotPanic(t *testing.T) {
	for n := 0; n < HeaderSize; n++ {
		h := Header(make([]byte, n))
		_ = h.Magic() + uint16(h.Version()) + uint16(h.Flags()) + uint16(h.Kind())
		_ = h.KVLen() + h.BodyLen() + h.FrameLen()
		_ = h.Dst() + h.Src() + h.Auth()
		f := Frame{Raw: h}
		_, _, _ = f.Header(), f.KV(), f.Body()
	}
	// A hand-built frame whose header lies about its lengths.
	lying := AppendFrame(nil, FrameSpec{}, []byte("kv"), []byte("body"))
	f := Frame{Raw: lying[:HeaderSize+3]}
	if f.KV() == nil || f.Body() != nil {
		t.Fatalf("KV %q Body %q", f.KV(), f.Body())
	}
}

func TestFinishFrame_Errors(t *testing.T) {
	buf, start := BeginFrame([]byte("xx"), FrameSpec{Kind: KindUser})
	buf = append(buf, "kvbody"...)
	tests := []struct {
		name         string
		buf          []byte
		start, kvLen int
	}{
		{"negative start", buf, -1, 0},
		{"start past end", buf, len(buf) + 1, 0},
		{"no room for header", buf[:start+HeaderSize-1], start, 0},
		{"negative kv", buf, start, -1},
		{"kv past end", buf, start, 7},
		{"kv over limit", append(buf, make([]byte, MaxKVLen)...), start, MaxKVLen + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]byte(nil), tt.buf...)
			if err := FinishFrame(tt.buf, tt.start, tt.kvLen); !errors.Is(err, ErrMalformed) {
				t.Fatalf("FinishFrame = %v", err)
			}
			if !bytes.Equal(before, tt.buf) {
				t.Fatal("buffer changed on error")
			}
		})
	}
	if err := FinishFrame(buf, start, 2); err != nil {
		t.Fatal(err)
	}
	f := Frame{Raw: buf[start:]}
	if string(f.KV()) != "kv" || string(f.Body()) != "body" {
		t.Fatalf("kv %q body %q", f.KV(), f.Body())
	}
}

func TestCheckLen(t *testing.T) {
	tests := []struct {
		kv, body, max int
		want          error
	}{
		{0, 0, 0, nil},
		{10, 100, HeaderSize + 110, nil},
		{10, 101, HeaderSize + 110, ErrFrameTooLarge},
		{0, DefaultMaxFrame, 0, ErrFrameTooLarge},
		{MaxKVLen + 1, 0, 0, ErrMalformed},
		{-1, 0, 0, ErrMalformed},
		{0, -1, 0, ErrMalformed},
	}
	for _, tt := range tests {
		err := CheckLen(tt.kv, tt.body, tt.max)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("CheckLen(%d, %d, %d) = %v, want %v", tt.kv, tt.body, tt.max, err, tt.want)
		}
	}
}

func TestKind_String(t *testing.T) {
	tests := []struct {
		k       Kind
		s       string
		known   bool
		control bool
	}{
		{KindUser, "USER", true, false},
		{KindAddRoute, "ADD_ROUTE", true, true},
		{KindDead, "IS_DEAD", true, true},
		{KindGetBinary, "GET_BINARY", true, true},
		{KindSpawnActor, "SPAWN_ACTOR", true, true},
		{KindStreamOpen, "STREAM_OPEN", true, true},
		{KindStreamData, "STREAM_DATA", true, false},
		{KindStreamReset, "STREAM_RESET", true, true},
		{KindHello, "HELLO", true, true},
		{77, "KIND(77)", false, true},
	}
	for _, tt := range tests {
		if tt.k.String() != tt.s || tt.k.Known() != tt.known || tt.k.Control() != tt.control {
			t.Errorf("%d: %q known %v control %v", uint16(tt.k), tt.k.String(), tt.k.Known(), tt.k.Control())
		}
	}
}

func TestFlags_String(t *testing.T) {
	tests := []struct {
		f    Flags
		want string
	}{
		{0, "0"},
		{FlagStart | FlagEnd, "START|END"},
		{FlagFDs, "FDS"},
		{FlagError | FlagStart, "START|ERROR"},
		{FlagStart | 0x30, "START|0x30"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("Flags(%d) = %q, want %q", uint8(tt.f), got, tt.want)
		}
	}
	if !(FlagStart | FlagEnd).Has(FlagEnd) || FlagStart.Has(FlagStart|FlagEnd) {
		t.Error("Has")
	}
}
