package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"
)

// MaxFDs is the most file descriptors one frame may carry: Linux's
// SCM_MAX_FD, the most one sendmsg can pass.
const MaxFDs = 253

// FDKind says what a descriptor placeholder in a payload stands for, and so
// what Go value the receiver rebuilds from the descriptor.
type FDKind uint8

// Descriptor kinds. Each is also the msgpack extension type of its
// placeholder, offset by fdExtBase.
const (
	FDFile         FDKind = iota + 1 // *os.File
	FDTCPListener                    // *net.TCPListener
	FDUnixListener                   // *net.UnixListener
	FDTCPConn                        // *net.TCPConn
	FDUnixConn                       // *net.UnixConn
	maxFDKind      = FDUnixConn
)

// String returns the Go type the kind stands for.
func (k FDKind) String() string {
	switch k {
	case FDFile:
		return "*os.File"
	case FDTCPListener:
		return "*net.TCPListener"
	case FDUnixListener:
		return "*net.UnixListener"
	case FDTCPConn:
		return "*net.TCPConn"
	case FDUnixConn:
		return "*net.UnixConn"
	}
	return fmt.Sprintf("FDKind(%d)", uint8(k))
}

// fdExtBase is the msgpack extension type of FDKind 0; kinds 1..5 use
// extension types 81..85. Applications must not register these.
const fdExtBase int8 = 80

// ErrFDNotCarried is returned when a descriptor-bearing value (*os.File,
// a TCP or unix listener or connection) is encoded where no descriptor can
// travel: in a plain [Marshal], or by [Registry.AppendPayload].
var ErrFDNotCarried = errors.New("wire: file descriptors can only travel in user messages over links that carry them")

// ErrTooManyFDs is returned when a message carries more than [MaxFDs]
// descriptors.
var ErrTooManyFDs = errors.New("wire: too many file descriptors in one message")

// ErrBadFD is the sentinel behind a descriptor placeholder that does not
// fit the descriptors that came with the frame: an index out of range, one
// used twice, a placeholder in a message that carries none, or a descriptor
// that is not of the kind its placeholder says.
var ErrBadFD = errors.New("wire: bad descriptor placeholder")

// An FDReceiver turns the descriptors that arrived with a frame into the
// values their placeholders stand for, while the frame's payload is
// decoded. TakeFD is called once per placeholder, in payload order, with
// the placeholder's index into the frame's descriptors, its kind and, for
// FDFile, the name the file had in the sender.
type FDReceiver interface {
	TakeFD(index int, kind FDKind, name string) (any, error)
}

func init() {
	// msgpack's extension registry belongs to the msgpack package; these
	// five types are registered once, for every Registry, so a field of
	// type net.Listener or net.Conn decodes into the concrete type.
	registerFDExt(FDFile, (*os.File)(nil))
	registerFDExt(FDTCPListener, (*net.TCPListener)(nil))
	registerFDExt(FDUnixListener, (*net.UnixListener)(nil))
	registerFDExt(FDTCPConn, (*net.TCPConn)(nil))
	registerFDExt(FDUnixConn, (*net.UnixConn)(nil))
}

