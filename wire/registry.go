package wire

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// ptrPrefix marks, in a wire type name, a message that was sent as *T.
const ptrPrefix = "*"

// Registry maps Go types to stable wire names and back, so user messages
// can cross process boundaries as msgpack payloads. Nothing from the wire is
// decoded unless its type was registered.
//
// Register all types during setup, before the Registry is used. Encode,
// Decode and Names are safe for concurrent use, also with Register.
type Registry struct {
	mu   sync.Mutex // serializes Register and publish
	maps atomic.Pointer[registryMaps]
	// next is the registry as Register leaves it, guarded by mu; stale
	// says it has changed since it was last published in maps. A burst
	// of Register calls (a node's setup registers dozens of types)
	// copies the maps once, at the first lookup after it, instead of
	// once per type.
	next   *registryMaps
	shared bool // next is the published snapshot: copy it before a change
	stale  atomic.Bool
}

// registryMaps is an immutable snapshot once published: Register changes
// a copy and lookups publish it (snapshot), so the hot paths (TypeName,
// Decode) read it without locking.
type registryMaps struct {
	byType map[reflect.Type]Encoding // T -> "name", *T -> "*name"
	byName map[string]registeredType // "name" -> T, "*name" -> *T
	names  map[string]reflect.Type   // registered names only, for Names
}

// registeredType is what a wire name decodes to: a T, or a *T if ptr. It
// holds the per-type work done once at Register (see newRegisteredType).
type registeredType struct {
	t         reflect.Type // never a pointer type
	ptr       bool
	generated bool             // *T has a generated UnmarshalMsg (see generatedUnmarshaler)
	gen       generatedDecoder // decodes a T or *T with it, without reflection
	nilPtr    any              // a nil *T, if ptr
	planned   plannedDecoder   // decodes with T's struct plan, if it has one
}

// plannedDecoder decodes a payload into a new T with its struct plan and
// returns the *T (ptr) or the T; ok is false when the plan does not read
// this payload (the reflective decoder then does). kept: the payload's
// buffer is handed over (alias.go).
type plannedDecoder func(payload []byte, ptr, kept bool) (v any, ok bool)

// An Encoding is how values of one registered Go type are written: the
// wire name, and the encoder of the type's struct plan (the reflective
// codec's per-type work, done at Register) when it has one. The zero value
// is no type. [Registry.EncodingOf] returns it.
type Encoding struct {
	// Name is the wire type name (see [Registry.TypeName]).
	Name string
	enc  plannedEncoder
	gaps bool // the encoders may leave gaps, and a value may have some (gapSafe)
}

// MayGap reports whether an encoding of a value of e's type given [Gaps]
// may leave some: the type reaches a []byte, and no code of its own runs
// while it is encoded. Otherwise there is no need for Gaps.
func (e Encoding) MayGap() bool { return e.gaps }

// plannedEncoder appends msg's payload with its type's struct plan,
// leaving large []byte fields as gaps of g when g is not nil, or reports
// false (dst unchanged) when the plan turned out not to agree with msgpack
// (structPlan.ok).
type plannedEncoder func(dst []byte, msg any, g *Gaps) ([]byte, bool)

// AppendPlanned appends msg's payload with the encoder of its type's
// struct plan and reports true, or reports false (dst unchanged) when the
// type has none; then use [Registry.AppendPayloadFDs]. msg must be a value
// of the type e was returned for. The bytes are those the reflective
// encoder writes.
func (e Encoding) AppendPlanned(dst []byte, msg any) ([]byte, bool) {
	return e.AppendPlannedGaps(dst, msg, nil)
}

// AppendPlannedGaps is AppendPlanned that leaves each []byte field of at
// least [GapMin] bytes out of dst, as a gap of g (see [Gaps]); nil g
// copies everything.
func (e Encoding) AppendPlannedGaps(dst []byte, msg any, g *Gaps) ([]byte, bool) {
	if e.enc == nil {
		return dst, false
	}
	return e.enc(dst, msg, g)
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	r := &Registry{shared: true}
	r.next = &registryMaps{
		byType: make(map[reflect.Type]Encoding),
		byName: make(map[string]registeredType),
		names:  make(map[string]reflect.Type),
	}
	r.maps.Store(r.next)
	return r
}

