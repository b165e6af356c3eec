package spawn_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/wire"
)

// WrapOpts are the options of the test target "test.wrap": a wrapper
// that builds its inner target and nothing else.
type WrapOpts struct{ Inner spawn.TargetSpec }

func init() {
	spawn.RegisterViaTarget("test.wrap", func(ctx context.Context, o *WrapOpts) (runner.Target, error) {
		return spawn.MakeTarget(ctx, o.Inner)
	})
}

// rawTarget is what spawn.Start sends for a described target, made by
// hand (a hostile or broken origin).
type rawTarget struct{ Target spawn.TargetSpec }

func wrapped(t *testing.T, depth int, leaf spawn.TargetSpec) spawn.TargetSpec {
	t.Helper()
	spec := leaf
	for i := 0; i < depth; i++ {
		b, err := wire.Marshal(&WrapOpts{Inner: spec})
		if err != nil {
			t.Fatal(err)
		}
		spec = spawn.TargetSpec{Method: "test.wrap", Opts: b}
	}
	return spec
}

// TestVia_BogusTargetDescriptions: descriptions an intermediate cannot
// build are clear errors (spawn.ErrBadTarget at the root) with a bound:
// an unknown method, wrappers nested 1,000 deep (the bound is
// MaxTargetDepth: that many still reach the leaf), options of more than
// MaxTargetBytes, options that do not decode. Nothing starts, and the
// intermediate still serves.
func TestVia_BogusTargetDescriptions(t *testing.T) {
	root := newRoot(t, nil)
	a, _ := startChild(t, root, "a", spawn.Pipes)
	ctx := testCtx(t, 30*time.Second)
	unknown := spawn.TargetSpec{Method: "no.such.method", Opts: []byte{0x80}}
	for _, tc := range []struct {
		name string
		spec spawn.TargetSpec
		want string
	}{
		{"unknown method", unknown, "no target method"},
		{"1,000 deep", wrapped(t, 1000, unknown), "nested deeper than"},
		{"as deep as allowed", wrapped(t, spawn.MaxTargetDepth-1, unknown), "no target method"},
		{"one too deep", wrapped(t, spawn.MaxTargetDepth, unknown), "nested deeper than"},
		{"huge", spawn.TargetSpec{Method: "test.wrap", Opts: make([]byte, spawn.MaxTargetBytes+1)}, "bytes, at most"},
		{"huge inside", wrapped(t, 1, spawn.TargetSpec{Method: "test.wrap", Opts: make([]byte, spawn.MaxTargetBytes+1)}), "bytes, at most"},
		{"garbage options", spawn.TargetSpec{Method: "test.wrap", Opts: []byte{0xc1, 0xff, 0x00}}, "options"},
		{"empty", spawn.TargetSpec{}, "no target method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(root.Routes())
			_, err := spawn.StartVia(ctx, root, a, "target", &rawTarget{Target: tc.spec})
			if !errors.Is(err, spawn.ErrBadTarget) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want ErrBadTarget saying %q", err, tc.want)
			}
			if after := len(root.Routes()); after != before {
				t.Fatalf("routes %d -> %d", before, after)
			}
		})
	}
	if c := viaLocal(t, root, a, "after"); echoPid(t, root, c) == 0 {
		t.Fatal("the intermediate no longer starts children")
	}
}

// TestVia_TargetMustTravel: spawn.Start with Via and a target that is
// not a spawn.ViaTarget, or with Bootstrap.Build, fails at the origin
// with ErrViaOption.
func TestVia_TargetMustTravel(t *testing.T) {
	root := newRoot(t, nil)
	ctx := testCtx(t, 10*time.Second)
	_, err := spawn.Start(ctx, root, opaqueTarget{}, spawn.Common{Via: spawn.ContextID(5)}, spawn.Bootstrap{})
	if !errors.Is(err, spawn.ErrViaOption) {
		t.Fatalf("opaque target: %v, want ErrViaOption", err)
	}
}

type opaqueTarget struct{}

func (opaqueTarget) Info() runner.Info { return runner.Info{Method: "opaque"} }
func (opaqueTarget) Runner(runner.Command) (runner.Runner, error) {
	return nil, errors.New("opaque: no runner")
}

