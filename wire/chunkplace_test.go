package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// countingPlacer is an Assembler as a Placer that counts the chunks it
// placed.
type countingPlacer struct {
	*Assembler
	placed int
}

func (p *countingPlacer) Place(h Header) []byte {
	b := p.Assembler.Place(h)
	if b != nil {
		p.placed++
	}
	return b
}

// addResult is what one Add gave.
type addResult struct {
	done  bool
	err   bool
	whole []byte
}

// feedStream reads stream through a Reader and adds its chunks to a (placing
// them when place is set), except the frames drop says the router drops.
func feedStream(t testing.TB, stream []byte, a *Assembler, place bool, drop func(i int, h Header) bool) []addResult {
	t.Helper()
	r := NewReader(bytes.NewReader(stream), 1<<24)
	if place {
		r.SetPlacer(a)
	}
	var out []addResult
	for i := 0; ; i++ {
		c, err := r.ReadFrame()
		if err != nil {
			return out
		}
		if c.Header().Kind() != KindChunk || drop(i, c.Header()) {
			continue
		}
		whole, done, err := a.Add(c)
		out = append(out, addResult{done: done, err: err != nil, whole: append([]byte(nil), whole.Raw...)})
	}
}

// feedStreamRecycled is feedStream with placement that recycles every
// frame the assembler completes once its bytes are copied.
func feedStreamRecycled(t testing.TB, stream []byte, a *Assembler, drop func(i int, h Header) bool) []addResult {
	t.Helper()
	r := NewReader(bytes.NewReader(stream), 1<<24)
	r.SetPlacer(a)
	var out []addResult
	for i := 0; ; i++ {
		c, err := r.ReadFrame()
		if err != nil {
			return out
		}
		if c.Header().Kind() != KindChunk || drop(i, c.Header()) {
			continue
		}
		whole, done, err := a.Add(c)
		out = append(out, addResult{done: done, err: err != nil, whole: append([]byte(nil), whole.Raw...)})
		if done {
			a.Recycle(whole)
		}
	}
}

// TestAssembler_PlacedChunks: chunks read through a Reader whose Placer is
// the Assembler land in the frame they carry without a copy, and the frames
// come out as sent, with other frames and sources in between.
func TestAssembler_PlacedChunks(t *testing.T) {
	wa, wb := bigFrame(t, 1, 1<<20), bigFrame(t, 2, 300<<10)
	small := AppendFrame(nil, FrameSpec{Kind: KindUser, Dst: 9, Src: 5, Auth: 5}, nil, []byte("between"))
	ca, cb := splitFrames(t, AppendChunks(nil, wa, 0)), splitFrames(t, AppendChunks(nil, wb, 0))
	var stream []byte
	for i := 0; i < max(len(ca), len(cb)); i++ {
		for _, cs := range [][]Frame{ca, cb} {
			if i < len(cs) {
				stream = append(stream, cs[i].Raw...)
			}
		}
		stream = append(stream, small...)
	}
	a := NewAssembler(0)
	p := &countingPlacer{Assembler: a}
	r := NewReader(bytes.NewReader(stream), 0)
	r.SetPlacer(p)
	var got [][]byte
	for {
		f, err := r.ReadFrame()
		if err != nil {
			break
		}
		if f.Header().Kind() != KindChunk {
			if !bytes.Equal(f.Raw, small) {
				t.Fatal("frame between chunks changed")
			}
			continue
		}
		whole, done, err := a.Add(f)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			got = append(got, append([]byte(nil), whole.Raw...))
		}
	}
	if len(got) != 2 || !bytes.Equal(got[0], wb) || !bytes.Equal(got[1], wa) {
		t.Fatalf("got %d frames, or they differ", len(got))
	}
	// Every chunk of full size but the first of each stream is placed
	// (shorter ones may be wholly in the read buffer already: copied).
	want := 0
	for _, cs := range [][]Frame{ca, cb} {
		for _, c := range cs[1:] {
			if c.Header().BodyLen() == DefaultChunkSize {
				want++
			}
		}
	}
	if p.placed < want {
		t.Fatalf("%d chunks placed, want at least %d", p.placed, want)
	}
	if a.Open() != 0 || a.Held() != 0 {
		t.Fatalf("%d open, %d held", a.Open(), a.Held())
	}
}

