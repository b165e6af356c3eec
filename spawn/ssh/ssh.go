package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/crypto/ssh"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn/internal/boot"
)

// Defaults of SSHOptions.
const (
	defaultConnectTimeout = 15 * time.Second
	defaultKeepAlive      = 15 * time.Second
	defaultShell          = "/bin/sh"
	// abortKillTimeout bounds the clean-up of a failed bootstrap.
	abortKillTimeout = 3 * time.Second
)

// SSHOptions configures an SSH context. Only Host is required; every other
// zero value means the documented default, which follows OpenSSH.
type SSHOptions struct {
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

	// ConnectTimeout bounds each hop's TCP connection and SSH key
	// exchange. Default: ConnectTimeout of the configuration, else 15s.
	ConnectTimeout time.Duration
	// KeepAlive is the TCP keepalive period of the connection to the first
	// hop. Default 15s; negative disables keepalives. The link heartbeats
	// (actors.Config) detect a dead peer on every hop.
	KeepAlive time.Duration
	// BootstrapTimeout bounds the whole start: connect, authenticate,
	// bootstrap, upload and handshake. Default 60s. The caller's ctx can
	// only shorten it.
	BootstrapTimeout time.Duration

	// Binaries are programs for other platforms (NewBinary). The one for
	// the remote host's platform is shipped; the running program (Self)
	// serves its own platform unless Binaries has one for it.
	Binaries []*Binary
	// CacheDirs are the remote directories tried for the binary cache, in
	// order. Default: $XDG_CACHE_HOME/spindle (or ~/.cache/spindle),
	// ${TMPDIR:-/tmp}/spindle-UID, /var/tmp/spindle-UID,
	// /dev/shm/spindle-UID. A directory must be private to the user and
	// allow executing files. Paths must be absolute and free of ":".
	CacheDirs []string
	// Shell is the POSIX shell that runs the bootstrap. Default /bin/sh.
	Shell string
	// Env is set in the child's environment ("NAME=value").
	Env []string

	// Name is the context's human name. Default "ssh-" + the host alias.
	Name string
	// Grace is how long Shutdown waits after asking the child to stop
	// before SIGTERM, and after SIGTERM before SIGKILL. Default 2s.
	Grace time.Duration
	// LogLevel is the minimum level of the child's slog records forwarded
	// to the parent. Default slog.LevelInfo.
	LogLevel slog.Level
}

func (o *SSHOptions) setDefaults() error {
	if o.Host == "" {
		return errors.New("spawn: SSHOptions.Host is empty")
	}
	if o.BootstrapTimeout <= 0 {
		o.BootstrapTimeout = defaultBootstrapTimeout
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = defaultKeepAlive
	}
	if o.Shell == "" {
		o.Shell = defaultShell
	}
	if o.Grace <= 0 {
		o.Grace = 2 * time.Second
	}
	return o.validate()
}

func (o *SSHOptions) validate() error {
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("spawn: SSHOptions.Port %d out of range", o.Port)
	}
	if !path.IsAbs(o.Shell) || strings.ContainsAny(o.Shell, "\n\x00") {
		return fmt.Errorf("spawn: SSHOptions.Shell %q is not an absolute path", o.Shell)
	}
	for _, d := range o.CacheDirs {
		if !path.IsAbs(d) || strings.ContainsAny(d, ":\n\x00") {
			return fmt.Errorf("spawn: cache directory %q must be absolute, without ':' or newlines", d)
		}
	}
	for _, kv := range o.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || !isEnvName(k) || strings.ContainsAny(kv, "\n\x00") {
			return fmt.Errorf("spawn: SSHOptions.Env entry %q is not NAME=value", kv)
		}
	}
	for i, b := range o.Binaries {
		if b == nil {
			return fmt.Errorf("spawn: SSHOptions.Binaries[%d] is nil", i)
		}
	}
	return nil
}

func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c != '_' && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// SSHContext is a child context running on an SSH host: a process started
// by the bootstrap over one SSH connection, whose session's stdin and
// stdout are the link. Its methods are safe for concurrent use.
type SSHContext struct {
	node  *actors.Node
	link  *actors.ChildLink
	conn  *sshConn
	name  string
	host  string // user@host:port, for messages
	grace time.Duration
	shell string
	log   *slog.Logger
	info  BootstrapInfo

	sess    *ssh.Session
	bootPid atomic.Int64 // process group of the bootstrap on the host
	stdin   io.WriteCloser
	linkR   io.Reader
	stderr  *stderrForwarder

	exited   chan struct{} // the remote process's fate is known
	exitErr  error         // from sess.Wait, valid after exited
	connDone chan struct{} // the SSH connection is gone
	connErr  error         // why, valid after connDone
	wg       sync.WaitGroup

	killMu       sync.Mutex
	killDone     chan struct{} // closed when Kill's work is over
	unhook       func()
	shutdownOnce sync.Once
	shutdownErr  error
}

var _ Child = (*SSHContext)(nil)

