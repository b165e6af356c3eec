package ssh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/internal/boot"
)

// Defaults of Options.
const (
	defaultConnectTimeout = 15 * time.Second
	defaultKeepAlive      = 15 * time.Second
	// defaultBootstrapTimeout is spawn.Bootstrap.Timeout's default: Start
	// applies it to the connection too.
	defaultBootstrapTimeout = 60 * time.Second
)

// Options configures an SSH context. Only Host is required; every other
// zero value means the documented default, which follows OpenSSH. The
// options every method shares (name, grace, log level, environment) and
// those of the bootstrap (binaries, cache directories, shell, timeout)
// come from the embedded spawn.Common and spawn.Bootstrap;
// Bootstrap.Timeout bounds the whole start, connection and
// authentication included.
type Options struct {
	spawn.Common
	spawn.Bootstrap

	// Host is "[user@]host[:port]" or a Host alias of the ssh
	// configuration. A user or port given here wins over the configuration.
	Host string
	// User and Port override both Host and the configuration when set.
	User string
	Port int
	// ConfigFile is the OpenSSH client configuration: "" reads
	// ~/.ssh/config, then /etc/ssh/ssh_config; "none" reads nothing; a path
	// reads only that file (like ssh -F). HostName, User, Port,
	// IdentityFile, IdentitiesOnly, IdentityAgent, ProxyJump,
	// UserKnownHostsFile, GlobalKnownHostsFile, StrictHostKeyChecking,
	// HashKnownHosts, HostKeyAlias and ConnectTimeout are honoured.
	ConfigFile string
	// ProxyJump overrides the configured jump hosts: a comma-separated
	// list of [user@]host[:port], first hop first; "none" disables them.
	ProxyJump string

	// IdentityFiles are private keys tried after the agent's, before the
	// configured IdentityFile entries. With neither, ~/.ssh/id_rsa,
	// id_ecdsa, id_ed25519 (and the _sk variants) are tried if present.
	IdentityFiles []string
	// Agent is the ssh-agent socket. "" means IdentityAgent from the
	// configuration, then $SSH_AUTH_SOCK; "none" disables the agent.
	Agent string
	// Passphrase is asked for the passphrase of an encrypted identity
	// file, only once the server has said it would accept that key.
	// Without it, encrypted files are skipped.
	Passphrase func(file string) ([]byte, error)
	// Password, when set, enables password and keyboard-interactive
	// authentication (tried after public keys).
	Password func(user, host string) (string, error)

	// KnownHostsFiles replaces the configured known_hosts files (default
	// ~/.ssh/known_hosts, ~/.ssh/known_hosts2, /etc/ssh/ssh_known_hosts,
	// /etc/ssh/ssh_known_hosts2). HostKeyAcceptNew writes to the first.
	KnownHostsFiles []string
	// HostKeyPolicy: see HostKeyPolicy. Host keys are checked against
	// known_hosts unless HostKeyInsecureIgnore is set explicitly.
	HostKeyPolicy HostKeyPolicy
	// HostKeyPrompt, when set, is asked about the key of a host that no
	// known_hosts file has (an unknown host), with its fingerprint, on
	// every hop of the connection, instead of the policy's answer;
	// changed and revoked keys are never asked about (ErrHostKeyMismatch).
	// Its decision says whether the key is remembered (HostKeyRemember) or
	// accepted once; an error rejects it. HostKeyInsecureIgnore asks
	// nothing. Through Via it stays here, asked from the intermediate
	// (spawn.AskOrigin); a remembered key goes to the intermediate's
	// known_hosts.
	HostKeyPrompt func(ctx context.Context, q HostKeyQuestion) (HostKeyDecision, error)

	// ConnectTimeout bounds each hop's TCP connection and SSH key
	// exchange. Default: ConnectTimeout of the configuration, else 15s.
	ConnectTimeout time.Duration
	// KeepAlive is the TCP keepalive period of the connection to the first
	// hop. Default 15s; negative disables keepalives. The link heartbeats
	// (actors.Config) detect a dead peer on every hop.
	KeepAlive time.Duration
}

func (o *Options) setDefaults() error {
	if o.Host == "" {
		return errors.New("spawn/ssh: Options.Host is empty")
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultBootstrapTimeout
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = defaultKeepAlive
	}
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("spawn/ssh: Options.Port %d out of range", o.Port)
	}
	bo := boot.Options{Shell: o.Shell, Env: o.Env, CacheDirs: o.CacheDirs, Binaries: o.Binaries}
	return bo.Validate()
}

// Context is a child context running on an SSH host: a *spawn.Process
// (the common Child: Wait, Signal, Kill, Shutdown, Info) whose target is
// one SSH connection of its own, closed when the process has ended. Its
// methods are safe for concurrent use.
type Context struct {
	*spawn.Process
	target *Target
}

