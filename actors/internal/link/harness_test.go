package link

// Test harness of the link layer: transport pairs of every kind (yamux's
// testConnTypes), a fake Handler, and a raw end that reads and writes
// frames with package wire alone.

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/spindle-go/spindle/wire"
)

// Generous bounds: tests never measure speed.
const (
	waitLong = 10 * time.Second
	atOnce   = 2 * time.Second
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// connType makes the two ends of a duplex byte stream.
type connType struct {
	name string
	fds  bool // the stream can carry descriptors
	make func(t *testing.T) (a, b Transport)
}

var connTypes = []connType{
	{"net.Pipe", false, netPipe},
	{"os.Pipe", false, osPipes},
	{"socketpair", true, socketPair},
}

func netPipe(t *testing.T) (Transport, Transport) {
	a, b := net.Pipe()
	t.Cleanup(func() { _, _ = a.Close(), b.Close() })
	return Transport{R: a, W: a, C: a}, Transport{R: b, W: b, C: b}
}

func osPipes(t *testing.T) (Transport, Transport) {
	r1, w1, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _, _, _ = r1.Close(), w1.Close(), r2.Close(), w2.Close() })
	return Transport{R: r1, W: w2, C: closers{r1, w2}}, Transport{R: r2, W: w1, C: closers{r2, w1}}
}

func socketPair(t *testing.T) (Transport, Transport) {
	a, b := unixConns(t)
	return Transport{R: a, W: a, C: a}, Transport{R: b, W: b, C: b}
}

type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// fakeHandler records what a link hands it.
type fakeHandler struct {
	frames chan []byte // raw copies of the frames handled
	fds    chan []int  // descriptors taken, for frames that carry some
	down   chan error  // LinkDown's reason
	fail   func(f wire.Frame) error
}

func newFakeHandler() *fakeHandler {
	return &fakeHandler{frames: make(chan []byte, 4096), fds: make(chan []int, 16), down: make(chan error, 1)}
}

func (h *fakeHandler) HandleFrame(l *Link, f wire.Frame) error {
	if f.Header().Flags()&wire.FlagFDs != 0 {
		h.fds <- l.TakeFDs()
	}
	select {
	case h.frames <- append([]byte(nil), f.Raw...):
	default:
	}
	if h.fail != nil {
		return h.fail(f)
	}
	return nil
}

func (h *fakeHandler) LinkDown(_ *Link, reason error) { h.down <- reason }

// startLink starts a link over t with handler h; peer is the other end's
// Input (for its features), or nil.
func startLink(t *testing.T, tr Transport, cfg Config, h Handler) *Link {
	t.Helper()
	in := NewInput(tr, 0)
	if cfg.PeerFeatures == 0 {
		cfg.PeerFeatures = in.Features() // the other end is of the same kind
	}
	l := New(tr, in, cfg, h)
	l.Start()
	t.Cleanup(l.Close)
	return l
}

// linkPair starts two links joined over ct.
func linkPair(t *testing.T, ct connType, ca, cb Config) (a, b *Link, ha, hb *fakeHandler) {
	t.Helper()
	ta, tb := ct.make(t)
	ha, hb = newFakeHandler(), newFakeHandler()
	ca.Local, ca.Peer, cb.Local, cb.Peer = 1, 2, 2, 1
	a = startLink(t, ta, ca, ha)
	b = startLink(t, tb, cb, hb)
	return a, b, ha, hb
}

// rawEnd is the other end of a link, played with package wire alone.
type rawEnd struct {
	t  *testing.T
	tr Transport
	r  *wire.Reader
	mu sync.Mutex
}

func newRawEnd(t *testing.T, tr Transport) *rawEnd {
	return &rawEnd{t: t, tr: tr, r: wire.NewReader(tr.R, 0)}
}

func (e *rawEnd) write(frame []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err := e.tr.W.Write(frame)
	return err
}

func frameOf(k wire.Kind, body []byte) []byte {
	return wire.AppendFrame(nil, wire.FrameSpec{Kind: k, Dst: 1, Src: 2, Auth: 2}, nil, body)
}

func recvWithin[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("no %s within %v", what, d)
		var zero T
		return zero
	}
}

// io_Copy reads tr until it fails.
func io_Copy(tr Transport) (int64, error) { return io.Copy(io.Discard, tr.R) }

func dupCloexec(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0) }

// testKind is a kind the link knows nothing about: it only routes it.
const testKind wire.Kind = 4242