// TestChain_Local: three local hops in one expression, each the previous
// one's child, each handle reachable; then a chain whose third step
// fails: a *ChainError naming it, and the two hops started are shut down.
func TestChain_Local(t *testing.T) {
	root := newRoot(t, nil)
	ctx := testCtx(t, 60*time.Second)
	step := func(name string) spawn.Step {
		return spawn.LocalStep(spawn.Options{Common: spawn.Common{Name: name, Grace: time.Second}})
	}
	hops, err := spawn.Chain(ctx, root, step("a"), step("b"), step("c"))
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hops {
		pid := echoPid(t, root, h)
		if i == 0 {
			if h.Info().Via != 0 {
				t.Fatalf("hop 0 info %+v", h.Info())
			}
			continue
		}
		if h.Info().Via != hops[i-1].ID() || ppid(t, pid) != hops[i-1].Info().Pid {
			t.Fatalf("hop %d (%s): via %d, parent %d; want hop %d (pid %d)", i, h.Name(), h.Info().Via, ppid(t, pid), i-1, hops[i-1].Info().Pid)
		}
	}
	if err := hops[0].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, h := range hops {
		<-h.Dead()
	}

	before := len(root.Routes())
	bad := spawn.LocalStep(spawn.Options{Common: spawn.Common{Name: "bad"}, Executable: "/nonexistent/spindle"})
	_, err = spawn.Chain(ctx, root, step("x"), step("y"), bad, step("never"))
	var ce *spawn.ChainError
	if !errors.As(err, &ce) || ce.Step != 2 {
		t.Fatalf("err = %v, want a *ChainError at step 2", err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(root.Routes()) != before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("routes %d after the failed chain, %d before: hops left behind", len(root.Routes()), before)
		}
	}
}

// BuildAsk are the options of the test method "test.build": a hostile
// intermediate that asks the origin's build prompt for each platform.
type BuildAsk struct{ Platforms []string }

func init() {
	spawn.RegisterViaMethod("test.build", func(ctx context.Context, _ *actors.Node, o *BuildAsk) (spawn.Child, error) {
		var got []string
		for _, p := range o.Platforms {
			_, err := spawn.AskOrigin(ctx, "spindle.build", p)
			switch {
			case err == nil:
				got = append(got, "ok")
			case errors.Is(err, spawn.ErrNoToolchain):
				got = append(got, "no-toolchain")
			case errors.Is(err, spawn.ErrCannotBuild):
				got = append(got, "cannot-build")
			default:
				got = append(got, "other: "+err.Error())
			}
		}
		return nil, errors.New("asked: " + strings.Join(got, ","))
	})
}

// TestVia_HostileBuildAsks: the origin's build prompt (Bootstrap.Build
// through Via) builds only for a real GOOS/GOARCH pair, and at most twice
// per start, whatever the intermediate asks; without Build there is no
// prompt to ask.
func TestVia_HostileBuildAsks(t *testing.T) {
	root := newRoot(t, nil)
	a, _ := startChild(t, root, "a", spawn.Pipes)
	ctx := testCtx(t, 30*time.Second)
	build := spawn.NewBuilder(spawn.BuildOptions{Go: "/nonexistent/go", CacheDir: t.TempDir()})
	ask := func(b spawn.Bootstrap, platforms ...string) string {
		_, err := spawn.StartViaBootstrap(ctx, root, a, "test.build", &BuildAsk{Platforms: platforms}, b)
		if err == nil {
			t.Fatal("test.build started something")
		}
		return err.Error()
	}
	if got := ask(spawn.Bootstrap{Build: build}, "../../etc/passwd", "linux/arm64;rm", strings.Repeat("x", 1<<12)+"/arm64",
		"linux/arm64", "linux/arm64", "linux/arm64"); !strings.Contains(got, "asked: cannot-build,cannot-build,cannot-build,no-toolchain,no-toolchain,cannot-build") {
		t.Fatalf("hostile build asks: %s", got)
	}
	if got := ask(spawn.Bootstrap{}, "linux/arm64"); !strings.Contains(got, "asked: other:") || !strings.Contains(got, "no such prompt") {
		t.Fatalf("build asked without Build: %s", got)
	}
}
