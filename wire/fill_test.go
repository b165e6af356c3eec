package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// timeoutErr is what a read deadline gives.
type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

// scriptSource serves stream in reads whose sizes come from script, and,
// while timeouts is on, answers some reads with a timeout instead.
type scriptSource struct {
	stream   []byte
	script   []byte
	step     int
	timeouts bool
}

func (s *scriptSource) next() byte {
	if len(s.script) == 0 {
		return 7
	}
	b := s.script[s.step%len(s.script)]
	s.step++
	return b
}

func (s *scriptSource) Read(p []byte) (int, error) {
	b := s.next()
	if s.timeouts && b%5 == 0 {
		return 0, timeoutErr{}
	}
	if len(s.stream) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(s.stream), 1+int(b)*int(b)%200)
	copy(p, s.stream[:n])
	s.stream = s.stream[n:]
	return n, nil
}

// readAlone reads stream with ReadFrame alone: the reference.
func readAlone(stream []byte) ([][]byte, error) {
	r := NewReader(bytes.NewReader(stream), 1<<16)
	var out [][]byte
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return out, err
		}
		out = append(out, bytes.Clone(f.Raw))
	}
}

// readMixed reads stream as a link whose read side passes between its
// reader (ReadFrame) and a requester holding the baton (ReadBuffered and
// Fill, with timeouts) at the points script chooses; a holder leaves the
// stream to ReadFrame after any error but a timeout.
func readMixed(stream, script []byte) ([][]byte, error) {
	src := &scriptSource{stream: stream, script: script}
	r := NewReader(src, 1<<16)
	var out [][]byte
	for {
		if src.next()%3 == 0 { // a holder's turn
			src.timeouts = true
			for range 1 + int(src.next()%8) {
				f, ok, err := r.ReadBuffered()
				if err != nil {
					break
				}
				if ok {
					out = append(out, bytes.Clone(f.Raw))
					continue
				}
				if err := r.Fill(); err != nil && !errors.As(err, new(timeoutErr)) {
					break
				}
			}
			src.timeouts = false
		}
		f, err := r.ReadFrame()
		if err != nil {
			return out, err
		}
		out = append(out, bytes.Clone(f.Raw))
	}
}

// streamOf is frames with the given bodies, then tail as it is.
func streamOf(bodies [][]byte, tail []byte) []byte {
	var s []byte
	for i, b := range bodies {
		s = AppendFrame(s, FrameSpec{Kind: Kind(100 + i%3), Dst: 1, Src: 2, Auth: 2}, nil, b)
	}
	return append(s, tail...)
}

func checkMixed(t *testing.T, stream, script []byte) {
	t.Helper()
	want, wantErr := readAlone(stream)
	got, gotErr := readMixed(stream, script)
	if len(got) != len(want) {
		t.Fatalf("mixed reading gave %d frames, ReadFrame alone %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if wantErr.Error() != gotErr.Error() {
		t.Fatalf("mixed reading ended with %v, ReadFrame alone with %v", gotErr, wantErr)
	}
}

// TestReader_FillPassesBetweenFrames: a stream read partly by ReadFrame and
// partly by ReadBuffered and Fill, with reads interrupted by timeouts at
// any point, gives the same frames and the same end as ReadFrame alone:
// nothing of a frame is lost or consumed twice, and a timeout is never
// sticky.
func TestReader_FillPassesBetweenFrames(t *testing.T) {
	var bodies [][]byte
	for i := range 300 {
		bodies = append(bodies, bytes.Repeat([]byte{byte(i)}, (i*37)%5000))
	}
	tails := [][]byte{nil, {0x01}, AppendFrame(nil, FrameSpec{Kind: 100}, nil, make([]byte, 40))[:30], []byte("garbage that is not a frame header")}
	for ti, tail := range tails {
		for seed := range 40 {
			script := []byte{byte(seed), byte(seed * 7), byte(seed*13 + 1), 3, 5, byte(seed + 2)}
			stream := streamOf(bodies, tail)
			t.Run("", func(t *testing.T) {
				_ = ti
				checkMixed(t, stream, script)
			})
		}
	}
}

// FuzzReaderFill: any stream and any schedule of hand-overs and timeouts
// read the same as ReadFrame alone, without a panic.
func FuzzReaderFill(f *testing.F) {
	f.Add([]byte("hello"), []byte{3, 5, 0})
	f.Add(streamOf([][]byte{[]byte("a"), make([]byte, 300)}, []byte{0xff}), []byte{0, 1, 2, 3})
	f.Add(streamOf([][]byte{make([]byte, 70000)}, nil), []byte{9, 3})
	f.Fuzz(func(t *testing.T, data, script []byte) {
		var bodies [][]byte
		for len(data) > 0 {
			n := min(len(data), int(data[0])*int(data[0])+1)
			bodies = append(bodies, data[:n])
			data = data[n:]
		}
		checkMixed(t, streamOf(bodies, script), script)
		checkMixed(t, script, data) // raw bytes as a stream
	})
}