// snapshot returns the registry's current maps, publishing what Register
// changed since the last lookup. The maps returned are never changed.
func (r *Registry) snapshot() *registryMaps {
	if !r.stale.Load() {
		return r.maps.Load()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stale.Load() {
		r.maps.Store(r.next)
		r.shared = true
		r.stale.Store(false)
	}
	return r.maps.Load()
}

// Register registers T under name. Values of both T and *T can then be
// encoded; a *T decodes as *T and a T as T (on the wire a *T travels under
// the name "*"+name).
//
// A type with msgp-generated codecs (MarshalMsg and UnmarshalMsg, the
// method sets of github.com/tinylib/msgp's Marshaler and Unmarshaler) is
// encoded and decoded by them, without reflection; the bytes are msgpack
// as on the reflective path, so either kind of peer reads the other's.
//
// T must be a concrete non-pointer type and name must be non-empty, shorter
// than [MaxNameLen] bytes and not start with "*". Registering a name already used
// by another type, or a type already registered under another name, is an
// error wrapping [ErrDuplicateType]; registering the same (T, name) again
// does nothing.
func Register[T any](r *Registry, name string) error {
	t := reflect.TypeFor[T]()
	c := typeCodecs{}
	if _, ok := any((*T)(nil)).(generatedUnmarshaler); ok {
		c.gen = decodeGeneratedAs[T]
	} else if p := newStructPlan(t); p != nil {
		c.dec, c.enc = decodePlannedAs[T](p), encodePlannedAs[T](p)
	}
	return r.register(t, name, c)
}

// typeCodecs are the reflection-free codecs Register found for a type.
type typeCodecs struct {
	gen generatedDecoder
	dec plannedDecoder
	enc plannedEncoder
}

// decodePlannedAs returns the plannedDecoder of T with plan p.
func decodePlannedAs[T any](p *structPlan) plannedDecoder {
	return func(payload []byte, ptr, kept bool) (any, bool) {
		if !p.ok() {
			return nil, false
		}
		v := new(T)
		if !p.decode(payload, unsafe.Pointer(v), kept) {
			return nil, false
		}
		if ptr {
			return v, true
		}
		return *v, true
	}
}

// encodePlannedAs returns the plannedEncoder of T and *T with plan p.
func encodePlannedAs[T any](p *structPlan) plannedEncoder {
	return func(dst []byte, msg any, g *Gaps) ([]byte, bool) {
		if !p.ok() {
			return dst, false
		}
		if v, ok := msg.(*T); ok {
			if v == nil {
				return append(dst, msgpackNil), true
			}
			return p.encodeGaps(dst, unsafe.Pointer(v), g), true
		}
		v := msg.(T) // a copy whose slices are the caller's
		return p.encodeGaps(dst, unsafe.Pointer(&v), g), true
	}
}

// MustRegister is like [Register] but panics on error. It is meant for
// setup code.
func MustRegister[T any](r *Registry, name string) {
	if err := Register[T](r, name); err != nil {
		panic(err)
	}
}

func (r *Registry) register(t reflect.Type, name string, c typeCodecs) error {
	switch {
	case t.Kind() == reflect.Pointer:
		return fmt.Errorf("wire: cannot register pointer type %v as %q: register %v", t, name, t.Elem())
	case t.Kind() == reflect.Interface:
		return fmt.Errorf("wire: cannot register interface type %v as %q", t, name)
	case name == "" || strings.HasPrefix(name, ptrPrefix) || len(name) >= MaxNameLen:
		return fmt.Errorf("wire: cannot register %v: invalid name %q", t, name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.next
	if old, ok := m.names[name]; ok {
		if old == t {
			return nil
		}
		return fmt.Errorf("%w: name %q is taken by %v, cannot register %v",
			ErrDuplicateType, name, old, t)
	}
	if old, ok := m.byType[t]; ok {
		return fmt.Errorf("%w: %v is already registered as %q, cannot register it as %q",
			ErrDuplicateType, t, old.Name, name)
	}
	if r.shared { // published: lookups may be reading it
		m = m.clone()
		r.next, r.shared = m, false
	}
	m.names[name] = t
	gaps := gapSafe(t)
	m.byType[t] = Encoding{Name: name, enc: c.enc, gaps: gaps}
	m.byType[reflect.PointerTo(t)] = Encoding{Name: ptrPrefix + name, enc: c.enc, gaps: gaps}
	m.byName[name] = newRegisteredType(t, false, c)
	m.byName[ptrPrefix+name] = newRegisteredType(t, true, c)
	r.stale.Store(true)
	return nil
}

// clone returns a copy of m with room for a few more types.
func (m *registryMaps) clone() *registryMaps {
	next := &registryMaps{
		byType: make(map[reflect.Type]Encoding, len(m.byType)+16),
		byName: make(map[string]registeredType, len(m.byName)+16),
		names:  make(map[string]reflect.Type, len(m.names)+8),
	}
	for k, v := range m.byType {
		next.byType[k] = v
	}
	for k, v := range m.byName {
		next.byName[k] = v
	}
	for k, v := range m.names {
		next.names[k] = v
	}
	return next
}

// TypeName returns the wire type name under which msg would be encoded,
// without encoding it; callers use it to write an [Envelope] head before
// the payload. An unregistered type gives an error wrapping
// [ErrUnregistered] that names the Go type.
func (r *Registry) TypeName(msg any) (string, error) {
	e, err := r.EncodingOf(msg)
	return e.Name, err
}

// EncodingOf is [Registry.TypeName] with the type's encoder: callers that
// write the name before the payload use it to encode the payload without
// a second lookup ([Encoding.AppendPlanned]).
func (r *Registry) EncodingOf(msg any) (Encoding, error) {
	t := reflect.TypeOf(msg)
	e, ok := r.snapshot().byType[t]
	if !ok {
		if t == nil {
			return Encoding{}, fmt.Errorf("%w <nil>", ErrUnregistered)
		}
		return Encoding{}, fmt.Errorf("%w %v", ErrUnregistered, t)
	}
	return e, nil
}

// appendWriter is the msgpack encoder's output. fdsOK says whether
// descriptor-bearing values may be encoded (as placeholders; see
// AppendPayloadFDs), fds collects them.
type appendWriter struct {
	b     []byte
	fdsOK bool
	fds   []any
	gaps  *Gaps // where a large []byte value goes instead of b (gaps.go), if set
}

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

type payloadEncoder struct {
	w   appendWriter
	enc *msgpack.Encoder
}

var encoderPool = sync.Pool{New: func() any {
	e := &payloadEncoder{}
	e.enc = msgpack.NewEncoder(&e.w)
	return e
}}

// AppendEncode appends the msgpack encoding of msg to dst and returns the
// wire type name with the extended slice. msg must be a value of a
// registered type T or a *T. For an unregistered type it returns dst
// unchanged and an error wrapping [ErrUnregistered] that names the Go type
// ("wire: unregistered message type main.Foo").
func (r *Registry) AppendEncode(dst []byte, msg any) (name string, out []byte, err error) {
	e, err := r.EncodingOf(msg)
	if err != nil {
		return "", dst, err
	}
	name = e.Name
	if out, ok := e.AppendPlanned(dst, msg); ok {
		return name, out, nil
	}
	out, err = appendPayload(dst, msg)
	if err != nil {
		return "", dst, fmt.Errorf("wire: encode %s: %w", name, err)
	}
	return name, out, nil
}

// AppendPayload appends the msgpack encoding of msg to dst, for callers
// that already have its name from [Registry.TypeName] (which is what
// checks that the type is registered).
func (r *Registry) AppendPayload(dst []byte, msg any) ([]byte, error) {
	if e, ok := r.snapshot().byType[reflect.TypeOf(msg)]; ok {
		if out, ok := e.AppendPlanned(dst, msg); ok {
			return out, nil
		}
	}
	out, err := appendPayload(dst, msg)
	if err != nil {
		return dst, fmt.Errorf("wire: encode %T: %w", msg, err)
	}
	return out, nil
}

// appendPayload encodes msg with its generated MarshalMsg if it has one,
// else with the reflective msgpack encoder; both write msgpack, so either
// kind of peer decodes either.
func appendPayload(dst []byte, msg any) (out []byte, err error) {
	if out, ok, err := appendGenerated(dst, msg); ok {
		return out, err
	}
	e := encoderPool.Get().(*payloadEncoder)
	e.enc.Reset(&e.w) // clear options a custom encoder may have set
	e.w.b = dst
	err = e.enc.Encode(msg)
	out = e.w.b
	e.w.b = nil
	encoderPool.Put(e)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// Decode returns a new value of the type registered under the wire name,
// decoded from payload: a T for "name", a *T for "*name". An unknown name
// gives an error wrapping [ErrUnknownType]; a payload that is not exactly
// one msgpack document fitting the type gives one wrapping [ErrBadPayload].
// Decode never panics on hostile payloads.
func (r *Registry) Decode(name string, payload []byte) (any, error) {
	rt, ok := r.snapshot().byName[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, name)
	}
	return r.decode(rt, name, payload, false)
}

// DecodeName is Decode with the name as bytes (an [EnvelopeView] field); it
// does not allocate for the name.
func (r *Registry) DecodeName(name []byte, payload []byte) (any, error) {
	rt, ok := r.snapshot().byName[string(name)]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, name)
	}
	v, err := r.decode(rt, "", payload, false)
	if err != nil {
		return nil, fmt.Errorf("type %q: %w", name, err)
	}
	return v, nil
}

// decode decodes payload as rt; kept says that payload's buffer is handed
// over (see [Registry.DecodeNameKept]).
func (r *Registry) decode(rt registeredType, name string, payload []byte, kept bool) (any, error) {
	isNil := len(payload) == 1 && payload[0] == msgpackNil
	if rt.ptr && isNil {
		return rt.nilPtr, nil // a nil *T
	}
	if rt.planned != nil && !isNil {
		if v, ok := rt.planned(payload, rt.ptr, kept); ok {
			return v, nil
		}
		return r.decodeReflective(rt, name, payload, kept) // the plan's decline is no verdict
	}
	if rt.gen != nil && !isNil {
		if v, err := rt.gen(payload, name, rt.ptr); err == nil || !retryReflective(err, payload) {
			return v, err
		}
		return r.decodeReflective(rt, name, payload, kept)
	}
	v := reflect.New(rt.t)
	p := v.Interface()
	var err error
	if rt.generated && !isNil { // a nil T decodes to its zero value, reflectively
		err = decodeGenerated(payload, p.(generatedUnmarshaler), name)
		if retryReflective(err, payload) {
			return r.decodeReflective(rt, name, payload, kept)
		}
	} else {
		err = decodePayload(payload, p, name, nil, kept)
	}
	if err != nil {
		return nil, err
	}
	if rt.ptr {
		return v.Interface(), nil
	}
	return v.Elem().Interface(), nil
}

// retryReflective says whether a payload the generated decoder refused is
// decoded again reflectively: what generated code refuses but msgpack
// allows (a reflective peer writes a nil slice, map or string as nil).
// Only a well-formed payload with a nil byte in it is tried again.
func retryReflective(err error, payload []byte) bool {
	return err != nil && !errors.Is(err, errNotMsgpack) && bytes.IndexByte(payload, msgpackNil) >= 0
}

// decodeReflective decodes payload as rt with the reflective decoder.
func (r *Registry) decodeReflective(rt registeredType, name string, payload []byte, kept bool) (any, error) {
	v := reflect.New(rt.t)
	if err := decodePayload(payload, v.Interface(), name, nil, kept); err != nil {
		return nil, err
	}
	if rt.ptr {
		return v.Interface(), nil
	}
	return v.Elem().Interface(), nil
}

// Names returns the registered names, sorted (without the "*" variants).
func (r *Registry) Names() []string {
	m := r.snapshot()
	names := make([]string, 0, len(m.names))
	for n := range m.names {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TypeCache remembers the last few wire names a reader decoded, so that a
// stream of messages of one type (or of a request and its answer) looks
// its type up by comparing the name's bytes instead of hashing it per
// frame. The zero value is ready; a cache is for one goroutine at a time
// (a link's reader), and a Register since it was filled empties it.
type TypeCache struct {
	maps    *registryMaps
	next    int
	entries [typeCacheSize]typeCacheEntry
}

const typeCacheSize = 4

type typeCacheEntry struct {
	name string
	rt   registeredType
}

// lookup returns the registered type of name, from c or from m (then
// remembered in c, replacing the oldest entry).
func (c *TypeCache) lookup(m *registryMaps, name []byte) (registeredType, bool) {
	if c.maps != m {
		*c = TypeCache{maps: m}
	}
	for i := range c.entries {
		if e := &c.entries[i]; e.rt.t != nil && e.name == string(name) {
			return e.rt, true
		}
	}
	rt, ok := m.byName[string(name)]
	if ok {
		c.entries[c.next] = typeCacheEntry{name: string(name), rt: rt}
		c.next = (c.next + 1) % typeCacheSize
	}
	return rt, ok
}

// DecodeNameCached is [Registry.DecodeName] with the type looked up
// through c.
func (r *Registry) DecodeNameCached(c *TypeCache, name []byte, payload []byte) (any, error) {
	return r.decodeNameCached(c, name, payload, false)
}

// DecodeNameKept is [Registry.DecodeNameCached] for a payload whose buffer
// the caller hands over (a [Frame] with Owned set): nothing may change or
// reuse its bytes afterwards, because the decoded value's large []byte
// values alias them instead of being copied (see alias.go).
func (r *Registry) DecodeNameKept(c *TypeCache, name []byte, payload []byte) (any, error) {
	return r.decodeNameCached(c, name, payload, true)
}

// DecodeNameOwned is [Registry.DecodeNameKept] that also says whether
// the value may refer to payload's buffer: keeps is false only when it is
// proven not to (nothing the value reaches points into the buffer, see
// keeps; a failed decode keeps nothing), and the caller, who owns the
// buffer, may then reuse it ([Assembler.Recycle]). The value of a
// generated codec, which copies, usually keeps nothing; one whose large
// []byte aliases the payload keeps it.
func (r *Registry) DecodeNameOwned(c *TypeCache, name []byte, payload []byte) (v any, keepsPayload bool, err error) {
	v, err = r.decodeNameCached(c, name, payload, true)
	if err != nil {
		return nil, false, err
	}
	return v, keeps(v, payload), nil
}

func (r *Registry) decodeNameCached(c *TypeCache, name []byte, payload []byte, kept bool) (any, error) {
	rt, ok := c.lookup(r.snapshot(), name)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, name)
	}
	v, err := r.decode(rt, "", payload, kept)
	if err != nil {
		return nil, fmt.Errorf("type %q: %w", name, err)
	}
	return v, nil
}