// TestAssembler_PlacedChunkDropped: a chunk placed in a stream and then
// dropped (by the router: the Assembler never sees it) leaves the stream as
// it was; the same chunk added instead completes the frame unchanged, and
// a stream that lost a chunk ends shorter than it announced: broken.
func TestAssembler_PlacedChunkDropped(t *testing.T) {
	whole := bigFrame(t, 3, 600<<10)
	chunks := splitFrames(t, AppendChunks(nil, whole, 0))
	stream := AppendChunks(nil, whole, 0)

	a := NewAssembler(0)
	res := feedStream(t, stream, a, true, func(i int, _ Header) bool { return i == 2 })
	if last := res[len(res)-1]; !last.err || last.done {
		t.Fatalf("stream without its third chunk: done %v err %v, want broken", last.done, last.err)
	}
	if a.Open() != 0 || a.Held() != 0 {
		t.Fatalf("%d open, %d held", a.Open(), a.Held())
	}

	// Dropped once, then added again (a copy, not placed).
	r := NewReader(bytes.NewReader(stream), 0)
	r.SetPlacer(a)
	var out Frame
	for i := 0; ; i++ {
		c, err := r.ReadFrame()
		if err != nil {
			break
		}
		if i == 2 { // placed, dropped; its copy added instead
			c = chunks[2]
		}
		f, done, err := a.Add(c)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if done {
			out = f
		}
	}
	if !bytes.Equal(out.Raw, whole) {
		t.Fatal("frame differs after a placed chunk was dropped and added again")
	}
}

// TestAssembler_LyingLength: a chunked frame whose header announces another
// length than its chunks carry is broken, whether it carries more or fewer
// bytes; one announced over the limit or with a bad header fails at its
// START, holding nothing.
func TestAssembler_LyingLength(t *testing.T) {
	whole := bigFrame(t, 4, 5000)
	lie := func(bodyLen uint32) []Frame {
		w := append([]byte(nil), whole...)
		binary.BigEndian.PutUint32(w[offBodyLen:], bodyLen)
		return splitFrames(t, AppendChunks(nil, w, 1000))
	}
	badMagic := append([]byte(nil), whole...)
	badMagic[0] = 'X'
	tests := []struct {
		name  string
		feed  []Frame
		match error
	}{
		{"announces less", lie(3000), ErrMalformed},
		{"announces more", lie(7000), ErrMalformed},
		{"announces over the limit", lie(1 << 30), ErrFrameTooLarge},
		{"bad inner magic", splitFrames(t, AppendChunks(nil, badMagic, 1000)), ErrBadMagic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, place := range []bool{false, true} {
				a := NewAssembler(1 << 20)
				var w bytes.Buffer
				for _, c := range tt.feed {
					w.Write(c.Raw)
				}
				var err error
				var done bool
				r := NewReader(bytes.NewReader(w.Bytes()), 0)
				if place {
					r.SetPlacer(a)
				}
				for {
					c, e := r.ReadFrame()
					if e != nil {
						break
					}
					_, d, e := a.Add(c)
					done = done || d
					if e != nil && err == nil {
						err = e
					}
					if a.Held() > 1<<20 {
						t.Fatalf("holds %d bytes", a.Held())
					}
				}
				if !errors.Is(err, tt.match) || done {
					t.Fatalf("place %v: err = %v (done %v), want %v", place, err, done, tt.match)
				}
				if a.Open() != 0 || a.Held() != 0 {
					t.Fatalf("place %v: %d open, %d held after the broken stream", place, a.Open(), a.Held())
				}
			}
		})
	}
}

// TestAssembler_OutOfOrderAndTruncated: chunks out of order, a stream cut
// short by the end of the link, chunks of a stream after its END: the
// Assembler never panics, never holds more than its limit, and what it
// gives out is a valid frame of the announced length or an error, with or
// without placement (both see the same).
func TestAssembler_OutOfOrderAndTruncated(t *testing.T) {
	whole := bigFrame(t, 6, 700<<10)
	chunks := splitFrames(t, AppendChunks(nil, whole, 0))
	join := func(fs ...Frame) []byte {
		var b []byte
		for _, f := range fs {
			b = append(b, f.Raw...)
		}
		return b
	}
	swapped := append([]Frame(nil), chunks...)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	endFirst := append([]Frame{chunks[len(chunks)-1]}, chunks...)
	streams := map[string][]byte{
		"swapped":        join(swapped...),
		"end first":      join(endFirst...),
		"start last":     join(append(append([]Frame(nil), chunks[1:]...), chunks[0])...),
		"truncated":      join(chunks...)[:len(join(chunks...))-5000],
		"cut in a chunk": join(chunks[:3]...)[:2*(DefaultChunkSize+HeaderSize)+100],
		"twice":          join(append(append([]Frame(nil), chunks...), chunks...)...),
	}
	for name, stream := range streams {
		t.Run(name, func(t *testing.T) {
			none := func(int, Header) bool { return false }
			plain := feedStream(t, stream, NewAssembler(1<<20), false, none)
			a := NewAssembler(1 << 20)
			placed := feedStream(t, stream, a, true, none)
			if len(plain) != len(placed) {
				t.Fatalf("%d results without placement, %d with", len(plain), len(placed))
			}
			for i := range plain {
				if plain[i].done != placed[i].done || plain[i].err != placed[i].err || !bytes.Equal(plain[i].whole, placed[i].whole) {
					t.Fatalf("result %d differs: %+v / %+v", i, plain[i].done, placed[i].done)
				}
				if placed[i].done {
					if _, err := ParseFrame(placed[i].whole, 1<<20); err != nil || len(placed[i].whole) != len(whole) {
						t.Fatalf("result %d: %d bytes, %v", i, len(placed[i].whole), err)
					}
				}
			}
			if a.Held() > 1<<20 {
				t.Fatalf("holds %d bytes", a.Held())
			}
		})
	}
}

