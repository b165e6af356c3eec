package wire

import (
	"bytes"
	"errors"
	"testing"
)

func bigFrame(t testing.TB, src uint32, n int) []byte {
	t.Helper()
	body := make([]byte, n)
	for i := range body {
		body[i] = byte(i*7 + int(src))
	}
	return AppendFrame(nil, FrameSpec{Kind: KindUser, Dst: 9, Src: src, Auth: src}, nil, body)
}

// splitFrames splits a stream into frames.
func splitFrames(t testing.TB, stream []byte) []Frame {
	t.Helper()
	r := NewReader(bytes.NewReader(stream), 0)
	var out []Frame
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return out
		}
		out = append(out, Frame{Raw: append([]byte(nil), f.Raw...)})
	}
}

func TestChunks_RoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 100, DefaultChunkSize - HeaderSize, DefaultChunkSize, 3*DefaultChunkSize + 5} {
		whole := bigFrame(t, 3, n)
		stream := AppendChunks(nil, whole, 0)
		if len(stream) != ChunkedLen(len(whole), 0) {
			t.Fatalf("n=%d: ChunkedLen %d, stream %d", n, ChunkedLen(len(whole), 0), len(stream))
		}
		chunks := splitFrames(t, stream)
		a := NewAssembler(0)
		for i, c := range chunks {
			h := c.Header()
			if h.Kind() != KindChunk || h.Dst() != 9 || h.Src() != 3 || h.BodyLen() > DefaultChunkSize {
				t.Fatalf("n=%d chunk %d: %s %d->%d body %d", n, i, h.Kind(), h.Src(), h.Dst(), h.BodyLen())
			}
			if got := h.Flags().Has(FlagStart); got != (i == 0) {
				t.Fatalf("n=%d chunk %d: START %v", n, i, got)
			}
			f, done, err := a.Add(c)
			if err != nil {
				t.Fatal(err)
			}
			if done != (i == len(chunks)-1) {
				t.Fatalf("n=%d chunk %d: done %v", n, i, done)
			}
			if done && !bytes.Equal(f.Raw, whole) {
				t.Fatalf("n=%d: reassembled frame differs", n)
			}
		}
		if a.Open() != 0 {
			t.Fatalf("n=%d: %d streams left open", n, a.Open())
		}
	}
}

func TestChunks_SourcesInterleave(t *testing.T) {
	wa, wb := bigFrame(t, 1, 5000), bigFrame(t, 2, 7000)
	ca, cb := splitFrames(t, AppendChunks(nil, wa, 1000)), splitFrames(t, AppendChunks(nil, wb, 1000))
	a := NewAssembler(0)
	var got [][]byte
	for i := 0; i < max(len(ca), len(cb)); i++ {
		for _, cs := range [][]Frame{ca, cb} {
			if i < len(cs) {
				f, done, err := a.Add(cs[i])
				if err != nil {
					t.Fatal(err)
				}
				if done {
					got = append(got, append([]byte(nil), f.Raw...))
				}
			}
		}
	}
	if len(got) != 2 || !bytes.Equal(got[0], wa) || !bytes.Equal(got[1], wb) {
		t.Fatalf("got %d frames", len(got))
	}
}

