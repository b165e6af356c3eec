package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// Sentinels for the ways starting an SSH context fails. The typed errors
// below match them with errors.Is and carry the details.
var (
	// ErrAuthFailed: the server accepted none of the credentials offered
	// (*AuthError).
	ErrAuthFailed = errors.New("spawn: ssh authentication failed")
	// ErrHostKeyMismatch: the server's host key differs from the one in
	// known_hosts, or is revoked there; possibly a man in the middle
	// (*HostKeyError).
	ErrHostKeyMismatch = errors.New("spawn: ssh host key mismatch")
	// ErrUnknownHost: known_hosts has no key for the server and the policy
	// does not accept new ones (*HostKeyError).
	ErrUnknownHost = errors.New("spawn: ssh host unknown")
	// ErrConnectionRefused: nothing listens on the server's port
	// (*DialError).
	ErrConnectionRefused = errors.New("spawn: ssh connection refused")
	// ErrConnectTimeout: the TCP connection or the SSH handshake did not
	// complete within the connect timeout (*DialError).
	ErrConnectTimeout = errors.New("spawn: ssh connect timed out")
	// ErrConnectionLost: the SSH connection of a running context broke
	// (*ConnectionLostError, an IS_DEAD reason).
	ErrConnectionLost = errors.New("spawn: ssh connection lost")
)

// AuthError reports that authentication was refused.
type AuthError struct {
	User, Host string
	Tried      []string // methods tried ("none", "publickey", "password")
	Allowed    []string // methods the server would still accept
	Err        error    // what x/crypto/ssh said
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("spawn: ssh authentication as %s@%s failed (tried %s; server allows %s): %v",
		e.User, e.Host, listOr(e.Tried, "nothing"), listOr(e.Allowed, "nothing"), e.Err)
}
func (e *AuthError) Unwrap() error        { return e.Err }
func (e *AuthError) Is(target error) bool { return target == ErrAuthFailed }

// HostKeyError reports a host key that known_hosts does not vouch for.
type HostKeyError struct {
	Host        string   // the name looked up in known_hosts ("[h]:2222")
	KeyType     string   // type of the key the server presented
	Fingerprint string   // its SHA256 fingerprint, as ssh-keygen -l prints it
	Known       []string // "file:line" of the keys known for Host; empty if unknown
	Revoked     bool     // the key is marked @revoked
	Files       []string // the known_hosts files consulted
	Rejected    bool     // unknown, and Options.HostKeyPrompt refused it
}

func (e *HostKeyError) Error() string {
	switch {
	case e.Revoked:
		return fmt.Sprintf("spawn: ssh host key %s %s of %s is revoked in %s", e.KeyType, e.Fingerprint, e.Host, listOr(e.Known, "known_hosts"))
	case len(e.Known) > 0:
		return fmt.Sprintf("spawn: ssh host key mismatch for %s: the server presented %s %s, known_hosts has other keys at %s; someone could be eavesdropping (man in the middle), or the host key changed",
			e.Host, e.KeyType, e.Fingerprint, strings.Join(e.Known, ", "))
	}
	if e.Rejected {
		return fmt.Sprintf("spawn: ssh host %s is unknown: its %s key %s, in none of %s, was rejected by the host key prompt",
			e.Host, e.KeyType, e.Fingerprint, listOr(e.Files, "no known_hosts file"))
	}
	return fmt.Sprintf("spawn: ssh host %s is unknown: its %s key %s is in none of %s (add it, or use HostKeyAcceptNew)",
		e.Host, e.KeyType, e.Fingerprint, listOr(e.Files, "no known_hosts file"))
}

func (e *HostKeyError) Is(target error) bool {
	if len(e.Known) > 0 || e.Revoked {
		return target == ErrHostKeyMismatch
	}
	return target == ErrUnknownHost
}

// DialError reports that the TCP connection or the SSH handshake failed.
type DialError struct {
	Addr  string // host:port dialled
	Via   string // the jump host it was dialled through, if any
	Stage string // "connect" or "handshake"
	Err   error
}

func (e *DialError) Error() string {
	via := ""
	if e.Via != "" {
		via = " via " + e.Via
	}
	return fmt.Sprintf("spawn: ssh %s to %s%s: %v", e.Stage, e.Addr, via, e.Err)
}
func (e *DialError) Unwrap() error { return e.Err }

func (e *DialError) Is(target error) bool {
	switch target {
	case ErrConnectionRefused:
		return errors.Is(e.Err, syscall.ECONNREFUSED)
	case ErrConnectTimeout:
		return isTimeout(e.Err)
	}
	return false
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ConnectionLostError is the IS_DEAD reason of an SSH context whose
// connection broke (the TCP connection closed or failed).
type ConnectionLostError struct {
	Host string
	Err  error
}

func (e *ConnectionLostError) Error() string {
	return fmt.Sprintf("ssh connection to %s lost: %v", e.Host, e.Err)
}
func (e *ConnectionLostError) Unwrap() error        { return e.Err }
func (e *ConnectionLostError) Is(target error) bool { return target == ErrConnectionLost }

func listOr(l []string, none string) string {
	if len(l) == 0 {
		return none
	}
	return strings.Join(l, ", ")
}