// FuzzAssemblerPlaced: reading chunks through a Reader with the Assembler
// as its Placer, with some frames dropped before the Assembler sees them as
// a router would, gives exactly what copying every chunk gives.
func FuzzAssemblerPlaced(f *testing.F) {
	f.Add(AppendChunks(nil, bigFrame(f, 1, 3000), 500), uint8(0))
	f.Add(append(AppendChunks(nil, bigFrame(f, 1, 5000), 1000), AppendChunks(nil, bigFrame(f, 2, 3000), 700)...), uint8(3))
	f.Add(AppendChunks(nil, bigFrame(f, 1, 300), 100), uint8(1))
	f.Fuzz(func(t *testing.T, stream []byte, every uint8) {
		drop := func(i int, h Header) bool { return every > 0 && (i+int(h.Src()))%int(every) == 0 }
		a := NewAssembler(8192)
		a.Limit(12000, 3)
		plain := feedStream(t, stream, func() *Assembler { b := NewAssembler(8192); b.Limit(12000, 3); return b }(), false, drop)
		placed := feedStream(t, stream, a, true, drop)
		// Every frame given back at once: later streams are assembled in
		// buffers that held other frames.
		r := NewAssembler(8192)
		r.Limit(12000, 3)
		recycled := feedStreamRecycled(t, stream, r, drop)
		if len(plain) != len(placed) || len(plain) != len(recycled) {
			t.Fatalf("%d results without placement, %d with, %d recycling", len(plain), len(placed), len(recycled))
		}
		for i := range plain {
			for _, o := range []addResult{placed[i], recycled[i]} {
				if plain[i].done != o.done || plain[i].err != o.err || !bytes.Equal(plain[i].whole, o.whole) {
					t.Fatalf("result %d differs", i)
				}
			}
		}
		for _, a := range []*Assembler{a, r} {
			if a.Held() > 12000 || a.Open() > 3 || a.Held() < 0 || (a.Open() == 0 && a.Held() != 0) {
				t.Fatalf("assembler holds %d bytes in %d streams", a.Held(), a.Open())
			}
		}
	})
}

// TestAssembler_PlacedShortReads: with a source that returns a few bytes
// per read, and one that returns its error with the last bytes, placed and
// guessed chunks still give the frame as sent.
func TestAssembler_PlacedShortReads(t *testing.T) {
	whole := bigFrame(t, 7, 300<<10)
	ping := AppendFrame(nil, FrameSpec{Kind: KindPing}, nil, nil)
	cs := splitFrames(t, AppendChunks(nil, whole, 0))
	var stream []byte
	for i, c := range cs {
		stream = append(stream, c.Raw...)
		if i == 1 {
			stream = append(stream, ping...) // not a chunk, between chunks
		}
	}
	for name, src := range map[string]func() io.Reader{
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
		"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"data+EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) },
	} {
		a := NewAssembler(0)
		r := NewReader(src(), 0)
		r.SetPlacer(a)
		var out []byte
		pings := 0
		for {
			f, err := r.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if f.Header().Kind() == KindPing {
				pings++
				continue
			}
			w, done, err := a.Add(f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if done {
				out = append([]byte(nil), w.Raw...)
			}
		}
		if !bytes.Equal(out, whole) || pings != 1 {
			t.Fatalf("%s: frame differs (%d bytes) or %d pings", name, len(out), pings)
		}
	}
}
