package calls

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// Code is the stable class of a [RemoteError], the same in every version
// and context: test for it with errors.Is and the sentinels below, or read
// it from RemoteError.Code.
type Code string

// Codes of remote errors.
const (
	CodeError      Code = "error"       // the handler returned an error
	CodePanic      Code = "panic"       // the handler panicked (ErrPanic)
	CodeBusy       Code = "busy"        // no room to run or queue the call (ErrBusy)
	CodeRefused    Code = "refused"     // the caller may not call it (ErrRefused)
	CodeNotFound   Code = "not_found"   // no such function, service or method (ErrNotFound)
	CodeBadRequest Code = "bad_request" // the request could not be decoded (ErrBadRequest)
	CodeTooLarge   Code = "too_large"   // the request is over the callee's MaxRequest (ErrTooLarge)
	CodeCanceled   Code = "canceled"    // the handler returned context.Canceled
	CodeDeadline   Code = "deadline"    // the handler returned context.DeadlineExceeded
	CodeClosed     Code = "closed"      // the callee's endpoint was closing (ErrClosed)
)

// ErrPanic matches the error of a call whose handler panicked; the panic
// value and the handler's stack are in the RemoteError's Message.
var ErrPanic = errors.New("calls: handler panicked")

// ErrBusy matches the error of a call refused because the callee already
// runs and queues as many calls as its limits allow (from all callers, or
// from this caller).
var ErrBusy = errors.New("calls: callee busy")

// ErrRefused matches the error of a call refused by the callee's policy:
// CALL_FUNCTION from a context that is not an ancestor, or a service call
// its Policy does not allow. Such errors also match actors.ErrRefused.
var ErrRefused = errors.New("calls: refused by policy")

// ErrNotFound matches the error of a call to a function, service or method
// the callee has not registered.
var ErrNotFound = errors.New("calls: no such function")

// ErrBadRequest matches the error of a call whose request the callee could
// not decode into the handler's request type, or a malformed call frame.
var ErrBadRequest = errors.New("calls: bad request")

// ErrTooLarge matches the error of a call whose request or answer is over
// the limit of the endpoint that refused it (Config.MaxRequest,
// Config.MaxReply).
var ErrTooLarge = errors.New("calls: message too large")

// ErrClosed is returned by calls on a closed Endpoint, and matches the
// error of a call that the callee's endpoint refused or cancelled because
// it was closing.
var ErrClosed = errors.New("calls: endpoint closed")

// RemoteError is the error a handler returned (or the callee's refusal),
// as the caller sees it. Err is the error rebuilt from a sentinel or type
// registered by name in both contexts ([RegisterError],
// [RegisterErrorType]), and what RemoteError unwraps to, so errors.Is and
// errors.As see the handler's error across contexts; nil when the error
// was not registered. RemoteError also matches the sentinel of its Code
// (ErrPanic, ErrBusy, ErrRefused and actors.ErrRefused, ErrNotFound,
// ErrBadRequest, ErrTooLarge, ErrClosed, context.Canceled,
// context.DeadlineExceeded).
type RemoteError struct {
	Context uint32 // the callee's context ID
	Name    string // the function, or "service.method"
	Code    Code
	Message string // the error's text in the callee
	Err     error  // the registered error, rebuilt; nil if none
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("calls: %s in context %d: %s", e.Name, e.Context, e.Message)
}

// Unwrap returns the registered error, if any.
func (e *RemoteError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, <the sentinel of Code>) work.
func (e *RemoteError) Is(target error) bool {
	switch e.Code {
	case CodePanic:
		return target == ErrPanic
	case CodeBusy:
		return target == ErrBusy
	case CodeRefused:
		return target == ErrRefused || target == actors.ErrRefused
	case CodeNotFound:
		return target == ErrNotFound
	case CodeBadRequest:
		return target == ErrBadRequest
	case CodeTooLarge:
		return target == ErrTooLarge
	case CodeClosed:
		return target == ErrClosed
	case CodeCanceled:
		return target == context.Canceled
	case CodeDeadline:
		return target == context.DeadlineExceeded
	}
	return false
}

// wireError is the msgpack body of an error reply.
type wireError struct {
	Code string
	Msg  string
	Name string `msgpack:",omitempty"` // registered error name
	Data []byte `msgpack:",omitempty"` // msgpack of a registered error type's value
}

// maxErrorText bounds the text of an error reply.
const maxErrorText = 16 << 10