var _ spawn.Child = (*Context)(nil)

// Info describes the context; Boot.Connect is the time the connection
// took (TCP, key exchange and authentication, all hops).
func (c *Context) Info() spawn.Info {
	i := c.Process.Info()
	if c.target != nil { // nil through Via: the intermediate's Info has it
		i.Boot.Connect = c.target.connect
	}
	return i
}

// Start starts a child context on an SSH host and joins it to node. It
// connects and authenticates (see Options), runs the bootstrap over one
// session (docs/bootstrap.md), which execs the cached binary for the
// host's platform or receives it first on the same stream, and returns
// once the Spindle handshake is done. Everything is bounded by ctx and
// Options.Timeout; on failure nothing is left running on the host and the
// error matches one of the Err* sentinels of this package or of spawn
// (errors.Is) where one applies.
//
// With Common.Via set, the context named there connects and runs the
// bootstrap (spawn.StartVia, docs/via.md): files, the agent socket, the
// ssh configuration and known_hosts are those of that context's host;
// Password and Passphrase stay here and are asked from there when the
// server wants them, and HostKeyPrompt when the intermediate meets an
// unknown host key (spawn.AskOrigin); Bootstrap.Binaries are fetched
// by that context from its parent when a target needs one, and
// Bootstrap.Build cannot travel yet (spawn.ErrViaOption).
func Start(ctx context.Context, node *actors.Node, opts Options) (*Context, error) {
	if opts.Via != nil {
		return startVia(ctx, node, opts)
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	// Timeout bounds the connection here, then what is left of it the
	// bootstrap and the handshake (spawn.Start), where a build on demand
	// does not count (docs/bootstrap.md): a ctx with the whole Timeout
	// would cut a long build short.
	begin := time.Now()
	dctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	bins, err := boot.Offered(opts.Binaries)
	if err != nil {
		return nil, err
	}
	prepared := make(chan error, 1)
	go func() { prepared <- boot.PrepareAll(bins) }() // hash while we connect
	t, err := dial(dctx, &opts, node.Logger(), true)
	prepErr := <-prepared
	if err != nil {
		return nil, err
	}
	if prepErr != nil {
		_ = t.Close()
		return nil, prepErr
	}
	if opts.Name == "" {
		opts.Name = "ssh-" + t.st.Alias
	}
	if dctx.Err() != nil {
		_ = t.Close()
		return nil, fmt.Errorf("spawn/ssh: %s: %w", opts.Host, context.Cause(dctx))
	}
	b := opts.Bootstrap
	b.Timeout = max(opts.Timeout-time.Since(begin), time.Millisecond)
	p, err := spawn.Start(ctx, node, t, opts.Common, b)
	if err != nil {
		_ = t.Close()
		return nil, err
	}
	disableQuickAck(t.conn.tcp)
	return &Context{Process: p, target: t}, nil
}

// Dial connects and authenticates as Start does and returns the
// connection as a runner.Target, for wrapping methods (sudo on an SSH
// host) and for several contexts on one connection: pass it to
// spawn.Start, or to a wrapper whose result goes to spawn.Start. The
// caller closes it when its contexts are done. ctx bounds the connection
// and authentication only.
func Dial(ctx context.Context, node *actors.Node, opts Options) (*Target, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	return dial(ctx, &opts, node.Logger(), false)
}

// dial resolves the configuration and connects. An owned target closes
// its connection once its first command has ended (Start's one context).
func dial(ctx context.Context, opts *Options, logger *slog.Logger, owned bool) (*Target, error) {
	cfg, err := loadSSHConfig(opts.ConfigFile)
	if err != nil {
		return nil, err
	}
	st, err := resolveTarget(cfg, opts.Host)
	if err != nil {
		return nil, err
	}
	applyOverrides(&st, opts)
	log := logger.With("host", st.String())
	for _, err := range cfg.skipped {
		log.Warn("ssh: configuration file skipped", "err", err)
	}
	begin := time.Now()
	conn, err := dialSSH(ctx, cfg, st, opts, log)
	if err != nil {
		return nil, err
	}
	return newTarget(conn, st, log, owned, time.Since(begin)), nil
}

// applyOverrides applies the options that win over the configuration.
func applyOverrides(t *sshTarget, o *Options) {
	if o.User != "" {
		t.User = o.User
	}
	if o.Port != 0 {
		t.Port = o.Port
	}
	switch o.ProxyJump {
	case "":
	case "none":
		t.ProxyJump = nil
	default:
		t.ProxyJump = nil
		for _, hop := range strings.Split(o.ProxyJump, ",") {
			t.ProxyJump = append(t.ProxyJump, strings.TrimSpace(hop))
		}
	}
}
