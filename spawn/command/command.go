// Package command starts a Spindle context through any command prefix
// that gives a shell on stdin and stdout: `lxc exec NAME --`, `incus exec
// NAME --`, `machinectl shell NAME`, `nsenter -t PID -a`, `chroot DIR`,
// `ip netns exec NS`, ... Spindle appends the bootstrap's own command
// (`/bin/sh -c SCRIPT ...`) to the prefix and does the rest
// (docs/bootstrap.md).
//
// # Usage
//
//	c, err := command.Start(ctx, node, command.Options{
//		Argv: []string{"nsenter", "-t", pid, "-m", "-u", "-p", "--"},
//	})
//	pid, _ := c.Spawn(ctx, "worker", "w")
//
// The prefix runs on this host, in its own process group: Signal and Kill
// go to that group, which reaches the child when the prefix execs it or
// forks it in the same group (nsenter, unshare, chroot, ip netns exec)
// or relays signals (lxc exec); set Options.NoSignals for prefixes that
// do neither (the lifecycle then relies on SHUTDOWN over the link and on
// Kill ending the prefix, which closes the child's stdin).
//
// The caller's duties: those of spawn.Start (Shutdown the child or the
// node).
package command

import (
	"context"
	"errors"
	"path"
	"strings"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/internal/execrun"
	"github.com/spindle-go/spindle/spawn/runner"
)

// Options configures a context started through a command prefix. Argv is
// required; every other zero value means the documented default.
type Options struct {
	spawn.Common
	spawn.Bootstrap

	// Argv is the prefix; the bootstrap's command is appended to it. Its
	// first word is looked up in PATH.
	Argv []string
	// LocalEnv is added to the prefix process's environment on this host
	// (LXD_DIR, INCUS_REMOTE); Common.Env is the child's.
	LocalEnv []string
	// Dir is the prefix process's working directory on this host.
	Dir string
	// Host names the target in Info and messages. Default: the prefix,
	// its words joined by spaces.
	Host string
	// User is the user the child runs as, for Info, where known.
	User string
	// NoSignals says signals sent to the prefix's process group do not
	// reach the child.
	NoSignals bool
	// KillGrace, when positive, makes Kill send SIGTERM first and SIGKILL
	// after this long (for prefixes that clean up on TERM).
	KillGrace time.Duration
}

// Target returns the prefix as a runner.Target, for wrapping methods
// (sudo inside a namespace) and spawn.Start.
func Target(opts Options) (runner.Target, error) {
	if len(opts.Argv) == 0 || opts.Argv[0] == "" {
		return nil, errors.New("spawn/command: Options.Argv is empty")
	}
	host := opts.Host
	if host == "" {
		host = strings.Join(opts.Argv, " ")
	}
	return &prefixTarget{Target: &execrun.Target{
		Prefix:    append([]string(nil), opts.Argv...),
		Env:       append([]string(nil), opts.LocalEnv...),
		Dir:       opts.Dir,
		Desc:      runner.Info{Method: "command", Host: host, User: opts.User},
		Signals:   !opts.NoSignals,
		KillGrace: opts.KillGrace,
	}, opts: targetOptions{Argv: opts.Argv, LocalEnv: opts.LocalEnv, Dir: opts.Dir, Host: opts.Host,
		User: opts.User, NoSignals: opts.NoSignals, KillGrace: opts.KillGrace}}, nil
}

// prefixTarget is the prefix as a runner.Target that can travel through
// Via as data (spawn.ViaTarget: sudo over a command prefix on an
// intermediate's host).
type prefixTarget struct {
	*execrun.Target
	opts targetOptions
}

// targetOptions are the target's part of Options, as data.
type targetOptions struct {
	Argv      []string
	LocalEnv  []string
	Dir       string
	Host      string
	User      string
	NoSignals bool
	KillGrace time.Duration
}

// DescribeVia describes the prefix as data; Argv, LocalEnv and Dir are
// then taken on the intermediate's host.
func (t *prefixTarget) DescribeVia(*spawn.ViaPrompts) (spawn.TargetSpec, error) {
	return spawn.NewTargetSpec("command", &t.opts)
}

var _ spawn.ViaTarget = (*prefixTarget)(nil)

// Start starts a child context through the prefix and joins it to node,
// returning once the handshake is done (spawn.Start). The default name is
// "command-" followed by the prefix's program name. With Common.Via set,
// the context named there runs the prefix and becomes the child's parent
// (spawn.StartVia, docs/via.md): Argv, LocalEnv and Dir are then taken on
// that context's host; Bootstrap.Binaries are fetched by the intermediate
// by content address when a target needs one, and Bootstrap.Build cannot
// travel yet (spawn.ErrViaOption).
func Start(ctx context.Context, node *actors.Node, opts Options) (*spawn.Process, error) {
	if opts.Via != nil {
		return startVia(ctx, node, opts)
	}
	t, err := Target(opts)
	if err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = "command-" + path.Base(opts.Argv[0])
	}
	return spawn.Start(ctx, node, t, opts.Common, opts.Bootstrap)
}

// viaOptions are the Options that travel to the intermediate (plain data).
type viaOptions struct {
	Common    spawn.Common // Common.Via does not travel
	CacheDirs []string
	Cache     spawn.CachePolicy
	Shell     string
	Timeout   time.Duration
	Argv      []string
	LocalEnv  []string
	Dir       string
	Host      string
	User      string
	NoSignals bool
	KillGrace time.Duration
}

func init() {
	spawn.RegisterViaTarget("command", func(_ context.Context, o *targetOptions) (runner.Target, error) {
		return Target(Options{Argv: o.Argv, LocalEnv: o.LocalEnv, Dir: o.Dir, Host: o.Host, User: o.User,
			NoSignals: o.NoSignals, KillGrace: o.KillGrace})
	})
	spawn.RegisterViaMethod("command", func(ctx context.Context, node *actors.Node, o *viaOptions) (spawn.Child, error) {
		return Start(ctx, node, Options{Common: o.Common,
			Bootstrap: spawn.Bootstrap{CacheDirs: o.CacheDirs, Cache: o.Cache, Shell: o.Shell, Timeout: o.Timeout},
			Argv:      o.Argv, LocalEnv: o.LocalEnv, Dir: o.Dir, Host: o.Host, User: o.User,
			NoSignals: o.NoSignals, KillGrace: o.KillGrace})
	})
}

func startVia(ctx context.Context, node *actors.Node, opts Options) (*spawn.Process, error) {
	if len(opts.Argv) == 0 || opts.Argv[0] == "" {
		return nil, errors.New("spawn/command: Options.Argv is empty")
	}
	return spawn.StartViaBootstrap(ctx, node, opts.Via, "command", &viaOptions{Common: opts.Common,
		CacheDirs: opts.CacheDirs, Cache: opts.Cache, Shell: opts.Shell, Timeout: opts.Timeout,
		Argv: opts.Argv, LocalEnv: opts.LocalEnv, Dir: opts.Dir, Host: opts.Host, User: opts.User,
		NoSignals: opts.NoSignals, KillGrace: opts.KillGrace}, opts.Bootstrap)
}

// Step is the step of a context through the prefix opts in a
// spawn.Chain: through the chain's previous hop when there is one (the
// prefix runs there), else as opts.Via says.
func Step(opts Options) spawn.Step {
	return func(ctx context.Context, node *actors.Node, via spawn.Hop) (spawn.Child, error) {
		if via != nil {
			opts.Via = via
		}
		return Start(ctx, node, opts)
	}
}
