package sudo

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"

	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
)

// Through Via (docs/via.md, "Targets as data"): Host and the three
// wrappers are spawn.ViaTargets. Their options travel as data, a
// wrapper's with the description of its inner target; the password
// callback stays at the origin as a prompt, asked from the intermediate
// when the tool prompts (at most once per start, as here), and its answer
// lives there only in the dialogue that writes it to the tool.

// The kinds of prompt a description adds (spawn.ViaPrompts.Add).
const promptPassword = "sudo.password"

// viaWrapper is a wrapper's options as data.
type viaWrapper struct {
	Inner       spawn.TargetSpec
	User, Group string
	Login       bool
	PreserveEnv []string
	Path        string
	Password    string // the name of the origin's prompt; "" for none
}

// viaHost is Host as data.
type viaHost struct {
	Cred   bool // Credential is set
	Uid    uint32
	Gid    uint32
	Groups []uint32
	Env    []string
}

func init() {
	for _, e := range []struct {
		name string
		err  error
	}{
		{"spindle.sudo.ErrBadPassword", ErrBadPassword}, {"spindle.sudo.ErrPasswordRequired", ErrPasswordRequired},
		{"spindle.sudo.ErrRefused", ErrRefused}, {"spindle.sudo.ErrAuthTimeout", ErrAuthTimeout},
		{"spindle.sudo.ErrNoTerminal", ErrNoTerminal},
	} {
		spawn.RegisterViaError(e.name, e.err)
	}
	spawn.RegisterViaTarget("sudo.host", func(_ context.Context, o *viaHost) (runner.Target, error) {
		h := &Host{Env: o.Env}
		if o.Cred {
			h.Credential = &syscall.Credential{Uid: o.Uid, Gid: o.Gid, Groups: o.Groups}
		}
		return h, nil
	})
	spawn.RegisterViaTarget("sudo", func(ctx context.Context, o *viaWrapper) (runner.Target, error) {
		inner, err := spawn.MakeTarget(ctx, o.Inner)
		if err != nil {
			return nil, err
		}
		return Sudo(inner, Options{Auth: o.auth(ctx), User: o.User, Group: o.Group, Login: o.Login, PreserveEnv: o.PreserveEnv})
	})
	spawn.RegisterViaTarget("su", func(ctx context.Context, o *viaWrapper) (runner.Target, error) {
		inner, err := spawn.MakeTarget(ctx, o.Inner)
		if err != nil {
			return nil, err
		}
		return Su(inner, SuOptions{Auth: o.auth(ctx), User: o.User, Login: o.Login})
	})
	spawn.RegisterViaTarget("doas", func(ctx context.Context, o *viaWrapper) (runner.Target, error) {
		inner, err := spawn.MakeTarget(ctx, o.Inner)
		if err != nil {
			return nil, err
		}
		return Doas(inner, DoasOptions{Auth: o.auth(ctx), User: o.User})
	})
}

// auth is the wrapper's Auth on the intermediate: the password, when the
// origin has one, asked from there with the via start's ctx.
func (o *viaWrapper) auth(start context.Context) Auth {
	a := Auth{Path: o.Path}
	if name := o.Password; name != "" && spawn.HasPrompt(start, name) {
		a.Password = func(ctx context.Context) ([]byte, error) {
			ctx, cancel := joinCtx(start, ctx)
			defer cancel()
			return spawn.AskOrigin(ctx, name)
		}
	}
	return a
}

// joinCtx is start's values (the origin to ask) ended by either ctx.
func joinCtx(start, ctx context.Context) (context.Context, context.CancelFunc) {
	j, cancel := context.WithCancel(start)
	stop := context.AfterFunc(ctx, cancel)
	return j, func() { stop(); cancel() }
}

// passwordPrompt adds a's password to p, as a prompt asked at the origin,
// at most once (a description is made per start).
func passwordPrompt(a *Auth, p *spawn.ViaPrompts) string {
	if a.Password == nil {
		return ""
	}
	pw := a.Password
	var asked atomic.Bool
	return p.Add(promptPassword, func(ctx context.Context, args []string) ([]byte, error) {
		if len(args) != 0 {
			return nil, fmt.Errorf("spawn/sudo: password prompt with %d arguments", len(args))
		}
		if asked.Swap(true) { // at most once per start, as without Via
			return nil, fmt.Errorf("spawn/sudo: the password was asked again: %w", ErrBadPassword)
		}
		b, err := pw(ctx)
		if err != nil {
			return nil, err
		}
		out := append([]byte(nil), b...) // the callback's slice is cleared as after a local use
		clear(b)
		return out, nil
	})
}

func describeWrapper(method string, inner runner.Target, w viaWrapper, a *Auth, p *spawn.ViaPrompts) (spawn.TargetSpec, error) {
	if a.Logger != nil {
		// A logger cannot travel: the intermediate logs nothing of the
		// dialogue (the origin's prompt is still asked).
		a = &Auth{Password: a.Password, Path: a.Path}
	}
	spec, err := spawn.DescribeTarget(inner, p)
	if err != nil {
		return spawn.TargetSpec{}, fmt.Errorf("sudo: %s over %s: %w", method, inner.Info().Method, err)
	}
	w.Inner, w.Path, w.Password = spec, a.Path, passwordPrompt(a, p)
	return spawn.NewTargetSpec(method, &w)
}

// DescribeVia describes the target as data for a start through Via
// (spawn.Start with Common.Via): sudo's options, the inner target's
// description, and the password as a prompt asked at the origin. The
// inner target must be a spawn.ViaTarget; the Logger does not travel.
func (t *SudoTarget) DescribeVia(p *spawn.ViaPrompts) (spawn.TargetSpec, error) {
	return describeWrapper("sudo", t.inner, viaWrapper{User: t.opts.User, Group: t.opts.Group,
		Login: t.opts.Login, PreserveEnv: t.opts.PreserveEnv}, &t.opts.Auth, p)
}

// DescribeVia describes the target as data for a start through Via, as
// SudoTarget's does.
func (t *TTYTarget) DescribeVia(p *spawn.ViaPrompts) (spawn.TargetSpec, error) {
	return describeWrapper(t.method, t.inner, viaWrapper{User: t.user, Login: t.login}, &t.auth, p)
}

// DescribeVia describes the host as data for a start through Via: it
// becomes the intermediate's host (Credential and Env apply there).
func (h *Host) DescribeVia(*spawn.ViaPrompts) (spawn.TargetSpec, error) {
	o := viaHost{Env: h.Env}
	if c := h.Credential; c != nil {
		if c.NoSetGroups {
			return spawn.TargetSpec{}, errors.New("sudo: Host.Credential.NoSetGroups cannot travel")
		}
		o.Cred, o.Uid, o.Gid, o.Groups = true, c.Uid, c.Gid, c.Groups
	}
	return spawn.NewTargetSpec("sudo.host", &o)
}

var (
	_ spawn.ViaTarget = (*SudoTarget)(nil)
	_ spawn.ViaTarget = (*TTYTarget)(nil)
	_ spawn.ViaTarget = (*Host)(nil)
)
