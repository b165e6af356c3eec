package wire

import (
	"bytes"
	"testing"
	"unsafe"
)

// TestKeeps: keeps finds a reference into the buffer wherever the value
// reaches it, and says so when it cannot tell.
func TestKeeps(t *testing.T) {
	buf := make([]byte, 1000)
	other := make([]byte, 1000)
	inner := buf[10:20:20]
	str := unsafe.String(&buf[500], 5)
	type node struct {
		Next *node
		B    []byte
	}
	type hidden struct{ b []byte } // unexported fields are walked too
	deep := &node{Next: &node{Next: &node{B: inner}}}
	var cycle node
	cycle.Next = &cycle
	cases := []struct {
		name string
		v    any
		want bool
	}{
		{"nil", nil, false},
		{"int", 7, false},
		{"copy", bytes.Clone(buf), false},
		{"other buffer", other, false},
		{"slice of it", inner, true},
		{"its last byte", buf[999:], true},
		{"string in it", str, true},
		{"copied string", string(buf[:5]), false},
		{"pointer to a byte of it", &buf[3], true},
		{"deep in pointers", deep, true},
		{"struct by value", node{B: inner}, true},
		{"unexported field", hidden{b: inner}, true},
		{"unexported copy", hidden{b: bytes.Clone(inner)}, false},
		{"in an interface", []any{1, "x", inner}, true},
		{"map value", map[string][]byte{"a": other, "b": inner}, true},
		{"map key", map[string]int{str: 1}, true},
		{"array", [2][]byte{other, inner}, true},
		{"ints", []int{1, 2, 3}, false},
		{"pointer cycle", &cycle, true}, // past the budget: cannot tell
		{"channel", make(chan int), true},
		{"func", func() {}, true},
		{"unsafe pointer", unsafe.Pointer(&other[0]), true},
		{"nil channel", struct{ C chan int }{}, false},
	}
	for _, c := range cases {
		if got := keeps(c.v, buf); got != c.want {
			t.Errorf("%s: keeps = %v, want %v", c.name, got, c.want)
		}
	}
	if keeps(inner, nil) {
		t.Error("nothing keeps an empty buffer")
	}
}

// TestAssembler_Recycle: a recycled frame is the buffer of a later stream
// of its size, which still gives the frame as sent, and counts in the
// stream's quota like a new one; a frame that is not handed over, or is
// bigger than an assembler allocates whole, is never taken.
func TestAssembler_Recycle(t *testing.T) {
	whole := [2][]byte{bigFrame(t, 1, 300<<10), bigFrame(t, 1, 300<<10)}
	whole[1][HeaderSize+7] ^= 0xff // another frame of the same length
	reused := 0
	a := NewAssembler(0)
	for i := range 40 { // sync.Pool may drop an item (always under -race, at random)
		var got Frame
		for _, c := range splitFrames(t, AppendChunks(nil, whole[i%2], 0)) {
			f, done, err := a.Add(c)
			if err != nil {
				t.Fatal(err)
			}
			if done {
				got = f
			}
		}
		if !bytes.Equal(got.Raw, whole[i%2]) || !got.Owned {
			t.Fatalf("frame %d differs from what was sent", i)
		}
		if a.Held() != 0 || a.Open() != 0 {
			t.Fatalf("frame %d: %d bytes held in %d streams", i, a.Held(), a.Open())
		}
		if i > 0 && &got.Raw[0] == prevRecycled {
			reused++
		}
		prevRecycled = &got.Raw[0]
		a.Recycle(got)
	}
	if reused == 0 {
		t.Fatal("no recycled frame was ever reused")
	}
	a.Recycle(Frame{Raw: make([]byte, 10)}) // not Owned: ignored
	big := Frame{Raw: make([]byte, eagerChunkBuf+1), Owned: true}
	a.Recycle(big)
	if b := recycledFrame(eagerChunkBuf, eagerChunkBuf); cap(b) > eagerChunkBuf {
		t.Fatalf("a %d-byte buffer came back", cap(b))
	}
}

var prevRecycled *byte

// TestAssembler_RecycleWithinQuota: a recycled buffer bigger than what the
// quota leaves is not used for a stream.
func TestAssembler_RecycleWithinQuota(t *testing.T) {
	for range 8 {
		b := make([]byte, 0, 200<<10)
		b = append(b, 1)
		framePools[sizeClass(cap(b))].Put(&b)
	}
	if b := recycledFrame(150<<10, 160<<10); cap(b) > 160<<10 {
		t.Fatalf("a %d-byte buffer for a stream with room for %d", cap(b), 160<<10)
	}
	if b := recycledFrame(150<<10, 1<<20); cap(b) < 150<<10 {
		t.Fatalf("a %d-byte buffer for a %d-byte frame", cap(b), 150<<10)
	}
}

// TestAssembler_SpareAhead: once a stream has carried a frame it
// allocated whole, Next with no stream to continue (the Reader about to
// wait) allocates the next frame's buffer ahead, once, within the byte
// limit; the next stream of that length is assembled in it, one that it
// does not fit drops it, and Reset forgets it.
func TestAssembler_SpareAhead(t *testing.T) {
	feed := func(a *Assembler, whole []byte) Frame {
		t.Helper()
		var got Frame
		for _, c := range splitFrames(t, AppendChunks(nil, whole, 0)) {
			f, done, err := a.Add(c)
			if err != nil {
				t.Fatal(err)
			}
			if done {
				got = f
			}
		}
		if !bytes.Equal(got.Raw, whole) {
			t.Fatal("frame differs from what was sent")
		}
		return got
	}
	a := NewAssembler(0)
	a.Limit(1<<20, 0)
	w1 := bigFrame(t, 1, 600<<10)
	if a.Next() != nil || a.spare != nil {
		t.Fatal("a spare before any stream")
	}
	feed(a, w1)
	a.Next()
	if cap(a.spare) < len(w1) || cap(a.spare) > 1<<20 {
		t.Fatalf("spare of %d bytes after a %d-byte frame", cap(a.spare), len(w1))
	}
	spare := &a.spare[:1][0]
	a.Next()
	if &a.spare[:1][0] != spare {
		t.Fatal("a second spare for the same frame")
	}
	if got := feed(a, bigFrame(t, 2, 600<<10)); &got.Raw[0] != spare {
		t.Fatal("the next stream did not use the spare")
	}
	a.Next()                                                           // one spare per frame carried
	spare, fits := &a.spare[:1][0], cap(a.spare) >= HeaderSize+900<<10 // a recycled buffer may be bigger
	if got := feed(a, bigFrame(t, 4, 900<<10)); (&got.Raw[0] == spare) != fits || a.spare != nil {
		t.Fatalf("a %d-byte spare used %v for a %d-byte frame, or kept", cap(a.spare), fits, len(got.Raw))
	}
	// Within the limit: a 900 KiB frame's spare fits the 1 MiB limit only
	// while no other stream holds its room.
	open := AppendChunks(nil, bigFrame(t, 5, 300<<10), 0)
	first := splitFrames(t, open)[0]
	if _, _, err := a.Add(first); err != nil {
		t.Fatal(err)
	}
	a.Next()
	if a.spare != nil {
		t.Fatalf("a %d-byte spare with %d of %d bytes held", cap(a.spare), a.Held(), 1<<20)
	}
	a.Reset()
	feed(a, w1)
	a.Next()
	a.Reset()
	if a.spare != nil || a.nextWant != 0 {
		t.Fatal("Reset kept a spare")
	}
}
