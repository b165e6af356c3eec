package spawn

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/spindle-go/spindle/actors/calls"
)

// ViaPrompt is a callback of a method that cannot travel (a password, a
// passphrase, a host key question): it stays at the origin of a via
// start, and the intermediate's method asks it through AskOrigin while
// the start runs. The answer lives on the intermediate only in the frame
// of the call that asked.
type ViaPrompt struct {
	Name string
	Ask  func(ctx context.Context, args []string) ([]byte, error)
}

// ErrNoPrompt is returned by AskOrigin when the start has no prompt of
// that name (the origin gave none, or the ctx is not a via start's).
var ErrNoPrompt = errors.New("spawn: no such prompt at the origin")

// promptService is the calls service of the origin's prompts.
const promptService = "spindle.via.prompt"

// promptSession is one start in flight with prompts: only the context the
// start was sent to may ask, and only while it runs.
type promptSession struct {
	hop     uint32
	prompts []ViaPrompt
}

// prompts holds a node's sessions (part of its viaTable).
type prompts struct {
	mu       sync.Mutex
	sessions map[string]*promptSession
	served   bool // the service is registered on the endpoint
}

// open registers a session for a start through hop and returns its token
// (128 bits from crypto/rand): the capability to ask.
func (p *prompts) open(ep *calls.Endpoint, hop uint32, ps []ViaPrompt) (token string, close func(), err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.served {
		if err := p.serve(ep); err != nil {
			return "", nil, err
		}
		p.served = true
	}
	token = newToken()
	if p.sessions == nil {
		p.sessions = map[string]*promptSession{}
	}
	p.sessions[token] = &promptSession{hop: hop, prompts: ps}
	return token, func() {
		p.mu.Lock()
		delete(p.sessions, token)
		p.mu.Unlock()
	}, nil
}

type (
	promptReq struct {
		Token, Name string
		Args        []string
	}
	promptResp struct{ Answer []byte }
)

func (p *prompts) serve(ep *calls.Endpoint) error {
	// Descendants only; the session then names the one context that may ask.
	svc, err := calls.NewService(ep, promptService, calls.ServiceConfig{Policy: calls.Descendants})
	if err != nil {
		return fmt.Errorf("spawn: via prompts: %w", err)
	}
	return calls.Method(svc, "ask", p.ask)
}

func (p *prompts) ask(ctx context.Context, r *promptReq) (*promptResp, error) {
	caller, _ := calls.CallerOf(ctx)
	p.mu.Lock()
	s := p.sessions[r.Token]
	p.mu.Unlock()
	if s == nil || s.hop != caller.ID {
		return nil, fmt.Errorf("spawn: prompt from context %d: %w", caller.ID, calls.ErrRefused)
	}
	i := slices.IndexFunc(s.prompts, func(v ViaPrompt) bool { return v.Name == r.Name })
	if i < 0 {
		return nil, fmt.Errorf("spawn: prompt %q: %w", r.Name, ErrNoPrompt)
	}
	answer, err := s.prompts[i].Ask(ctx, r.Args)
	if err != nil {
		return nil, err
	}
	return &promptResp{Answer: answer}, nil
}

// originKey carries, in a via start's ctx on the intermediate, how to
// reach the origin's prompts.
type originKey struct{}

type origin struct {
	ep    *calls.Endpoint
	id    uint32
	token string
	names []string
}

func withOrigin(ctx context.Context, ep *calls.Endpoint, r *viaStartReq) context.Context {
	if r.Token == "" {
		return ctx
	}
	caller, _ := calls.CallerOf(ctx)
	return context.WithValue(ctx, originKey{}, &origin{ep: ep, id: caller.ID, token: r.Token, names: r.Prompts})
}

// HasPrompt reports whether the via start whose ctx this is (the ctx a
// RegisterViaMethod start function gets) carries the origin's prompt name.
func HasPrompt(ctx context.Context, name string) bool {
	o, _ := ctx.Value(originKey{}).(*origin)
	return o != nil && slices.Contains(o.names, name)
}

// AskOrigin asks the origin of the via start whose ctx this is to run its
// prompt name with args, and returns the answer: for a method's callbacks
// (RegisterViaMethod). ErrNoPrompt when the start has none of that name.
// Keep the answer no longer than the call that needs it.
func AskOrigin(ctx context.Context, name string, args ...string) ([]byte, error) {
	o, _ := ctx.Value(originKey{}).(*origin)
	if o == nil || !slices.Contains(o.names, name) {
		return nil, fmt.Errorf("spawn: prompt %q: %w", name, ErrNoPrompt)
	}
	resp, err := calls.CallService[promptReq, promptResp](ctx, o.ep, o.id, promptService, "ask",
		&promptReq{Token: o.token, Name: name, Args: args})
	if err != nil {
		return nil, err
	}
	return resp.Answer, nil
}

// promptNames lists the names of ps.
func promptNames(ps []ViaPrompt) []string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return names
}

// newToken returns 128 bits from crypto/rand, base64url.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
