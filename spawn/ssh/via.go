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

func init() {
	spawn.RegisterViaMethod("ssh", func(ctx context.Context, node *actors.Node, o *viaOptions) (spawn.Child, error) {
		return Start(ctx, node, Options{Common: o.Common,
			Bootstrap: spawn.Bootstrap{CacheDirs: o.CacheDirs, Shell: o.Shell, Timeout: o.Timeout},
			Host:      o.Host, User: o.User, Port: o.Port, ConfigFile: o.ConfigFile, ProxyJump: o.ProxyJump,
			IdentityFiles: o.IdentityFiles, Agent: o.Agent, KnownHostsFiles: o.KnownHostsFiles,
			HostKeyPolicy: o.HostKeyPolicy, ConnectTimeout: o.ConnectTimeout, KeepAlive: o.KeepAlive})
	})
}

func startVia(ctx context.Context, node *actors.Node, o Options) (*Context, error) {
	switch {
	case o.Passphrase != nil || o.Password != nil:
		return nil, fmt.Errorf("spawn/ssh: Passphrase and Password callbacks: %w", spawn.ErrViaOption)
	case len(o.Binaries) > 0 || o.Build != nil:
		return nil, fmt.Errorf("spawn/ssh: Bootstrap.Binaries and Bootstrap.Build: %w", spawn.ErrViaOption)
	case o.Host == "":
		return nil, fmt.Errorf("spawn/ssh: Options.Host is empty")
	}
	p, err := spawn.StartVia(ctx, node, o.Via, "ssh", &viaOptions{Common: o.Common,
		CacheDirs: o.CacheDirs, Shell: o.Shell, Timeout: o.Timeout,
		Host: o.Host, User: o.User, Port: o.Port, ConfigFile: o.ConfigFile, ProxyJump: o.ProxyJump,
		IdentityFiles: o.IdentityFiles, Agent: o.Agent, KnownHostsFiles: o.KnownHostsFiles,
		HostKeyPolicy: o.HostKeyPolicy, ConnectTimeout: o.ConnectTimeout, KeepAlive: o.KeepAlive})
	if err != nil {
		return nil, err
	}
	return &Context{Process: p}, nil
}