func TestAssembler_BrokenStreams(t *testing.T) {
	whole := bigFrame(t, 4, 3000)
	chunks := splitFrames(t, AppendChunks(nil, whole, 1000)) // 4 chunks
	other := bigFrame(t, 5, 10)
	otherChunks := splitFrames(t, AppendChunks(nil, other, 0))
	forged := AppendFrame(nil, FrameSpec{Kind: KindUser, Dst: 9, Src: 6, Auth: 6}, nil, []byte("x"))
	forgedChunks := splitFrames(t, AppendChunks(nil, forged, 0))
	forgedChunks[0].Header()[offSrc+3] = 4 // outer src 4, inner src 6

	tests := []struct {
		name  string
		feed  []Frame
		match error
		quiet bool // the failure left the stream open: its rest is discarded quietly
	}{
		{"middle without start", chunks[1:2], ErrMalformed, true},
		{"start twice", []Frame{chunks[0], chunks[0]}, ErrMalformed, true},
		{"inner source differs", forgedChunks, ErrMalformed, false},
		{"over the limit", chunks[:2], ErrFrameTooLarge, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAssembler(0)
			if tt.match == ErrFrameTooLarge {
				a = NewAssembler(1500)
			}
			var err error
			for _, c := range tt.feed {
				if _, _, e := a.Add(c); e != nil && err == nil {
					err = e
				}
			}
			if !errors.Is(err, tt.match) {
				t.Fatalf("err = %v, want %v", err, tt.match)
			}
			// The rest of a broken stream is discarded quietly, other
			// sources are untouched, and the source can start afresh.
			if tt.quiet {
				for _, c := range chunks[len(tt.feed):] {
					if _, done, e := a.Add(c); e != nil || done {
						t.Fatalf("after failure: done %v err %v", done, e)
					}
				}
			}
			f, done, e := a.Add(otherChunks[0])
			if e != nil || !done || !bytes.Equal(f.Raw, other) {
				t.Fatalf("other source: done %v err %v", done, e)
			}
			if tt.match == ErrFrameTooLarge {
				a.max, a.maxBytes = DefaultMaxFrame, DefaultMaxFrame
			}
			var last Frame
			for _, c := range chunks {
				f, done, e := a.Add(c)
				if e != nil {
					t.Fatalf("fresh stream: %v", e)
				}
				if done {
					last = f
				}
			}
			if !bytes.Equal(last.Raw, whole) {
				t.Fatal("fresh stream not reassembled")
			}
		})
	}
}

func TestParseFrame(t *testing.T) {
	f := bigFrame(t, 1, 10)
	if _, err := ParseFrame(f, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFrame(f[:len(f)-1], 0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short: %v", err)
	}
	if _, err := ParseFrame(append(f, 0), 0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("long: %v", err)
	}
	if _, err := ParseFrame(f[:5], 0); err == nil {
		t.Fatal("truncated header accepted")
	}
}

// FuzzAssembler feeds a stream of frames to an Assembler: it must never
// panic, and a reassembled frame must be a valid frame whose addresses match
// the chunks that carried it.
func FuzzAssembler(f *testing.F) {
	f.Add(AppendChunks(nil, bigFrame(f, 1, 300), 100))
	f.Add(append(AppendChunks(nil, bigFrame(f, 1, 50), 20), AppendChunks(nil, bigFrame(f, 2, 50), 30)...))
	f.Add(AppendChunks(nil, AppendChunks(nil, bigFrame(f, 1, 10), 0), 0))
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := NewReader(bytes.NewReader(stream), 1<<20)
		a := NewAssembler(4096)
		a.Limit(6000, 3)
		for {
			c, err := r.ReadFrame()
			if err != nil {
				return
			}
			if a.Held() > 6000 || a.Open() > 3 || a.Held() < 0 || (a.Open() == 0 && a.Held() != 0) {
				t.Fatalf("assembler holds %d bytes in %d streams, limits 6000 and 3", a.Held(), a.Open())
			}
			if c.Header().Kind() != KindChunk {
				continue
			}
			whole, done, err := a.Add(c)
			if err != nil || !done {
				continue
			}
			if _, err := ParseFrame(whole.Raw, 4096); err != nil {
				t.Fatalf("reassembled an invalid frame: %v", err)
			}
			if whole.Header().Src() != c.Header().Src() || whole.Header().Kind() == KindChunk {
				t.Fatal("reassembled frame does not match its chunks")
			}
		}
	})
}

