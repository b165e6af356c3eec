package wire

import (
	"errors"
	"net"
	"os"
	"reflect"
	"testing"
)

type fdTestMsg struct {
	Tag   string
	File  *os.File
	L     net.Listener
	C     net.Conn
	Any   any
	Files []*os.File
}

// fakeFDs stands in for the receiving link: it hands out typed nil values
// (no descriptor is touched in package wire) and records what it was asked.
type fakeFDs struct {
	n     int
	taken map[int]bool
	asked []FDKind
	names []string
	err   error
}

func (f *fakeFDs) TakeFD(i int, kind FDKind, name string) (any, error) {
	if f.err != nil {
		return nil, f.err
	}
	if i >= f.n || f.taken[i] {
		return nil, ErrBadFD
	}
	if f.taken == nil {
		f.taken = map[int]bool{}
	}
	f.taken[i] = true
	f.asked, f.names = append(f.asked, kind), append(f.names, name)
	switch kind {
	case FDFile:
		return fakeFile(name), nil // an invalid descriptor: never used
	case FDTCPListener:
		return &net.TCPListener{}, nil
	case FDUnixListener:
		return &net.UnixListener{}, nil
	case FDTCPConn:
		return &net.TCPConn{}, nil
	case FDUnixConn:
		return &net.UnixConn{}, nil
	}
	return nil, ErrBadFD
}

func TestFDs_PlaceholdersInPayloadOrder(t *testing.T) {
	reg := NewRegistry()
	MustRegister[fdTestMsg](reg, "fd.Msg")
	f1 := fakeFile("/tmp/one")
	f2 := fakeFile("two")
	msg := &fdTestMsg{Tag: "x", File: f1, L: &net.TCPListener{}, C: &net.UnixConn{}, Any: &net.UnixListener{},
		Files: []*os.File{f2, nil}}
	b, vals, err := reg.AppendPayloadFDs([]byte("prefix"), msg)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:6]) != "prefix" {
		t.Fatal("dst not kept")
	}
	if len(vals) != 5 || vals[0] != any(f1) || vals[4] != any(f2) {
		t.Fatalf("collected %v", vals)
	}
	fake := &fakeFDs{n: 5}
	got, err := reg.DecodeNameFDs([]byte("*fd.Msg"), b[6:], fake)
	if err != nil {
		t.Fatal(err)
	}
	m := got.(*fdTestMsg)
	want := []FDKind{FDFile, FDTCPListener, FDUnixConn, FDUnixListener, FDFile} // File, L, C, Any, Files[0]
	if !reflect.DeepEqual(fake.asked, want) {
		t.Fatalf("asked %v, want %v", fake.asked, want)
	}
	if fake.names[0] != "/tmp/one" || fake.names[4] != "two" {
		t.Fatalf("names %q", fake.names)
	}
	if m.Tag != "x" || m.File == nil || m.File.Name() != "/tmp/one" || len(m.Files) != 2 || m.Files[1] != nil {
		t.Fatalf("decoded %+v", m)
	}
	if _, ok := m.L.(*net.TCPListener); !ok {
		t.Fatalf("L is %T", m.L)
	}
	if _, ok := m.C.(*net.UnixConn); !ok {
		t.Fatalf("C is %T", m.C)
	}
	if _, ok := m.Any.(*net.UnixListener); !ok {
		t.Fatalf("Any is %T", m.Any)
	}
}

func TestFDs_NotCarriedOutsideUserMessages(t *testing.T) {
	reg := NewRegistry()
	MustRegister[fdTestMsg](reg, "fd.Msg")
	msg := fdTestMsg{File: fakeFile("f")}
	if _, err := Marshal(msg); !errors.Is(err, ErrFDNotCarried) {
		t.Fatalf("Marshal: %v, want ErrFDNotCarried", err)
	}
	if _, err := reg.AppendPayload(nil, msg); !errors.Is(err, ErrFDNotCarried) {
		t.Fatalf("AppendPayload: %v, want ErrFDNotCarried", err)
	}
	if _, _, err := reg.AppendEncode(nil, msg); !errors.Is(err, ErrFDNotCarried) {
		t.Fatalf("AppendEncode: %v, want ErrFDNotCarried", err)
	}
	// Without descriptors AppendPayloadFDs is AppendPayload.
	a, vals, err := reg.AppendPayloadFDs(nil, fdTestMsg{Tag: "plain"})
	b, _ := reg.AppendPayload(nil, fdTestMsg{Tag: "plain"})
	if err != nil || vals != nil || string(a) != string(b) {
		t.Fatalf("plain message: %q %v %v, want %q", a, vals, err, b)
	}
}

func TestFDs_TooMany(t *testing.T) {
	reg := NewRegistry()
	MustRegister[fdTestMsg](reg, "fd.Msg")
	files := make([]*os.File, MaxFDs+1)
	for i := range files {
		files[i] = fakeFile("f")
	}
	if _, _, err := reg.AppendPayloadFDs(nil, fdTestMsg{Files: files}); !errors.Is(err, ErrTooManyFDs) {
		t.Fatalf("%d files: %v, want ErrTooManyFDs", len(files), err)
	}
	if _, vals, err := reg.AppendPayloadFDs(nil, fdTestMsg{Files: files[:MaxFDs]}); err != nil || len(vals) != MaxFDs {
		t.Fatalf("%d files: %d values, %v", MaxFDs, len(vals), err)
	}
}

