package link

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/spindle-go/spindle/wire"
)

func helloFrame(flags wire.Flags, body []byte) []byte {
	return wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindHello, Flags: flags, Dst: 0, Src: 1, Auth: 1}, nil, body)
}

// TestReadHello: the handshake parser on its own, one case per outcome.
func TestReadHello(t *testing.T) {
	good := wire.Hello{ContextID: 1, Incarnation: uuid.New(), ParentIDs: []uint32{0}, Name: "c", MaxFrame: 1 << 20}
	badVersion := helloFrame(0, wire.AppendHello(nil, good))
	badVersion[2]++ // the version byte follows the 2-byte magic
	tests := []struct {
		name    string
		in      []byte
		proto   bool // a *ProtocolError
		version bool // a *wire.VersionError, answered with a reject
		eof     bool
	}{
		{name: "good", in: helloFrame(0, wire.AppendHello(nil, good))},
		{name: "other kind first", in: frameOf(wire.KindPing, nil), proto: true},
		{name: "refused", in: helloFrame(wire.FlagError, []byte("no thanks")), proto: true},
		{name: "malformed hello", in: helloFrame(0, []byte{1, 2, 3}), proto: true},
		{name: "other protocol version", in: badVersion, version: true},
		{name: "nothing", in: nil, eof: true},
		{name: "truncated", in: helloFrame(0, wire.AppendHello(nil, good))[:20], eof: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			h, err := ReadHello(wire.NewReader(bytes.NewReader(tt.in), 0), &out)
			var pe *ProtocolError
			var ve *wire.VersionError
			switch {
			case tt.proto:
				if !errors.As(err, &pe) {
					t.Fatalf("err %v (%T), want a *ProtocolError", err, err)
				}
			case tt.version:
				if !errors.As(err, &ve) {
					t.Fatalf("err %v (%T), want a *wire.VersionError", err, err)
				}
				if out.Len() == 0 {
					t.Fatal("no reject frame written")
				}
			case tt.eof:
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("err %v, want EOF", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if h.ContextID != good.ContextID || h.Name != good.Name || h.Incarnation != good.Incarnation {
					t.Fatalf("hello %+v, want %+v", h, good)
				}
			}
			if !tt.version && out.Len() != 0 {
				t.Fatalf("wrote %d bytes", out.Len())
			}
		})
	}
}

// TestExchangeHello_PeerThatNeverAnswers: a peer that neither reads nor
// writes cannot hold the handshake past ctx: the transport is closed and
// ctx's error returned.
func TestExchangeHello_PeerThatNeverAnswers(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	tr := Transport{R: a, W: a, C: a}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := ExchangeHello(ctx, wire.NewReader(a, 0), tr, helloFrame(0, nil))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want DeadlineExceeded", err)
	}
	if took := time.Since(start); took > atOnce {
		t.Fatalf("returned after %v", took)
	}
}

// FuzzReadHello: the handshake parser never panics on any input and
// either returns a hello or an error.
func FuzzReadHello(f *testing.F) {
	good := wire.Hello{ContextID: 1, Incarnation: uuid.New(), ParentIDs: []uint32{0}, Name: "c", MaxFrame: 1 << 20}
	f.Add(helloFrame(0, wire.AppendHello(nil, good)))
	f.Add(helloFrame(wire.FlagError, []byte("refused")))
	f.Add(frameOf(wire.KindPing, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		h, err := ReadHello(wire.NewReader(bytes.NewReader(b), 1<<20), &out)
		if err == nil && len(b) < wire.HeaderSize {
			t.Fatalf("hello %+v from %d bytes", h, len(b))
		}
	})
}
