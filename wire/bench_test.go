package wire

import (
	"io"
	"strconv"
	"syscall"
	"testing"

	"github.com/spindle-go/spindle/internal/msgptest"
)

type benchMsg struct {
	ID    int64
	Name  string
	Value float64
}

func BenchmarkAppendFrame(b *testing.B) {
	body := make([]byte, 64)
	spec := FrameSpec{Kind: KindUser, Dst: 2, Src: 1, Auth: 1}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(HeaderSize + len(body)))
	for i := 0; i < b.N; i++ {
		buf = AppendFrame(buf[:0], spec, nil, body)
	}
}

// repeatReader serves the same bytes forever.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

func BenchmarkReadFrame(b *testing.B) {
	for _, size := range []int{64, 4096, 256 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			frame := AppendFrame(nil, FrameSpec{Kind: KindUser, Dst: 2, Src: 1, Auth: 1}, nil, make([]byte, size))
			r := NewReader(&repeatReader{data: frame}, 0)
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.ReadFrame(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func byteSize(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

func BenchmarkRegistryEncode(b *testing.B) {
	r := NewRegistry()
	MustRegister[benchMsg](r, "bench.Msg")
	msg := &benchMsg{ID: 42, Name: "forty-two", Value: 4.2}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var err error
		if _, buf, err = r.AppendEncode(buf[:0], msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRegistryDecode(b *testing.B) {
	r := NewRegistry()
	MustRegister[benchMsg](r, "bench.Msg")
	name, payload, err := r.AppendEncode(nil, &benchMsg{ID: 42, Name: "forty-two", Value: 4.2})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := r.Decode(name, payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkUserMessage measures a whole user frame: encode with
// BeginFrame/AppendEnvelopeHead/AppendEncode/FinishFrame, then read and
// decode it.
func BenchmarkUserMessage(b *testing.B) {
	r := NewRegistry()
	MustRegister[benchMsg](r, "bench.Msg")
	msg := &benchMsg{ID: 42, Name: "forty-two", Value: 4.2}
	var out []byte
	pr, pw := io.Pipe()
	defer pr.Close()
	rd := NewReader(pr, 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < b.N; i++ {
			f, err := rd.ReadFrame()
			if err != nil {
				return
			}
			e, err := ParseEnvelope(f.Body())
			if err != nil {
				return
			}
			if _, err := r.Decode(e.Type, e.Payload); err != nil {
				return
			}
		}
	}()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		name, err := r.TypeName(msg)
		if err != nil {
			b.Fatal(err)
		}
		buf, start := BeginFrame(out[:0], FrameSpec{Kind: KindUser, Dst: 2, Src: 1, Auth: 1})
		buf = AppendEnvelopeHead(buf, Envelope{Target: "$2/worker", Type: name})
		if _, buf, err = r.AppendEncode(buf, msg); err != nil {
			b.Fatal(err)
		}
		if err := FinishFrame(buf, start, 0); err != nil {
			b.Fatal(err)
		}
		out = buf
		if _, err := pw.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	pw.Close()
}

// BenchmarkCheckPayload measures the structural pre-scan every payload
// passes before it is decoded (checkMsgpack), on a small message, a 4 KiB
// document of mixed maps and arrays, and a 1 MiB binary.
func BenchmarkCheckPayload(b *testing.B) {
	mixed := map[string]any{}
	for i := 0; i < 64; i++ {
		mixed[strconv.Itoa(i)] = []any{i, "value", 4.5, map[string]any{"k": true}}
	}
	for _, c := range []struct {
		name string
		v    any
	}{
		{"small", &benchMsg{ID: 42, Name: "forty-two", Value: 4.2}},
		{"mixed", mixed},
		{"1MiB-bin", make([]byte, 1<<20)},
	} {
		payload, err := Marshal(c.v)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if err := checkMsgpack(payload); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time per op is less disturbed than wall time by other
			// processes competing for the machine.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime returns the user and system CPU time of this process so far, in
// nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkRegistryEncodeGenerated is BenchmarkRegistryEncode for the same
// message with msgp-generated codecs.
func BenchmarkRegistryEncodeGenerated(b *testing.B) {
	r := NewRegistry()
	MustRegister[msgptest.Bench](r, "bench.Msg")
	msg := &msgptest.Bench{ID: 42, Name: "forty-two", Value: 4.2}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var err error
		if _, buf, err = r.AppendEncode(buf[:0], msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRegistryDecodeGenerated is BenchmarkRegistryDecode for the same
// message with msgp-generated codecs (the payload is the reflective one).
func BenchmarkRegistryDecodeGenerated(b *testing.B) {
	refl, r := NewRegistry(), NewRegistry()
	MustRegister[benchMsg](refl, "bench.Msg")
	MustRegister[msgptest.Bench](r, "bench.Msg")
	name, payload, err := refl.AppendEncode(nil, &benchMsg{ID: 42, Name: "forty-two", Value: 4.2})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := r.Decode(name, payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}