func registerFDExt(kind FDKind, zero any) {
	msgpack.RegisterExtEncoder(fdExtBase+int8(kind), zero, func(e *msgpack.Encoder, v reflect.Value) ([]byte, error) {
		w, ok := e.Writer().(*appendWriter)
		if !ok || !w.fdsOK {
			return nil, fmt.Errorf("%w (a %s)", ErrFDNotCarried, kind)
		}
		if len(w.fds) >= MaxFDs {
			return nil, fmt.Errorf("%w: more than %d", ErrTooManyFDs, MaxFDs)
		}
		b := binary.AppendUvarint(nil, uint64(len(w.fds)))
		if f, ok := v.Interface().(*os.File); ok {
			b = append(b, f.Name()...)
		}
		w.fds = append(w.fds, v.Interface())
		return b, nil
	})
	msgpack.RegisterExtDecoder(fdExtBase+int8(kind), zero, func(d *msgpack.Decoder, v reflect.Value, n int) error {
		b := make([]byte, n)
		if err := d.ReadFull(b); err != nil {
			return err
		}
		r, ok := d.Buffered().(*payloadReader)
		if !ok || r.fds == nil {
			return fmt.Errorf("%w: %s in a message that carries no descriptors", ErrBadFD, kind)
		}
		idx, k := binary.Uvarint(b)
		if k <= 0 || idx >= MaxFDs {
			return fmt.Errorf("%w: bad index", ErrBadFD)
		}
		name := ""
		if kind == FDFile {
			name = string(b[k:])
		} else if k != len(b) {
			return fmt.Errorf("%w: %d trailing bytes", ErrBadFD, len(b)-k)
		}
		val, err := r.fds.TakeFD(int(idx), kind, name)
		if err != nil {
			return err
		}
		rv := reflect.ValueOf(val)
		if !rv.Type().AssignableTo(v.Type()) {
			return fmt.Errorf("%w: %s cannot be stored in %s", ErrBadFD, rv.Type(), v.Type())
		}
		v.Set(rv)
		return nil
	})
}

// AppendPayloadFDs is [Registry.AppendPayload] for a message that may carry
// descriptor-bearing values (*os.File, *net.TCPListener, *net.UnixListener,
// *net.TCPConn, *net.UnixConn, also behind net.Listener, net.Conn or any
// fields). Each such value is encoded as a placeholder holding its index in
// fds, which lists them in payload order; fds is nil when there are none.
// The values are not touched: taking their descriptors is the caller's job.
//
// A message with a generated MarshalMsg is encoded by it (it cannot hold
// descriptors: msgp generates no codec for them).
func (r *Registry) AppendPayloadFDs(dst []byte, msg any) (out []byte, fds []any, err error) {
	return r.AppendPayloadGaps(dst, msg, nil)
}

// AppendPayloadGaps is [Registry.AppendPayloadFDs] that leaves each []byte
// value of at least [GapMin] bytes out of out, as a gap of g (see [Gaps]),
// where the reflective encoder writes it; nil g copies everything.
// Generated codecs (MarshalMsg) copy whatever g says.
func (r *Registry) AppendPayloadGaps(dst []byte, msg any, g *Gaps) (out []byte, fds []any, err error) {
	if out, ok, err := appendGenerated(dst, msg); ok {
		if err != nil {
			return dst, nil, fmt.Errorf("wire: encode %T: %w", msg, err)
		}
		return out, nil, nil
	}
	if g != nil && !r.snapshot().byType[reflect.TypeOf(msg)].gaps {
		g = nil
	}
	e := encoderPool.Get().(*payloadEncoder)
	e.enc.Reset(&e.w)
	e.w.b, e.w.fdsOK, e.w.gaps = dst, true, g
	err = e.enc.Encode(msg)
	out = e.w.b
	e.w.gaps = nil
	if len(e.w.fds) > 0 && err == nil {
		fds = append([]any(nil), e.w.fds...)
	}
	clear(e.w.fds)
	e.w.b, e.w.fds, e.w.fdsOK = nil, e.w.fds[:0], false
	encoderPool.Put(e)
	if err != nil {
		return dst, nil, fmt.Errorf("wire: encode %T: %w", msg, err)
	}
	return out, fds, nil
}

// DecodeNameFDs is [Registry.DecodeName] for a payload whose placeholders
// stand for descriptors that came with its frame: each is turned into a
// value by fds. On an error, values fds already made are the caller's to
// close.
func (r *Registry) DecodeNameFDs(name, payload []byte, fds FDReceiver) (any, error) {
	rt, ok := r.snapshot().byName[string(name)]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, name)
	}
	v := reflect.New(rt.t)
	if err := decodeIntoFDs(payload, v.Interface(), "", fds); err != nil {
		return nil, fmt.Errorf("type %q: %w", name, err)
	}
	if rt.ptr {
		return v.Interface(), nil
	}
	return v.Elem().Interface(), nil
}
