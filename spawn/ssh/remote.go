package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
)

// RemoteTarget is an SSH host as a runner.Target that connects when a
// command starts (one connection per command, closed when the command
// ends), and that travels through Via as data (spawn.ViaTarget): wrapped
// by sudo and started with Common.Via, the intermediate connects, and the
// callbacks (Password, Passphrase, HostKeyPrompt) are asked at the origin.
// It is safe for concurrent use.
type RemoteTarget struct {
	opts Options
	log  *slog.Logger
}

var (
	_ spawn.ViaTarget = (*RemoteTarget)(nil)
	_ runner.Runner   = (*remoteSession)(nil)
)

// Remote returns the host opts names as a RemoteTarget: "sudo over ssh"
// on an intermediate's host, `sudo.Sudo(ssh.Remote(opts), ...)` with
// spawn.Start's Common.Via. Only the connection's options are used (Host
// to KeepAlive, and Bootstrap.Timeout, which bounds the connection);
// Common and the rest of Bootstrap are the start's. Connections log to
// logger (nil: nowhere).
func Remote(opts Options, logger *slog.Logger) (*RemoteTarget, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	opts.Common, opts.Bootstrap = spawn.Common{}, spawn.Bootstrap{Timeout: opts.Timeout}
	return &RemoteTarget{opts: opts, log: logger}, nil
}

// Info describes the target: method "ssh", the host as given.
func (t *RemoteTarget) Info() runner.Info {
	return runner.Info{Method: "ssh", Host: t.opts.Host, User: t.opts.User, Caps: runner.Caps{Signal: true}}
}

// Runner prepares cmd on a connection made when it starts.
func (t *RemoteTarget) Runner(cmd runner.Command) (runner.Runner, error) {
	if len(cmd.Argv) == 0 {
		return nil, errors.New("spawn/ssh: empty command")
	}
	return &remoteSession{t: t, cmd: cmd}, nil
}

// remoteSession is one command on its own connection.
type remoteSession struct {
	t   *RemoteTarget
	cmd runner.Command
	r   runner.Runner // after Start
	tg  *Target
}

func (s *remoteSession) Start(ctx context.Context) error {
	o := s.t.opts
	dctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	tg, err := dial(dctx, &o, s.t.log, true)
	if err != nil {
		return err
	}
	r, err := tg.Runner(s.cmd)
	if err == nil {
		err = r.Start(ctx)
	}
	if err != nil {
		_ = tg.Close()
		return err
	}
	s.r, s.tg = r, tg
	return nil
}

func (s *remoteSession) Stdin() io.WriteCloser { return s.r.Stdin() }
func (s *remoteSession) Stdout() io.ReadCloser { return s.r.Stdout() }
func (s *remoteSession) Stderr() io.ReadCloser { return s.r.Stderr() }
func (s *remoteSession) Caps() runner.Caps     { return runner.Caps{Signal: true} }
func (s *remoteSession) String() string        { return "ssh " + s.t.opts.Host }

func (s *remoteSession) ID() string {
	if s.r == nil {
		return ""
	}
	return s.r.ID()
}

func (s *remoteSession) Wait(ctx context.Context) error {
	if s.r == nil {
		return errors.New("spawn/ssh: Wait before Start")
	}
	return s.r.Wait(ctx)
}

func (s *remoteSession) Signal(ctx context.Context, sig runner.Signal) error {
	if s.r == nil {
		return errors.New("spawn/ssh: Signal before Start")
	}
	return s.r.Signal(ctx, sig)
}

func (s *remoteSession) Kill(ctx context.Context) error {
	if s.r == nil {
		return nil
	}
	return s.r.Kill(ctx)
}

// SetPID passes the command's process ID on to the session.
func (s *remoteSession) SetPID(pid int) {
	if p, ok := s.r.(interface{ SetPID(int) }); ok {
		p.SetPID(pid)
	}
}

// remoteOptions are a RemoteTarget as data; the callbacks are the names
// of the origin's prompts ("" for none).
type remoteOptions struct {
	Host, User                     string
	Port                           int
	ConfigFile, ProxyJump, Agent   string
	IdentityFiles, KnownHostsFiles []string
	HostKeyPolicy                  HostKeyPolicy
	ConnectTimeout, KeepAlive      time.Duration
	Timeout                        time.Duration
	Password, Passphrase, HostKey  string
}

// DescribeVia describes the target as data: its connection options,
// which the intermediate's host resolves (ssh configuration, files, the
// agent socket there), and its callbacks as prompts asked at the origin.
func (t *RemoteTarget) DescribeVia(p *spawn.ViaPrompts) (spawn.TargetSpec, error) {
	o := t.opts
	r := remoteOptions{Host: o.Host, User: o.User, Port: o.Port, ConfigFile: o.ConfigFile, ProxyJump: o.ProxyJump,
		Agent: o.Agent, IdentityFiles: o.IdentityFiles, KnownHostsFiles: o.KnownHostsFiles, HostKeyPolicy: o.HostKeyPolicy,
		ConnectTimeout: o.ConnectTimeout, KeepAlive: o.KeepAlive, Timeout: o.Timeout}
	for _, q := range originPrompts(o) {
		name := p.Add(q.Name, q.Ask)
		switch q.Name {
		case promptPassword:
			r.Password = name
		case promptPassphrase:
			r.Passphrase = name
		case promptHostKey:
			r.HostKey = name
		}
	}
	return spawn.NewTargetSpec("ssh", &r)
}

func init() {
	spawn.RegisterViaTarget("ssh", func(ctx context.Context, r *remoteOptions) (runner.Target, error) {
		o := Options{Host: r.Host, User: r.User, Port: r.Port, ConfigFile: r.ConfigFile, ProxyJump: r.ProxyJump,
			Agent: r.Agent, IdentityFiles: r.IdentityFiles, KnownHostsFiles: r.KnownHostsFiles, HostKeyPolicy: r.HostKeyPolicy,
			ConnectTimeout: r.ConnectTimeout, KeepAlive: r.KeepAlive, Bootstrap: spawn.Bootstrap{Timeout: r.Timeout}}
		// The callbacks ask the origin with the via start's ctx (ctx),
		// which is alive while the start, and so the connection, runs.
		if name := r.Password; name != "" && spawn.HasPrompt(ctx, name) {
			o.Password = func(user, host string) (string, error) {
				b, err := spawn.AskOrigin(ctx, name, user, host)
				return string(b), err
			}
		}
		if name := r.Passphrase; name != "" && spawn.HasPrompt(ctx, name) {
			o.Passphrase = func(file string) ([]byte, error) { return spawn.AskOrigin(ctx, name, file) }
		}
		if name := r.HostKey; name != "" && spawn.HasPrompt(ctx, name) {
			o.HostKeyPrompt = func(_ context.Context, q HostKeyQuestion) (HostKeyDecision, error) {
				b, err := spawn.AskOrigin(ctx, name, q.Host, q.KeyType, q.Fingerprint)
				if err != nil {
					return HostKeyReject, err
				}
				if len(b) != 1 || HostKeyDecision(b[0]) > HostKeyRemember {
					return HostKeyReject, fmt.Errorf("spawn/ssh: host key prompt answered %d bytes", len(b))
				}
				return HostKeyDecision(b[0]), nil
			}
		}
		return Remote(o, nil)
	})
}