// SSH starts a child context on an SSH host and joins it to node. It
// connects and authenticates (see SSHOptions), runs the bootstrap, which
// execs the cached binary for the host's platform or receives it first,
// and returns once the Spindle handshake is done. Everything is bounded by
// ctx and SSHOptions.BootstrapTimeout; on failure nothing is left running
// on the remote host and the error matches one of the Err* sentinels of
// this package (errors.Is) where one applies.
func SSH(ctx context.Context, node *actors.Node, opts SSHOptions) (*SSHContext, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.BootstrapTimeout)
	defer cancel()
	cfg, err := loadSSHConfig(opts.ConfigFile)
	if err != nil {
		return nil, err
	}
	t, err := resolveTarget(cfg, opts.Host)
	if err != nil {
		return nil, err
	}
	applyOverrides(&t, &opts)
	bins, err := offeredBinaries(opts.Binaries)
	if err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = "ssh-" + t.Alias
	}
	log := node.Logger().With("child", name, "host", t.String())
	for _, err := range cfg.skipped {
		log.Warn("ssh: configuration file skipped", "err", err)
	}
	prepared := make(chan error, 1)
	go func() { prepared <- prepareAll(bins) }() // hash while we connect
	start := time.Now()
	conn, err := dialSSH(ctx, cfg, t, &opts, log)
	prepErr := <-prepared
	if err != nil {
		return nil, err
	}
	if prepErr != nil {
		_ = conn.Close()
		return nil, prepErr
	}
	bins = onePerPlatform(bins)
	c := &SSHContext{node: node, conn: conn, name: name, host: t.String(), grace: opts.Grace,
		shell: opts.Shell, log: log, exited: make(chan struct{}), connDone: make(chan struct{})}
	c.info.Host, c.info.Connect = t.String(), time.Since(start)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.connErr = conn.client.Wait()
		close(c.connDone)
	}()
	if err := c.start(ctx, &opts, bins); err != nil {
		return nil, err
	}
	return c, nil
}

// start runs the bootstrap and the handshake. On failure, or when ctx
// expires, it kills what the bootstrap started on the host, closes the
// connection and waits for its goroutines.
func (c *SSHContext) start(ctx context.Context, opts *SSHOptions, bins []*Binary) error {
	expired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(expired)
		c.abort()
	})
	fail := func(err error) error {
		if stop() {
			c.abort()
		} else {
			<-expired
		}
		c.wg.Wait()
		if c.stderr != nil {
			c.stderr.wait()
		}
		return err
	}
	begin := time.Now()
	if err := c.bootstrap(ctx, opts, bins); err != nil {
		return fail(err)
	}
	c.info.Bootstrap = time.Since(begin)
	begin = time.Now()
	r := &eofReader{r: c.linkR}
	t := actors.Transport{R: r, W: c.stdin, C: &linkCloser{c: c, r: r}, Reason: c.deathReason}
	link, err := c.node.AttachChild(ctx, c.name, t)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fail(&BootstrapError{Host: c.host, Stage: "handshake", Err: err, Stderr: c.stderr.tail()})
	}
	if !stop() { // ctx expired just as the handshake finished
		<-expired
		link.Close()
		c.wg.Wait()
		c.stderr.wait()
		return c.bootErr(ctx, "handshake", ctx.Err())
	}
	c.link = link
	c.info.Handshake = time.Since(begin)
	disableQuickAck(c.conn.tcp)
	c.stderr.setLogger(c.log.With("child_id", link.ID, "pid", c.info.Pid))
	c.unhook = c.node.OnShutdown(c.Shutdown)
	c.log.Debug("ssh context up", "id", link.ID, "platform", c.info.Platform, "pid", c.info.Pid,
		"cache_hit", c.info.CacheHit, "uploaded", c.info.Uploaded, "connect", c.info.Connect,
		"bootstrap", c.info.Bootstrap, "handshake", c.info.Handshake)
	return nil
}

// abort kills the bootstrap's process group on the host if it may still
// run (sshd does not end a session's processes when the connection
// closes), then closes the connection.
func (c *SSHContext) abort() {
	if pid := int(c.bootPid.Load()); pid > 0 && !isDone(c.exited) {
		_ = c.killGroup(pid, ssh.SIGKILL, abortKillTimeout)
	}
	_ = c.conn.Close()
}

// applyOverrides applies the options that win over the configuration.
func applyOverrides(t *sshTarget, o *SSHOptions) {
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

func offeredBinaries(extra []*Binary) ([]*Binary, error) { return boot.Offered(extra) }

func onePerPlatform(bins []*Binary) []*Binary { return boot.OnePerPlatform(bins) }

func prepareAll(bins []*Binary) error { return boot.PrepareAll(bins) }

// ID returns the child's context ID.
func (c *SSHContext) ID() uint32 { return c.link.ID }

// Name returns the child's name.
func (c *SSHContext) Name() string { return c.name }

// Address returns the child's protoactor address.
func (c *SSHContext) Address() string { return actors.Address(c.link.ID) }

// Info returns how the context was started.
func (c *SSHContext) Info() BootstrapInfo { return c.info }

// Spawn starts an actor of a kind registered in the child and returns its
// PID. An empty name lets the child choose one.
func (c *SSHContext) Spawn(ctx context.Context, kind, name string) (*actor.PID, error) {
	return c.node.SpawnRemote(ctx, c.link.ID, kind, name)
}

// Dead is closed when the child's link is gone and IS_DEAD has been raised
// for everything behind it.
func (c *SSHContext) Dead() <-chan struct{} { return c.link.Done() }

// DeadReason returns why the link ended (a *RemoteExitError, a
// *ConnectionLostError, a heartbeat timeout, a protocol error); nil while
// it is up.
func (c *SSHContext) DeadReason() error { return c.link.Err() }
