package wire

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// gapPlanned has a struct plan; gapReflective has none (a nested struct
// and a map), and reaches []byte values in both.
type (
	gapPlanned struct {
		N    int
		Big  []byte
		Name string
		More []byte
	}
	gapInner struct {
		Data []byte
	}
	gapReflective struct {
		In  gapInner
		Ptr *gapInner
		M   map[string][]byte
		L   [][]byte
	}
	// gapCustom runs its own encoder, which gets the encoder itself: it
	// keeps copying.
	gapCustom struct {
		B []byte
	}
	gapAny struct {
		V any
		B []byte
	}
	gapNoBytes struct {
		N int
		S []string
	}
)

func (c *gapCustom) EncodeMsgpack(e *msgpack.Encoder) error {
	scratch := bytes.Clone(c.B)
	err := e.Encode(gapInner{Data: scratch})
	clear(scratch) // a gap of scratch would now be zeros
	return err
}

func gapRegistry(t *testing.T) *Registry {
	t.Helper()
	r := NewRegistry()
	for _, err := range []error{
		Register[gapPlanned](r, "gp"), Register[gapReflective](r, "gr"), Register[gapCustom](r, "gc"),
		Register[gapAny](r, "ga"), Register[gapNoBytes](r, "gn"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func gapBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

// encodeGapped encodes msg as sendUser does, into a buffer with a prefix,
// and returns the frame filled in and its pieces.
func encodeGapped(t *testing.T, r *Registry, msg any) (filled []byte, p Pieces, g *Gaps) {
	t.Helper()
	enc, err := r.EncodingOf(msg)
	if err != nil {
		t.Fatal(err)
	}
	g = new(Gaps)
	if !enc.MayGap() {
		g = nil
	}
	b, start := BeginFrame([]byte("prefix"), FrameSpec{Kind: KindUser, Dst: 1, Src: 2, Auth: 2})
	b = AppendEnvelopeHead(b, Envelope{Target: "x", Type: enc.Name})
	if out, ok := enc.AppendPlannedGaps(b, msg, g); ok {
		b = out
	} else if b, _, err = r.AppendPayloadGaps(b, msg, g); err != nil {
		t.Fatal(err)
	}
	if err := FinishFrameGaps(b, start, 0, g); err != nil {
		t.Fatal(err)
	}
	p = g.Pieces(b, start)
	return p.AppendTo(nil), p, g
}

// TestGaps_EncodeAsCopies: a frame encoded with gaps, once its gaps are
// filled in, is the frame encoded without them, for planned and
// reflective types; values shorter than GapMin are copied; types whose
// own code runs while they are encoded, or with nothing to leave out,
// leave no gap; and the pieces give the frame's bytes for any range.
func TestGaps_EncodeAsCopies(t *testing.T) {
	r := gapRegistry(t)
	big, small := gapBytes(GapMin, 1), gapBytes(GapMin-1, 2)
	cases := []struct {
		name string
		msg  any
		gaps int
	}{
		{"planned", &gapPlanned{N: 5, Big: big, Name: "n", More: gapBytes(300<<10, 3)}, 2},
		{"planned value", gapPlanned{Big: big}, 1},
		{"planned short", &gapPlanned{Big: small, More: nil}, 0},
		{"reflective", &gapReflective{In: gapInner{Data: big}, Ptr: &gapInner{Data: small},
			M: map[string][]byte{"k": gapBytes(GapMin+5, 4)}, L: [][]byte{big, nil, small}}, 3},
		{"custom encoder", &gapCustom{B: big}, 0},
		{"interface field", &gapAny{V: 1, B: big}, 0},
		{"no bytes", &gapNoBytes{N: 1, S: []string{"a"}}, 0},
	}
	for _, c := range cases {
		filled, p, g := encodeGapped(t, r, c.msg)
		if len(p.Gaps) != c.gaps {
			t.Errorf("%s: %d gaps, want %d", c.name, len(p.Gaps), c.gaps)
		}
		enc, _ := r.EncodingOf(c.msg)
		b, start := BeginFrame([]byte("prefix"), FrameSpec{Kind: KindUser, Dst: 1, Src: 2, Auth: 2})
		b = AppendEnvelopeHead(b, Envelope{Target: "x", Type: enc.Name})
		_, b, err := r.AppendEncode(b, c.msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := FinishFrame(b, start, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(filled, b[start:]) {
			t.Errorf("%s: the frame with its gaps filled differs from the one without gaps", c.name)
			continue
		}
		if p.Len() != len(filled) || Header(filled).FrameLen() != len(filled) {
			t.Errorf("%s: pieces of %d bytes, frame %d, header says %d", c.name, p.Len(), len(filled), Header(filled).FrameLen())
		}
		rng := rand.New(rand.NewPCG(uint64(len(filled)), 7))
		for range 200 {
			off := rng.IntN(len(filled) + 1)
			end := off + rng.IntN(len(filled)-off+1)
			var vec []byte
			for _, piece := range p.Vec(nil, off, end) {
				if len(piece) == 0 {
					t.Fatalf("%s: an empty piece", c.name)
				}
				vec = append(vec, piece...)
			}
			if !bytes.Equal(vec, filled[off:end]) || !bytes.Equal(p.AppendRange(nil, off, end), filled[off:end]) {
				t.Fatalf("%s: bytes [%d, %d) of the pieces differ", c.name, off, end)
			}
		}
		if !bytes.Equal(AppendChunksOf(nil, p, 1000), AppendChunks(nil, filled, 1000)) ||
			!bytes.Equal(AppendChunkHeadersOf(nil, p, 1000), AppendChunkHeaders(nil, filled, 1000)) {
			t.Errorf("%s: chunks of the pieces differ", c.name)
		}
		if g != nil {
			g.Reset()
			if g.Len() != 0 || len(g.List()) != 0 {
				t.Errorf("%s: Reset left %d bytes", c.name, g.Len())
			}
		}
	}
}

// TestGaps_Fill: Fill puts the gaps' bytes in place, as a frame with
// descriptors needs it, and empties the gaps.
func TestGaps_Fill(t *testing.T) {
	r := gapRegistry(t)
	msg := &gapPlanned{Big: gapBytes(GapMin*2, 9), More: gapBytes(GapMin, 8)}
	enc, _ := r.EncodingOf(msg)
	g := new(Gaps)
	b, _ := enc.AppendPlannedGaps(nil, msg, g)
	if g.Len() != 3*GapMin {
		t.Fatalf("gaps of %d bytes", g.Len())
	}
	b = g.Fill(b)
	want, _ := msgpack.Marshal(msg)
	if !bytes.Equal(b, want) || g.Len() != 0 {
		t.Fatalf("filled payload differs from msgpack's (%d, %d bytes; %d left in gaps)", len(b), len(want), g.Len())
	}
	var none *Gaps
	if none.Len() != 0 || !bytes.Equal(none.Fill([]byte("x")), []byte("x")) || none.Pieces([]byte("ab"), 1).Len() != 1 {
		t.Fatal("a nil Gaps is not empty")
	}
}
