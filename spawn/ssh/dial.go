package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshConn is an authenticated SSH connection to a target, reached through
// zero or more jump hosts. Close closes all of it; it is idempotent.
type sshConn struct {
	client *ssh.Client
	hops   []*ssh.Client // jump hosts, first hop first
	tcp    net.Conn      // the TCP connection to the first hop
	once   sync.Once
}

func (c *sshConn) Close() error {
	c.once.Do(func() {
		if c.client != nil {
			_ = c.client.Close()
		}
		for i := len(c.hops) - 1; i >= 0; i-- {
			_ = c.hops[i].Close()
		}
	})
	return nil
}

// dialSSH connects and authenticates to t, through its ProxyJump hosts.
// Each jump host is resolved through the configuration too (its own
// ProxyJump is not followed). ctx bounds everything; each hop's TCP
// connection and key exchange are also bounded by the connect timeout.
func dialSSH(ctx context.Context, cfg *sshConfigFiles, t sshTarget, opts *Options, log *slog.Logger) (*sshConn, error) {
	var chain []sshTarget
	for _, spec := range t.ProxyJump {
		hop, err := resolveTarget(cfg, spec)
		if err != nil {
			return nil, fmt.Errorf("spawn: ProxyJump %q: %w", spec, err)
		}
		chain = append(chain, hop)
	}
	chain = append(chain, t)
	conn := &sshConn{}
	var via *ssh.Client
	viaName := ""
	for i, hop := range chain {
		c, nc, err := dialHop(ctx, hop, via, viaName, opts, log)
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		if i == 0 {
			conn.tcp = nc
		}
		if i == len(chain)-1 {
			conn.client = c
		} else {
			conn.hops = append(conn.hops, c)
		}
		via, viaName = c, hop.String()
	}
	return conn, nil
}

// dialHop opens the TCP connection (directly or through via) and runs the
// SSH handshake and authentication.
func dialHop(ctx context.Context, t sshTarget, via *ssh.Client, viaName string, opts *Options, log *slog.Logger) (*ssh.Client, net.Conn, error) {
	timeout := opts.ConnectTimeout
	if timeout <= 0 {
		timeout = t.ConnectTimeout
	}
	if timeout <= 0 {
		timeout = defaultConnectTimeout
	}
	hk, err := newHostKeyChecker(opts.HostKeyPolicy, t, opts.KnownHostsFiles, log)
	if err != nil {
		return nil, nil, err
	}
	if hk.policy != HostKeyInsecureIgnore {
		hk.prompt, hk.ctx = opts.HostKeyPrompt, ctx
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var nc net.Conn
	if via == nil {
		d := net.Dialer{KeepAlive: opts.KeepAlive}
		nc, err = d.DialContext(dctx, "tcp", t.Addr())
		if err == nil {
			nc = newQuickAckConn(nc)
		}
	} else {
		nc, err = via.DialContext(dctx, "tcp", t.Addr())
	}
	if err != nil {
		if ctx.Err() == nil && dctx.Err() != nil {
			err = fmt.Errorf("no connection within %v: %w", timeout, dctx.Err())
		}
		return nil, nil, &DialError{Addr: t.Addr(), Via: viaName, Stage: "connect", Err: err}
	}
	// The key exchange must end within the connect timeout; authentication
	// (which may wait for a passphrase) is bounded by ctx only.
	deadline, _ := dctx.Deadline()
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	auth := newAuthenticator(t, opts, log)
	defer auth.close()
	var authStarted atomic.Bool
	var lastAuth atomic.Pointer[ssh.ClientAuthContext]
	name := t.KnownHostsName()
	cc := &ssh.ClientConfig{
		User:              t.User,
		Auth:              auth.methods(),
		HostKeyCallback:   hk.callback(name),
		HostKeyAlgorithms: hk.algorithms(name),
		AuthCallback: func(ac *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
			if authStarted.CompareAndSwap(false, true) {
				_ = nc.SetDeadline(time.Time{})
			}
			lastAuth.Store(ac)
			return nil, nil
		},
	}
	c, chans, reqs, err := ssh.NewClientConn(nc, t.Addr(), cc)
	if !stop() && err == nil {
		_ = c.Close()
		err = ctx.Err()
	}
	if err != nil {
		_ = nc.Close()
		return nil, nil, classifyHandshake(err, ctx, t, viaName, timeout, authStarted.Load(), lastAuth.Load())
	}
	_ = nc.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nc, nil
}

// classifyHandshake turns an error from the SSH handshake into one of the
// typed errors.
func classifyHandshake(err error, ctx context.Context, t sshTarget, via string, timeout time.Duration,
	authStarted bool, last *ssh.ClientAuthContext) error {
	var hke *HostKeyError
	if errors.As(err, &hke) {
		return hke
	}
	if ctx.Err() != nil {
		return &DialError{Addr: t.Addr(), Via: via, Stage: "handshake", Err: ctx.Err()}
	}
	if isTimeout(err) {
		return &DialError{Addr: t.Addr(), Via: via, Stage: "handshake",
			Err: fmt.Errorf("no SSH handshake within %v: %w", timeout, err)}
	}
	if authStarted && !isNetErr(err) {
		ae := &AuthError{User: t.User, Host: t.Addr(), Err: err}
		if last != nil {
			ae.Tried, ae.Allowed = last.TriedMethods, last.AllowedMethods
		}
		return ae
	}
	return &DialError{Addr: t.Addr(), Via: via, Stage: "handshake", Err: err}
}

// isNetErr reports errors of the connection itself (as opposed to a
// refusal inside the SSH protocol).
func isNetErr(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}