// errEntry is one error registered by name: a sentinel (match with
// errors.Is, rebuild as itself) or a type (match with errors.As, carry its
// msgpack encoding, rebuild by decoding it).
type errEntry struct {
	name   string
	encode func(err error) (data []byte, ok bool)
	decode func(data []byte) (error, bool)
}

// RegisterError registers the sentinel err under name, in ep's context:
// a handler's error that matches it (errors.Is) reaches a caller that
// registered the same name as a RemoteError unwrapping to that caller's
// own sentinel. Register the same names in every context (in
// Config.Setup), before the first call; the first registered error that
// matches is the one sent.
func RegisterError(ep *Endpoint, name string, err error) error {
	if err == nil {
		return fmt.Errorf("calls: RegisterError(%q): nil error", name)
	}
	return ep.addError(errEntry{
		name:   name,
		encode: func(e error) ([]byte, bool) { return nil, errors.Is(e, err) },
		decode: func([]byte) (error, bool) { return err, true },
	})
}

// RegisterErrorType registers the error type E under name: a handler's
// error that errors.As finds an E in travels as the msgpack encoding of
// that E (its exported fields), and is decoded into a new E on the caller's
// side, which RemoteError unwraps to (errors.As(err, &e) works). E is
// usually a pointer type (*NotFoundError). Register in every context, as
// for RegisterError.
func RegisterErrorType[E error](ep *Endpoint, name string) error {
	t := reflect.TypeFor[E]()
	if t.Kind() == reflect.Interface {
		return fmt.Errorf("calls: RegisterErrorType(%q): %v is an interface type", name, t)
	}
	return ep.addError(errEntry{
		name: name,
		encode: func(e error) ([]byte, bool) {
			var target E
			if !errors.As(e, &target) {
				return nil, false
			}
			b, err := wire.Marshal(target)
			return b, err == nil
		},
		decode: func(data []byte) (error, bool) {
			var v E
			if wire.Unmarshal(data, &v) != nil {
				return nil, false
			}
			if t.Kind() == reflect.Pointer && reflect.ValueOf(v).IsNil() {
				return nil, false
			}
			return v, true
		},
	})
}

func (ep *Endpoint) addError(e errEntry) error {
	if e.name == "" || len(e.name) > MaxNameLen {
		return fmt.Errorf("calls: error name %q empty or longer than %d bytes", e.name, MaxNameLen)
	}
	ep.regMu.Lock()
	defer ep.regMu.Unlock()
	if _, dup := ep.errByName[e.name]; dup {
		return fmt.Errorf("calls: error name %q already registered", e.name)
	}
	ep.errByName[e.name] = e
	ep.errs = append(ep.errs, e)
	return nil
}

// encodeError builds the error reply body of a handler's error.
func (ep *Endpoint) encodeError(code Code, err error) []byte {
	w := wireError{Code: string(code), Msg: cut(err.Error(), maxErrorText)}
	if code == CodeError {
		switch {
		case errors.Is(err, context.Canceled):
			w.Code = string(CodeCanceled)
		case errors.Is(err, context.DeadlineExceeded):
			w.Code = string(CodeDeadline)
		}
		ep.regMu.RLock()
		for _, e := range ep.errs {
			if data, ok := e.encode(err); ok {
				w.Name, w.Data = e.name, data
				break
			}
		}
		ep.regMu.RUnlock()
	}
	b, mErr := wire.Marshal(&w)
	if mErr != nil { // cannot happen for these fields; keep the code
		b, _ = wire.Marshal(&wireError{Code: w.Code, Msg: "calls: unencodable error"})
	}
	return b
}

// decodeError rebuilds the RemoteError of an error reply from context
// target for the call name.
func (ep *Endpoint) decodeError(target uint32, name string, body []byte) error {
	var w wireError
	if err := wire.Unmarshal(body, &w); err != nil {
		return &RemoteError{Context: target, Name: name, Code: CodeError,
			Message: fmt.Sprintf("undecodable error reply: %v", err)}
	}
	re := &RemoteError{Context: target, Name: name, Code: Code(w.Code), Message: w.Msg}
	if w.Name != "" {
		ep.regMu.RLock()
		e, ok := ep.errByName[w.Name]
		ep.regMu.RUnlock()
		if ok {
			re.Err, _ = e.decode(w.Data)
		}
	}
	return re
}

// cut returns s cut to at most n bytes.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