func TestFDs_BadPlaceholders(t *testing.T) {
	reg := NewRegistry()
	MustRegister[fdTestMsg](reg, "fd.Msg")
	b, _, err := reg.AppendPayloadFDs(nil, fdTestMsg{File: fakeFile("f"), Files: []*os.File{fakeFile("g")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		fds  FDReceiver
	}{
		{"no receiver", nil},
		{"too few descriptors", &fakeFDs{n: 1}},
		{"receiver fails", &fakeFDs{n: 2, err: ErrBadFD}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.fds == nil {
				_, err = reg.DecodeName([]byte("fd.Msg"), b)
			} else {
				_, err = reg.DecodeNameFDs([]byte("fd.Msg"), b, tc.fds)
			}
			if !errors.Is(err, ErrBadPayload) || !errors.Is(err, ErrBadFD) && tc.fds != nil {
				t.Fatalf("err = %v, want ErrBadPayload (and ErrBadFD)", err)
			}
		})
	}
	// A placeholder of one kind cannot land in a field of another.
	type wrongField struct{ File *net.TCPConn }
	MustRegister[wrongField](reg, "fd.Wrong")
	if _, err := reg.DecodeNameFDs([]byte("fd.Wrong"), b, &fakeFDs{n: 2}); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("wrong field type: %v", err)
	}
}

func TestFDs_EnvelopeCount(t *testing.T) {
	e := Envelope{Target: "t", HasSender: true, SenderCtx: 7, SenderID: "s", Type: "T"}
	head := AppendEnvelopeHead(nil, e)
	body, err := SetEnvelopeFDs(append(head, 0xc0), 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	e.FDs, e.Payload = 3, []byte{0xc0}
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("got %+v, want %+v", got, e)
	}
	again := append(AppendEnvelopeHead(nil, e), 0xc0)
	if string(again) != string(body) {
		t.Fatal("AppendEnvelopeHead with FDs differs from SetEnvelopeFDs")
	}
	if _, err := SetEnvelopeFDs(body, 0, 1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("second SetEnvelopeFDs: %v", err)
	}
	for _, n := range []int{0, MaxFDs + 1} {
		if _, err := SetEnvelopeFDs(append([]byte(nil), head...), 0, n); !errors.Is(err, ErrTooManyFDs) {
			t.Fatalf("SetEnvelopeFDs(%d): %v", n, err)
		}
	}
	for _, bad := range [][]byte{{envHasFDs}, {envHasFDs, 0, 1, 't', 1, 'T'}, {envHasFDs, MaxFDs + 1, 1, 't', 1, 'T'}} {
		if _, err := ParseEnvelope(bad); !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseEnvelope(%v): %v", bad, err)
		}
	}
}

func TestFDs_FrameFDs(t *testing.T) {
	plain := append(AppendEnvelopeHead(nil, Envelope{Target: "t", Type: "T"}), 0xc0)
	withFDs := append(AppendEnvelopeHead(nil, Envelope{FDs: 2, Target: "t", Type: "T"}), 0xc0)
	frame := func(kind Kind, flags Flags, body []byte) Frame {
		return Frame{Raw: AppendFrame(nil, FrameSpec{Kind: kind, Flags: flags, Dst: 1}, nil, body)}
	}
	for _, tc := range []struct {
		name string
		f    Frame
		n    int
		bad  bool
	}{
		{"plain user", frame(KindUser, 0, plain), 0, false},
		{"user with 2", frame(KindUser, FlagFDs, withFDs), 2, false},
		{"flag without count", frame(KindUser, FlagFDs, plain), 0, true},
		{"count without flag", frame(KindUser, 0, withFDs), 0, true},
		{"system with flag", frame(KindSystem, FlagFDs, withFDs), 0, true},
		{"chunk with flag", frame(KindChunk, FlagFDs, withFDs), 0, true},
		{"system", frame(KindSystem, 0, []byte{envHasFDs}), 0, false},
		{"empty user body with flag", frame(KindUser, FlagFDs, nil), 0, true},
	} {
		n, err := FrameFDs(tc.f)
		if n != tc.n || (err != nil) != tc.bad || (err != nil && !errors.Is(err, ErrMalformed)) {
			t.Errorf("%s: FrameFDs = %d, %v; want %d, bad %v", tc.name, n, err, tc.n, tc.bad)
		}
	}
}

// FuzzDecodeFDs decodes arbitrary payloads with a receiver that has a few
// descriptors: nothing may panic, and every placeholder is taken once at
// most.
func FuzzDecodeFDs(f *testing.F) {
	reg := NewRegistry()
	MustRegister[fdTestMsg](reg, "fd.Msg")
	seed, _, err := reg.AppendPayloadFDs(nil, fdTestMsg{Tag: "s", File: fakeFile("f"),
		L: &net.TCPListener{}, C: &net.TCPConn{}, Any: &net.UnixConn{}, Files: []*os.File{fakeFile("g")}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed, uint8(5))
	f.Add([]byte{0x81, 0xa4, 'F', 'i', 'l', 'e', 0xd4, 81, 0x00}, uint8(1))
	f.Add([]byte{0x81, 0xa1, 'C', 0xd5, 84, 0x01, 0x00}, uint8(1))
	f.Fuzz(func(t *testing.T, payload []byte, n uint8) {
		fake := &fakeFDs{n: int(n % 8)}
		v, err := reg.DecodeNameFDs([]byte("fd.Msg"), payload, fake)
		if err == nil && v == nil {
			t.Fatal("nil value without error")
		}
		if len(fake.taken) > fake.n {
			t.Fatalf("took %d of %d descriptors", len(fake.taken), fake.n)
		}
	})
}

// fakeFile returns an *os.File over a descriptor number no process has
// open: package wire never touches descriptors, only values.
func fakeFile(name string) *os.File { return os.NewFile(1<<30, name) }