// TestAssembler_Quota: streams beyond the open-stream limit, a frame
// announced beyond the byte limit, and a stream that grows beyond it fail
// with ErrChunkQuota; the stream is dropped, others go on, and Reset frees
// everything.
func TestAssembler_Quota(t *testing.T) {
	a := NewAssembler(1 << 20)
	a.Limit(10<<10, 2)
	var firsts [][]Frame
	for src := uint32(1); src <= 3; src++ {
		firsts = append(firsts, splitFrames(t, AppendChunks(nil, bigFrame(t, src, 4<<10), 1<<10)))
	}
	for i := 0; i < 2; i++ {
		if _, _, err := a.Add(firsts[i][0]); err != nil {
			t.Fatalf("stream %d: %v", i+1, err)
		}
	}
	if a.Held() != 2*len(bigFrame(t, 1, 4<<10)) {
		t.Fatalf("two open streams hold %d bytes, want their announced lengths", a.Held())
	}
	if _, _, err := a.Add(firsts[2][0]); !errors.Is(err, ErrChunkQuota) {
		t.Fatalf("third stream: %v, want ErrChunkQuota", err)
	}
	for i := 0; i < 2; i++ {
		var done bool
		var err error
		for _, c := range firsts[i][1:] {
			if _, done, err = a.Add(c); err != nil {
				t.Fatalf("stream %d: %v", i+1, err)
			}
		}
		if !done {
			t.Fatalf("stream %d not done", i+1)
		}
	}
	if a.Open() != 0 || a.Held() != 0 {
		t.Fatalf("%d open, %d held", a.Open(), a.Held())
	}

	// A frame announced over what the limit leaves fails at its START,
	// before anything is allocated for it.
	big := splitFrames(t, AppendChunks(nil, bigFrame(t, 1, 8<<10), 1<<10))
	if _, _, err := a.Add(big[0]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Add(splitFrames(t, AppendChunks(nil, bigFrame(t, 2, 8<<10), 1<<10))[0]); !errors.Is(err, ErrChunkQuota) {
		t.Fatalf("second 8 KiB stream: %v, want ErrChunkQuota", err)
	}
	if a.Held() != len(bigFrame(t, 1, 8<<10)) || a.Open() != 1 {
		t.Fatalf("held %d bytes in %d streams", a.Held(), a.Open())
	}
	a.Reset()

	// A stream whose first chunk is too short to announce its length
	// grows with what arrives, until the limit.
	short := splitFrames(t, AppendChunks(nil, bigFrame(t, 3, 16<<10), 16))
	var err error
	for _, c := range short {
		if _, _, err = a.Add(c); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrChunkQuota) {
		t.Fatalf("growing stream: %v, want ErrChunkQuota", err)
	}
	if a.Held() > 10<<10 || a.Open() != 0 {
		t.Fatalf("held %d bytes in %d streams", a.Held(), a.Open())
	}
	a.Add(firsts[2][0])
	a.Reset()
	if a.Open() != 0 || a.Held() != 0 {
		t.Fatalf("after Reset: %d open, %d held", a.Open(), a.Held())
	}
}

// TestAppendChunkHeaders_MatchAppendChunks: the headers interleaved with
// the slices of the whole frame are the bytes AppendChunks writes.
func TestAppendChunkHeaders_MatchAppendChunks(t *testing.T) {
	for _, n := range []int{0, 1, 100, 128, 129, 1000} {
		whole := AppendFrame(nil, FrameSpec{Kind: KindUser, Dst: 3, Src: 1, Auth: 1}, nil, bytes.Repeat([]byte{7}, n))
		const chunk = 128
		hdrs := AppendChunkHeaders(nil, whole, chunk)
		var got []byte
		for i := 0; i*HeaderSize < len(hdrs); i++ {
			got = append(got, hdrs[i*HeaderSize:(i+1)*HeaderSize]...)
			got = append(got, whole[i*chunk:min((i+1)*chunk, len(whole))]...)
		}
		if want := AppendChunks(nil, whole, chunk); !bytes.Equal(got, want) {
			t.Fatalf("body %d: headers and slices differ from AppendChunks", n)
		}
	}
}
