package wire

import (
	"bytes"
	"io"
	"testing"
)

// TestReader_BuffersShrinkWhenStreamSlows: a stream that arrives in large
// reads grows the read buffer to maxReadBuf and a large frame grows the
// frame buffer; small frames arriving one read at a time shrink both back,
// so an idle link holds a few KiB.
func TestReader_BuffersShrinkWhenStreamSlows(t *testing.T) {
	small := AppendFrame(nil, FrameSpec{Kind: KindPing}, nil, []byte("x"))
	var burst bytes.Buffer
	for burst.Len() < 4*maxReadBuf {
		burst.Write(small)
	}
	big := AppendFrame(nil, FrameSpec{Kind: KindUser}, nil, make([]byte, 1<<20))
	pr, pw := io.Pipe()
	r := NewReader(pr, 0)
	go func() {
		_, _ = pw.Write(burst.Bytes())
		_, _ = pw.Write(big)
		for range 2 * shrinkFrameAfter {
			_, _ = pw.Write(small) // one frame per read: the stream slowed down
		}
		_ = pw.Close()
	}()
	var grown, frameGrown int
	for {
		f, err := r.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		grown, frameGrown = max(grown, len(r.br.b)), max(frameGrown, cap(f.Raw))
	}
	if grown != maxReadBuf || frameGrown < 1<<20 {
		t.Fatalf("buffers never grew: read %d, frame %d", grown, frameGrown)
	}
	if got := len(r.br.b); got > minReadBuf {
		t.Errorf("read buffer %d bytes after the stream slowed down, want %d", got, minReadBuf)
	}
	if got := cap(r.buf); got > initialFrameBuf {
		t.Errorf("frame buffer %d bytes after %d small frames, want %d", got, 2*shrinkFrameAfter, initialFrameBuf)
	}
}

// TestReader_ShortReadsAndErrors: the read buffer passes every byte and
// the source's error once, whatever the read sizes.
func TestReader_ShortReadsAndErrors(t *testing.T) {
	stream, frames := testFrames(t)
	for _, name := range []string{"one byte", "half"} {
		var src io.Reader = bytes.NewReader(stream)
		if name == "one byte" {
			src = &oneByte{stream}
		}
		r := NewReader(src, 0)
		for i, want := range frames {
			f, err := r.ReadFrame()
			if err != nil || !bytes.Equal(f.Raw, want) {
				t.Fatalf("%s: frame %d: %v", name, i, err)
			}
		}
		if _, err := r.ReadFrame(); err != io.EOF {
			t.Fatalf("%s: after the last frame: %v, want io.EOF", name, err)
		}
	}
}

type oneByte struct{ b []byte }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0], o.b = o.b[0], o.b[1:]
	return 1, nil
}
