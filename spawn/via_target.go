package spawn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/wire"
)

// Targets as data (docs/via.md, "Targets as data"): a runner.Target that
// can describe itself travels to an intermediate as a TargetSpec, a
// registered target method's name and its options in msgpack. A
// wrapper's options hold the spec of the target it wraps, so descriptions
// compose ("sudo over command", "su over sudo over the host"), and one
// via method, "target", rebuilds the whole stack on the intermediate and
// runs spawn.Start with it.

// TargetSpec describes a runner.Target as plain data: Method names a
// target method registered with RegisterViaTarget, Opts are its options
// in msgpack. A wrapping target's options hold the TargetSpec of the
// target it wraps.
type TargetSpec struct {
	Method string
	Opts   []byte
}

// NewTargetSpec returns the description of a target of the registered
// method with the options opts (plain data, encoded in msgpack), for a
// ViaTarget's DescribeVia.
func NewTargetSpec(method string, opts any) (TargetSpec, error) {
	b, err := wire.Marshal(opts)
	if err != nil {
		return TargetSpec{}, fmt.Errorf("spawn: target %s: options: %w", method, err)
	}
	return TargetSpec{Method: method, Opts: b}, nil
}

// ViaTarget is a runner.Target that can travel through Via (the spawn/
// command, spawn/docker, spawn/kube targets, sudo.Host and the sudo, su
// and doas wrappers over any of them): DescribeVia returns it as data,
// and turns each of its callbacks (a password) into a prompt asked at the
// origin, added to p.
type ViaTarget interface {
	runner.Target
	DescribeVia(p *ViaPrompts) (TargetSpec, error)
}

// ViaPrompts collects the callbacks of a target being described: each
// becomes a ViaPrompt under a name unique in the description.
type ViaPrompts struct {
	list []ViaPrompt
}

// Add adds the callback ask and returns the name under which the
// intermediate asks it (AskOrigin): kind, "#", its index.
func (p *ViaPrompts) Add(kind string, ask func(ctx context.Context, args []string) ([]byte, error)) string {
	name := fmt.Sprintf("%s#%d", kind, len(p.list))
	p.list = append(p.list, ViaPrompt{Name: name, Ask: ask})
	return name
}

// Prompts returns the prompts added so far.
func (p *ViaPrompts) Prompts() []ViaPrompt { return append([]ViaPrompt(nil), p.list...) }

// Bounds of a target's description, checked on the intermediate before
// anything is built: how deep wrappers nest, and its size in bytes.
const (
	MaxTargetDepth = 8
	MaxTargetBytes = 64 << 10
)

// ErrBadTarget is the error of a target description an intermediate
// cannot build: an unregistered method, wrappers nested deeper than
// MaxTargetDepth, more than MaxTargetBytes, options that do not decode.
var ErrBadTarget = errors.New("spawn: bad target description")

// DescribeTarget returns t's description, its callbacks added to p: for a
// wrapping target's DescribeVia, on the target it wraps. A target that is
// not a ViaTarget cannot travel (ErrViaOption).
func DescribeTarget(t runner.Target, p *ViaPrompts) (TargetSpec, error) {
	vt, ok := t.(ViaTarget)
	if !ok {
		return TargetSpec{}, fmt.Errorf("spawn: target %T (%s): %w", t, t.Info().Method, ErrViaOption)
	}
	return vt.DescribeVia(p)
}

// targetMethods are the target methods an intermediate can build, by
// name; registered by the method packages, never from the wire.
var targetMethods = struct {
	sync.RWMutex
	m map[string]func(ctx context.Context, opts []byte) (runner.Target, error)
}{m: map[string]func(context.Context, []byte) (runner.Target, error){}}

// RegisterViaTarget lets intermediates build targets of the method name
// from their description (TargetSpec): build gets the options decoded
// from msgpack into a fresh *O, and the ctx of the via start (AskOrigin
// asks the origin's prompts with it; MakeTarget builds an inner target
// with it). It is the seam for target authors, called from the package's
// init; a second registration of a name panics.
func RegisterViaTarget[O any](name string, build func(ctx context.Context, opts *O) (runner.Target, error)) {
	targetMethods.Lock()
	defer targetMethods.Unlock()
	if _, dup := targetMethods.m[name]; dup {
		panic(fmt.Sprintf("spawn: via target %q registered twice", name))
	}
	targetMethods.m[name] = func(ctx context.Context, b []byte) (runner.Target, error) {
		o := new(O)
		if err := wire.Unmarshal(b, o); err != nil {
			return nil, fmt.Errorf("%w: %s: options: %v", ErrBadTarget, name, err)
		}
		return build(ctx, o)
	}
}

type targetDepthKey struct{}

// MakeTarget builds the target spec describes, on the intermediate: for
// a wrapper's build function (RegisterViaTarget), on its inner spec, with
// the ctx it was given, which counts the nesting (at most
// MaxTargetDepth). Errors match ErrBadTarget.
func MakeTarget(ctx context.Context, spec TargetSpec) (runner.Target, error) {
	depth, _ := ctx.Value(targetDepthKey{}).(int)
	if depth >= MaxTargetDepth {
		return nil, fmt.Errorf("%w: wrappers nested deeper than %d", ErrBadTarget, MaxTargetDepth)
	}
	if len(spec.Opts) > MaxTargetBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBadTarget, len(spec.Opts), MaxTargetBytes)
	}
	targetMethods.RLock()
	build := targetMethods.m[spec.Method]
	targetMethods.RUnlock()
	if build == nil {
		return nil, fmt.Errorf("%w: no target method %.64q registered", ErrBadTarget, spec.Method)
	}
	return build(context.WithValue(ctx, targetDepthKey{}, depth+1), spec.Opts)
}

// viaTargetOptions travel in a start through Via of a described target
// (the via method "target").
type viaTargetOptions struct {
	Target    TargetSpec
	Common    Common // Common.Via does not travel
	CacheDirs []string
	Shell     string
	Timeout   time.Duration
}

func init() {
	RegisterViaMethod("target", func(ctx context.Context, node *actors.Node, o *viaTargetOptions) (Child, error) {
		t, err := MakeTarget(ctx, o.Target)
		if err != nil {
			return nil, err
		}
		return Start(ctx, node, t, o.Common, Bootstrap{CacheDirs: o.CacheDirs, Shell: o.Shell, Timeout: o.Timeout})
	})
}

// startTargetVia is Start with c.Via set: t travels as its description,
// its callbacks stay here as prompts.
func startTargetVia(ctx context.Context, node *actors.Node, t runner.Target, c Common, b Bootstrap) (*Process, error) {
	var p ViaPrompts
	spec, err := DescribeTarget(t, &p)
	if err != nil {
		return nil, err
	}
	if len(spec.Opts) > MaxTargetBytes {
		return nil, fmt.Errorf("spawn: target description of %d bytes, at most %d: %w", len(spec.Opts), MaxTargetBytes, ErrViaOption)
	}
	return StartViaBootstrap(ctx, node, c.Via, "target", &viaTargetOptions{Target: spec, Common: c,
		CacheDirs: b.CacheDirs, Shell: b.Shell, Timeout: b.Timeout}, b, p.list...)
}
