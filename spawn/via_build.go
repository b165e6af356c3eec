package spawn

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/spawn/internal/boot"
	"github.com/spindle-go/spindle/wire"
)

// Bootstrap.Build through Via (docs/via.md, "Builds at the origin"): the
// Builder stays at the origin as a prompt. When a bootstrap on the
// intermediate meets a target of a platform nobody offered, it asks the
// origin (AskOrigin, buildPrompt, the platform), which builds with its
// Builder, offers the result in its binary service and answers its
// {platform, SHA-256, size}; the intermediate then fetches it by content
// address from its parent, as any binary offered at the start
// (spawn/via_binary.go), verifying it on the way.

// buildPrompt is the name of the origin's build prompt (args: platform;
// answer: a viaBinary in msgpack).
const buildPrompt = "spindle.build"

// maxViaBuilds bounds the builds one via start may ask of the origin (a
// start bootstraps one target: one platform; a second ask is a retry).
const maxViaBuilds = 2

// buildPromptOf is the origin's side: build answers an intermediate's
// ask with b, offered by node's binary service.
func buildPromptOf(node *actors.Node, ep *calls.Endpoint, b *Builder) ViaPrompt {
	var asked atomic.Int32
	return ViaPrompt{Name: buildPrompt, Ask: func(ctx context.Context, args []string) ([]byte, error) {
		if len(args) != 1 || !boot.Buildable(args[0]) {
			return nil, fmt.Errorf("spawn: build asked through Via for %.64q: %w", args, ErrCannotBuild)
		}
		if asked.Add(1) > maxViaBuilds {
			return nil, fmt.Errorf("spawn: more than %d builds asked by one via start: %w", maxViaBuilds, ErrCannotBuild)
		}
		bin, err := b.Binary(ctx, args[0])
		if err != nil {
			return nil, err
		}
		s, err := binStoreOf(node, ep)
		if err != nil {
			return nil, err
		}
		table, err := s.offer([]*Binary{bin})
		if err != nil {
			return nil, err
		}
		return wire.Marshal(&table[0])
	}}
}

// originBuild is the intermediate's side: a BinarySource that asks the
// origin to build, and fetches the result from the parent.
type originBuild struct {
	start context.Context // the via start's: it names the origin
	node  *actors.Node
}

// viaBuildSource returns the origin's builder as the bootstrap's
// BinarySource, for a start through Via whose origin offered one (nil
// otherwise).
func viaBuildSource(ctx context.Context, node *actors.Node) boot.BinarySource {
	if !HasPrompt(ctx, buildPrompt) {
		return nil
	}
	return &originBuild{start: ctx, node: node}
}

func (o *originBuild) Binary(ctx context.Context, platform string) (*Binary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(o.start, cancel)
	defer stop()
	b, err := AskOrigin(valuesOf(ctx, o.start), buildPrompt, platform)
	if err != nil {
		return nil, &boot.BuildError{Platform: platform, Err: err}
	}
	var v viaBinary
	if err := wire.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("spawn: build at the origin: answer: %w", err)
	}
	if v.Platform != platform || !boot.ValidDigest(v.Digest) || v.Size <= 0 || v.Size > binMaxSize {
		return nil, fmt.Errorf("spawn: build at the origin for %s answered %q %.80q of %d bytes", platform, v.Platform, v.Digest, v.Size)
	}
	s, err := binStoreOf(o.node, calls.Of(o.node))
	if err != nil {
		return nil, err
	}
	return boot.NewRemoteBinary(v.Platform, v.Digest, v.Size, func(ctx context.Context) (*boot.Binary, error) {
		return s.obtain(ctx, v.Digest)
	}), nil
}

// valuesCtx is ctx (its deadline and end) with the values of vals.
type valuesCtx struct {
	context.Context
	vals context.Context
}

func (c valuesCtx) Value(k any) any {
	if v := c.Context.Value(k); v != nil {
		return v
	}
	return c.vals.Value(k)
}

func valuesOf(ctx, vals context.Context) context.Context { return valuesCtx{ctx, vals} }

// StartViaBootstrap is StartVia for a bootstrapped method with the
// caller's Bootstrap options: Binaries are offered to the intermediate by
// content address (StartViaBinaries), and Build, when set, stays here:
// the intermediate asks it for a platform nobody offered, and fetches
// what it built through the hops (docs/via.md).
func StartViaBootstrap(ctx context.Context, node *actors.Node, via Hop, method string, opts any, b Bootstrap, prompts ...ViaPrompt) (*Process, error) {
	if b.Build != nil {
		_, ep, err := viaTableOf(node)
		if err != nil {
			return nil, err
		}
		prompts = append(prompts[:len(prompts):len(prompts)], buildPromptOf(node, ep, b.Build))
	}
	return StartViaBinaries(ctx, node, via, method, opts, b.Binaries, prompts...)
}
