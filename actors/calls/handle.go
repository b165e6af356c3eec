package calls

import (
	"context"
	"fmt"
)

// handler is a registered function or method, type-erased: fn decodes the
// request body, runs the typed handler and appends the answer's msgpack
// encoding to dst.
type handler struct {
	name string
	fn   func(ctx context.Context, body, dst []byte) ([]byte, error)
}

func newHandler[Req, Resp any](ep *Endpoint, name string, fn func(context.Context, *Req) (*Resp, error)) (*handler, error) {
	if fn == nil {
		return nil, fmt.Errorf("calls: %q: nil handler", name)
	}
	if name == "" || len(name) > MaxNameLen {
		return nil, fmt.Errorf("calls: name %q empty or longer than %d bytes", name, MaxNameLen)
	}
	reg := ep.node.Registry()
	decode, err := newDecoder[Req](&ep.codecs)
	if err != nil {
		return nil, err
	}
	return &handler{name: name, fn: func(ctx context.Context, body, dst []byte) ([]byte, error) {
		req, err := decode(body)
		if err != nil {
			return dst, &badRequestError{err}
		}
		resp, err := fn(ctx, req)
		if err != nil {
			return dst, err
		}
		return reg.AppendPayload(dst, resp)
	}}, nil
}

// Handle registers fn as the function name of ep's context, callable with
// [Call] (CALL_FUNCTION) by this context's ancestors and by itself: plain
// functions are privileged, like spawning (docs/security.md); offer
// methods to other contexts with a [Service]. Req and Resp travel as
// msgpack (a type with msgp-generated MarshalMsg is encoded without
// reflection); a nil *Resp arrives as a zero Resp.
//
// fn runs at most Config.MaxConcurrent at once, right after its frame on
// the link's reader goroutine under the link's watchdog (a handler that
// blocks keeps that goroutine, and a new one reads the link on), or on a
// goroutine of its own when it was queued; its ctx is cancelled when the caller's ctx is done, the caller dies, or
// the endpoint closes, and carries the caller's deadline and [CallerOf].
// An error it returns reaches the caller as a *RemoteError; a panic is an
// error matching ErrPanic, and the context lives on. Register functions in
// Config.Setup, before the first call; a name can be registered once.
func Handle[Req, Resp any](ep *Endpoint, name string, fn func(ctx context.Context, req *Req) (*Resp, error)) error {
	h, err := newHandler(ep, name, fn)
	if err != nil {
		return err
	}
	ep.regMu.Lock()
	defer ep.regMu.Unlock()
	if _, dup := ep.funcs[name]; dup {
		return fmt.Errorf("calls: function %q already registered", name)
	}
	ep.funcs[name] = h
	return nil
}

// Caller is the context a call comes from, as the callee verified it: the
// frame's source after the node's reverse-path check.
type Caller struct {
	ID         uint32 // the calling context
	Ancestor   bool   // it is an ancestor of the callee (its parent, or the parent's ancestors)
	Descendant bool   // it lives in the callee's subtree (behind one of its child links)
	Self       bool   // it is the callee's own context
}

type callerKey struct{}

// CallerOf returns the caller of the call whose handler got ctx.
func CallerOf(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Policy decides whether a service accepts a call from a context. It runs
// on a link's reader goroutine: it must be fast and must not block.
type Policy func(Caller) bool

// Ancestors accepts calls from the callee's ancestors and its own context:
// the default Policy, and the fixed one of plain functions.
func Ancestors(c Caller) bool { return c.Ancestor || c.Self }

// Descendants accepts calls from the callee's subtree (its children and
// their descendants) and its own context: for a service through which
// workers report to the context that started them.
func Descendants(c Caller) bool { return c.Descendant || c.Self }

// AnyContext accepts calls from every context of the tree (siblings and
// descendants included): for services that are meant for the whole tree.
func AnyContext(Caller) bool { return true }

// Defaults of ServiceConfig's zero fields.
const (
	DefaultServiceConcurrent = 8
	DefaultServiceQueued     = 64
)

// ServiceConfig configures a Service. The zero value is usable.
type ServiceConfig struct {
	// Policy says who may call the service. Default Ancestors.
	Policy Policy
	// MaxConcurrent is how many of the service's calls run at once;
	// MaxQueued how many more wait; beyond, ErrBusy. Defaults
	// DefaultServiceConcurrent, DefaultServiceQueued.
	MaxConcurrent int
	MaxQueued     int
}

// Service is a named set of methods one context offers to others, with its
// own policy and limits, as in Mitogen's service framework. Reach a method
// with [CallService]. A Service is safe for concurrent use.
type Service struct {
	ep      *Endpoint
	name    string
	policy  Policy
	methods map[string]*handler // guarded by ep.regMu
	pool    pool                // guarded by ep.in.mu
}

// NewService registers the service name in ep's context (in Config.Setup,
// before the first call); add its methods with [Method].
func NewService(ep *Endpoint, name string, cfg ServiceConfig) (*Service, error) {
	if name == "" || len(name) > MaxNameLen {
		return nil, fmt.Errorf("calls: service name %q empty or longer than %d bytes", name, MaxNameLen)
	}
	if cfg.Policy == nil {
		cfg.Policy = Ancestors
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultServiceConcurrent
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = DefaultServiceQueued
	}
	s := &Service{ep: ep, name: name, policy: cfg.Policy, methods: map[string]*handler{},
		pool: pool{max: cfg.MaxConcurrent, maxQueued: cfg.MaxQueued}}
	ep.regMu.Lock()
	defer ep.regMu.Unlock()
	if _, dup := ep.services[name]; dup {
		return nil, fmt.Errorf("calls: service %q already registered", name)
	}
	ep.services[name] = s
	return s, nil
}

// Name returns the service's name.
func (s *Service) Name() string { return s.name }

// Method registers fn as method name of the service s, as Handle does for
// a function: the same types, ctx, errors and panics; it runs in the
// service's own pool, for the callers its Policy accepts.
func Method[Req, Resp any](s *Service, name string, fn func(ctx context.Context, req *Req) (*Resp, error)) error {
	h, err := newHandler(s.ep, name, fn)
	if err != nil {
		return err
	}
	s.ep.regMu.Lock()
	defer s.ep.regMu.Unlock()
	if _, dup := s.methods[name]; dup {
		return fmt.Errorf("calls: method %q of service %q already registered", name, s.name)
	}
	s.methods[name] = h
	return nil
}

// allows runs the policy; a panicking policy refuses.
func (s *Service) allows(c Caller) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return s.policy(c)
}
