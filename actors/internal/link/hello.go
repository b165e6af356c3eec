package link

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spindle-go/spindle/wire"
)

// ExchangeHello writes out (when not nil) and then reads the peer's hello
// through r (when r is not nil), honouring ctx by closing the transport: a
// peer that neither reads nor writes cannot hold the caller past its
// deadline. On an error the transport is closed. A peer speaking another
// protocol version gets a reject frame naming ours, and both sides report a
// *wire.VersionError. The exchange runs on the caller's goroutine (a
// handshake is on the path of every spawn: a goroutine for it cost a
// thread wake-up on each side); ctx closes the transport from its own
// callback, which unblocks the read or write.
func ExchangeHello(ctx context.Context, r *wire.Reader, t Transport, out []byte) (wire.Hello, error) {
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = t.C.Close()
		close(closed)
	})
	h, err := exchangeHello(r, t, out)
	if !stop() { // ctx ended first: the transport is closed
		<-closed
		return wire.Hello{}, ctx.Err()
	}
	if err != nil {
		_ = t.C.Close()
	}
	return h, err
}

func exchangeHello(r *wire.Reader, t Transport, out []byte) (wire.Hello, error) {
	if out != nil {
		if _, err := t.W.Write(out); err != nil {
			return wire.Hello{}, err
		}
	}
	if r == nil {
		return wire.Hello{}, nil
	}
	return ReadHello(r, t.W)
}

// ReadHello reads the first frame of a link, which must be a HELLO, and
// parses it. A frame of another protocol version is answered on w with a
// reject frame naming ours and reported as a *wire.VersionError; a refusal
// (a HELLO with FlagError), another kind or a malformed hello is a
// *ProtocolError.
func ReadHello(r *wire.Reader, w io.Writer) (wire.Hello, error) {
	f, err := r.ReadFrame()
	var ve *wire.VersionError
	if errors.As(err, &ve) {
		_, _ = w.Write(wire.AppendVersionReject(nil, ve.Remote))
		return wire.Hello{}, err
	}
	if err != nil {
		return wire.Hello{}, err
	}
	h := f.Header()
	if h.Kind() != wire.KindHello {
		return wire.Hello{}, &ProtocolError{Err: fmt.Errorf("first frame is %s, want HELLO", h.Kind())}
	}
	if h.Flags()&wire.FlagError != 0 {
		return wire.Hello{}, &ProtocolError{Err: fmt.Errorf("peer refused the handshake: %s", f.Body())}
	}
	hello, err := wire.ParseHello(f.Body())
	if err != nil {
		return wire.Hello{}, &ProtocolError{Err: err}
	}
	return hello, nil
}
