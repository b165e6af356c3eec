package ssh

import (
	"context"
	"fmt"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
)

// viaOptions are the Options that travel to the intermediate (plain
// data; the callbacks stay at the origin).
type viaOptions struct {
	Common          spawn.Common // Common.Via does not travel
	CacheDirs       []string
	Cache           spawn.CachePolicy
	Shell           string
	Timeout         time.Duration
	Host            string
	User            string
	Port            int
	ConfigFile      string
	ProxyJump       string
	IdentityFiles   []string
	Agent           string
	KnownHostsFiles []string
	HostKeyPolicy   HostKeyPolicy
	ConnectTimeout  time.Duration
	KeepAlive       time.Duration
}

// The names of the callbacks asked at the origin (spawn.AskOrigin).
const (
	promptPassword   = "ssh.password"   // args: user, host
	promptPassphrase = "ssh.passphrase" // args: file
	promptHostKey    = "ssh.hostkey"    // args: host, key type, fingerprint; answer: one byte, the decision
)

func init() {
	for _, e := range []struct {
		name string
		err  error
	}{
		{"spindle.ssh.ErrAuthFailed", ErrAuthFailed}, {"spindle.ssh.ErrHostKeyMismatch", ErrHostKeyMismatch},
		{"spindle.ssh.ErrUnknownHost", ErrUnknownHost}, {"spindle.ssh.ErrConnectionRefused", ErrConnectionRefused},
		{"spindle.ssh.ErrConnectTimeout", ErrConnectTimeout}, {"spindle.ssh.ErrConnectionLost", ErrConnectionLost},
	} {
		spawn.RegisterViaError(e.name, e.err)
	}
	spawn.RegisterViaMethod("ssh", startHere)
}

// startHere runs on the intermediate: the options as data, the callbacks
// as requests to the origin, answered there.
func startHere(ctx context.Context, node *actors.Node, o *viaOptions) (spawn.Child, error) {
	opts := Options{Common: o.Common,
		Bootstrap: spawn.Bootstrap{CacheDirs: o.CacheDirs, Cache: o.Cache, Shell: o.Shell, Timeout: o.Timeout},
		Host:      o.Host, User: o.User, Port: o.Port, ConfigFile: o.ConfigFile, ProxyJump: o.ProxyJump,
		IdentityFiles: o.IdentityFiles, Agent: o.Agent, KnownHostsFiles: o.KnownHostsFiles,
		HostKeyPolicy: o.HostKeyPolicy, ConnectTimeout: o.ConnectTimeout, KeepAlive: o.KeepAlive}
	if spawn.HasPrompt(ctx, promptPassword) {
		opts.Password = func(user, host string) (string, error) {
			b, err := spawn.AskOrigin(ctx, promptPassword, user, host)
			return string(b), err
		}
	}
	if spawn.HasPrompt(ctx, promptPassphrase) {
		opts.Passphrase = func(file string) ([]byte, error) { return spawn.AskOrigin(ctx, promptPassphrase, file) }
	}
	if spawn.HasPrompt(ctx, promptHostKey) {
		opts.HostKeyPrompt = func(pctx context.Context, q HostKeyQuestion) (HostKeyDecision, error) {
			// pctx is the connection's, made from the start's ctx: it
			// names the origin.
			b, err := spawn.AskOrigin(pctx, promptHostKey, q.Host, q.KeyType, q.Fingerprint)
			if err != nil {
				return HostKeyReject, err
			}
			if len(b) != 1 || HostKeyDecision(b[0]) > HostKeyRemember {
				return HostKeyReject, fmt.Errorf("spawn/ssh: host key prompt answered %d bytes", len(b))
			}
			return HostKeyDecision(b[0]), nil
		}
	}
	return Start(ctx, node, opts)
}

// originPrompts are o's callbacks, run here when the intermediate asks.
func originPrompts(o Options) []spawn.ViaPrompt {
	var ps []spawn.ViaPrompt
	if o.Password != nil {
		ps = append(ps, spawn.ViaPrompt{Name: promptPassword, Ask: func(_ context.Context, args []string) ([]byte, error) {
			if len(args) != 2 {
				return nil, fmt.Errorf("spawn/ssh: password prompt with %d arguments", len(args))
			}
			s, err := o.Password(args[0], args[1])
			return []byte(s), err
		}})
	}
	if o.Passphrase != nil {
		ps = append(ps, spawn.ViaPrompt{Name: promptPassphrase, Ask: func(_ context.Context, args []string) ([]byte, error) {
			if len(args) != 1 {
				return nil, fmt.Errorf("spawn/ssh: passphrase prompt with %d arguments", len(args))
			}
			return o.Passphrase(args[0])
		}})
	}
	if o.HostKeyPrompt != nil {
		ps = append(ps, spawn.ViaPrompt{Name: promptHostKey, Ask: func(ctx context.Context, args []string) ([]byte, error) {
			if len(args) != 3 {
				return nil, fmt.Errorf("spawn/ssh: host key prompt with %d arguments", len(args))
			}
			d, err := o.HostKeyPrompt(ctx, HostKeyQuestion{Host: args[0], KeyType: args[1], Fingerprint: args[2]})
			if err != nil {
				return nil, err
			}
			if d < HostKeyReject || d > HostKeyRemember {
				return nil, fmt.Errorf("spawn/ssh: host key prompt decided %v", d)
			}
			return []byte{byte(d)}, nil
		}})
	}
	return ps
}

func startVia(ctx context.Context, node *actors.Node, o Options) (*Context, error) {
	if o.Host == "" {
		return nil, fmt.Errorf("spawn/ssh: Options.Host is empty")
	}
	p, err := spawn.StartViaBootstrap(ctx, node, o.Via, "ssh", &viaOptions{Common: o.Common,
		CacheDirs: o.CacheDirs, Cache: o.Cache, Shell: o.Shell, Timeout: o.Timeout,
		Host: o.Host, User: o.User, Port: o.Port, ConfigFile: o.ConfigFile, ProxyJump: o.ProxyJump,
		IdentityFiles: o.IdentityFiles, Agent: o.Agent, KnownHostsFiles: o.KnownHostsFiles,
		HostKeyPolicy: o.HostKeyPolicy, ConnectTimeout: o.ConnectTimeout, KeepAlive: o.KeepAlive},
		o.Bootstrap, originPrompts(o)...)
	if err != nil {
		return nil, err
	}
	return &Context{Process: p}, nil
}

// Step is the step of an SSH context with opts in a spawn.Chain: through
// the chain's previous hop when there is one (connecting from there),
// else as opts.Via says.
func Step(opts Options) spawn.Step {
	return func(ctx context.Context, node *actors.Node, via spawn.Hop) (spawn.Child, error) {
		if via != nil {
			opts.Via = via
		}
		return Start(ctx, node, opts)
	}
}
