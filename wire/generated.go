package wire

import (
	"errors"
	"reflect"
)

// generatedMarshaler is the method set of github.com/tinylib/msgp's
// msgp.Marshaler, which `msgp` generates for a type: MarshalMsg appends
// the type's msgpack encoding to b. Package wire declares it instead of
// importing msgp (wire imports only msgpack and uuid): any type with this
// method is encoded by it, without reflection.
type generatedMarshaler interface {
	MarshalMsg(b []byte) ([]byte, error)
}

// generatedUnmarshaler is the method set of msgp.Unmarshaler: UnmarshalMsg
// decodes one msgpack object from the front of b into the receiver and
// returns the rest.
type generatedUnmarshaler interface {
	UnmarshalMsg(b []byte) ([]byte, error)
}

var generatedUnmarshalerType = reflect.TypeFor[generatedUnmarshaler]()

// newRegisteredType returns the decoding record of T (of *T if ptr), with
// the per-type work done once: whether *T has generated decoding, and the
// nil *T a msgpack nil decodes to.
func newRegisteredType(t reflect.Type, ptr bool, c typeCodecs) registeredType {
	pt := reflect.PointerTo(t)
	rt := registeredType{t: t, ptr: ptr, generated: pt.Implements(generatedUnmarshalerType), gen: c.gen, planned: c.dec}
	if ptr {
		rt.nilPtr = reflect.Zero(pt).Interface()
	}
	return rt
}

// generatedDecoder decodes a payload into a new T with its generated
// UnmarshalMsg and returns the *T (ptr) or the T, without reflection.
type generatedDecoder func(payload []byte, typeName string, ptr bool) (any, error)

// decodeGeneratedAs is the generatedDecoder of T (whose *T has a generated
// UnmarshalMsg; Register checks).
func decodeGeneratedAs[T any](payload []byte, typeName string, ptr bool) (any, error) {
	p := new(T)
	if err := decodeGenerated(payload, any(p).(generatedUnmarshaler), typeName); err != nil {
		return nil, err
	}
	if ptr {
		return p, nil
	}
	return *p, nil
}

// appendGenerated appends msg's encoding with its generated MarshalMsg.
// ok is false when msg has none, or is a nil pointer (which the reflective
// encoder writes as msgpack nil, as before).
func appendGenerated(dst []byte, msg any) (out []byte, ok bool, err error) {
	m, ok := msg.(generatedMarshaler)
	if !ok {
		return dst, false, nil
	}
	if v := reflect.ValueOf(msg); v.Kind() == reflect.Pointer && v.IsNil() {
		return dst, false, nil
	}
	out, err = m.MarshalMsg(dst)
	if err != nil {
		return dst, true, err
	}
	return out, true, nil
}

// errNotMsgpack marks a payload that failed the structural check: no
// decoder would take it, so the reflective fallback is not tried.
var errNotMsgpack = errors.New("not one well-formed msgpack object")

// decodeGenerated decodes payload into v with its generated UnmarshalMsg,
// under the same rules as the reflective decodeInto: the payload is first
// checked to be one well-formed msgpack object within the decode limits
// (generated code trusts declared lengths), nothing may trail, and a panic
// in the generated code is an ErrBadPayload, never a crash.
func decodeGenerated(payload []byte, v generatedUnmarshaler, typeName string) (err error) {
	if err := checkMsgpack(payload); err != nil {
		return badPayload(typeName, "%w: %w", errNotMsgpack, err)
	}
	defer func() {
		if p := recover(); p != nil {
			err = badPayload(typeName, "decoder panic: %v", p)
		}
	}()
	rest, err := v.UnmarshalMsg(payload)
	if err != nil {
		return badPayload(typeName, "%w", err)
	}
	if len(rest) != 0 {
		return badPayload(typeName, "%d trailing bytes", len(rest))
	}
	return nil
}
