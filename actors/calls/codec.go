package calls

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/spindle-go/spindle/wire"
)

// decoder decodes the msgpack body of a request or an answer into a new
// *T. Types with msgp-generated UnmarshalMsg take wire's reflection-free
// path (with the same structural checks and limits): they are registered
// in a registry private to the endpoint under local names that never
// travel. Other types are decoded by wire.Unmarshal.
type decoder[T any] func(b []byte) (*T, error)

// generatedUnmarshaler is msgp.Unmarshaler's method set.
type generatedUnmarshaler interface {
	UnmarshalMsg(b []byte) ([]byte, error)
}

// codecs is an endpoint's private registry of generated types.
type codecs struct {
	mu  sync.Mutex
	reg *wire.Registry
	n   int
}

func newDecoder[T any](c *codecs) (decoder[T], error) {
	if _, ok := any(new(T)).(generatedUnmarshaler); !ok {
		return func(b []byte) (*T, error) {
			v := new(T)
			return v, wire.Unmarshal(b, v)
		}, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reg == nil {
		c.reg = wire.NewRegistry()
	}
	name, err := c.reg.TypeName(new(T))
	if err != nil { // not registered yet: a local name
		c.n++
		name = "*" + strconv.Itoa(c.n)
		if err := wire.Register[T](c.reg, name[1:]); err != nil {
			return nil, err
		}
	}
	reg := c.reg
	return func(b []byte) (*T, error) {
		v, err := reg.Decode(name, b)
		if err != nil {
			return nil, err
		}
		p, ok := v.(*T)
		if !ok || p == nil { // msgpack nil: a zero T, as on the reflective path
			return new(T), nil
		}
		return p, nil
	}, nil
}

// decoderFor returns the cached decoder of T for ep.
func decoderFor[T any](ep *Endpoint) decoder[T] {
	key := (*T)(nil)
	if d, ok := ep.decoders.Load(key); ok {
		return d.(decoder[T])
	}
	d, err := newDecoder[T](&ep.codecs)
	if err != nil { // cannot happen for a concrete type; decode reflectively
		d = func(b []byte) (*T, error) {
			v := new(T)
			return v, wire.Unmarshal(b, v)
		}
		ep.log.Debug("calls: no generated decoder", "type", fmt.Sprintf("%T", key), "err", err)
	}
	ep.decoders.Store(key, d)
	return d
}
