package spawn

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
	// ErrNoShell: the remote host could not run the POSIX shell the
	// bootstrap needs, /bin/sh by default (*ShellError).
	ErrNoShell = errors.New("spawn: remote host has no usable POSIX shell")
	// ErrNoExecDir: no candidate cache directory on the remote host is
	// private, writable and allows executing files (*CacheDirError).
	ErrNoExecDir = errors.New("spawn: no writable cache directory that allows exec on the remote host")
	// ErrDiskFull: the remote cache directory has no room for the binary
	// (*DiskFullError).
	ErrDiskFull = errors.New("spawn: remote disk full")
	// ErrPlatformMismatch: the remote host runs a platform no offered
	// binary was built for (*PlatformError).
	ErrPlatformMismatch = errors.New("spawn: remote platform mismatch")
	// ErrBootstrapTimeout: the whole start (connect, authenticate,
	// bootstrap, handshake) exceeded SSHOptions.BootstrapTimeout or the
	// caller's deadline (*BootstrapError).
	ErrBootstrapTimeout = errors.New("spawn: ssh bootstrap timed out")
	// ErrBootstrap: the remote bootstrap failed in another way: a digest
	// mismatch after upload, an unexpected reply (*BootstrapError).
	ErrBootstrap = errors.New("spawn: ssh bootstrap failed")
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
}

func (e *HostKeyError) Error() string {
	switch {
	case e.Revoked:
		return fmt.Sprintf("spawn: ssh host key %s %s of %s is revoked in %s", e.KeyType, e.Fingerprint, e.Host, listOr(e.Known, "known_hosts"))
	case len(e.Known) > 0:
		return fmt.Sprintf("spawn: ssh host key mismatch for %s: the server presented %s %s, known_hosts has other keys at %s; someone could be eavesdropping (man in the middle), or the host key changed",
			e.Host, e.KeyType, e.Fingerprint, strings.Join(e.Known, ", "))
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

// ShellError reports that the remote login shell could not run the
// bootstrap's shell.
type ShellError struct {
	Host, Shell string
	ExitStatus  int
	Stderr      string // the last lines the remote side wrote to stderr
}

func (e *ShellError) Error() string {
	return fmt.Sprintf("spawn: %s cannot run %s (exit status %d): %s", e.Host, e.Shell, e.ExitStatus, orNone(e.Stderr))
}
func (e *ShellError) Is(target error) bool { return target == ErrNoShell }

// CacheDirError reports that no cache directory could hold the binary.
type CacheDirError struct {
	Host   string
	Detail string // each directory tried and why it was refused
}

func (e *CacheDirError) Error() string {
	return fmt.Sprintf("spawn: %s: no private, writable cache directory that allows exec: %s", e.Host, e.Detail)
}
func (e *CacheDirError) Is(target error) bool { return target == ErrNoExecDir }

// DiskFullError reports that the remote cache directory is too small.
type DiskFullError struct {
	Host, Dir string
	Need      int64 // bytes the binary needs
	AvailKiB  int64 // free space reported by df, in KiB
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("spawn: %s: no room for the binary in %s: it needs %d KiB, %d KiB free",
		e.Host, e.Dir, (e.Need+1023)/1024, e.AvailKiB)
}
func (e *DiskFullError) Is(target error) bool { return target == ErrDiskFull }

// PlatformError reports a remote platform no offered binary runs on.
type PlatformError struct {
	Host   string
	Remote string   // GOOS/GOARCH of the remote host ("unknown" parts possible)
	Uname  string   // what uname -sm printed there
	Local  []string // platforms of the binaries on offer, the running program first
}

func (e *PlatformError) Error() string {
	return fmt.Sprintf("spawn: %s runs %s (uname: %s) but the binaries on offer are for %s; build one for %s and pass it in SSHOptions.Binaries",
		e.Host, e.Remote, orNone(e.Uname), strings.Join(e.Local, ", "), e.Remote)
}
func (e *PlatformError) Is(target error) bool { return target == ErrPlatformMismatch }

// BootstrapError reports a failure after authentication, before the
// context was up.
type BootstrapError struct {
	Host   string
	Stage  string // "session", "probe", "upload", "verify", "exec", "handshake"
	Err    error
	Stderr string // the last lines the remote side wrote to stderr
}

func (e *BootstrapError) Error() string {
	s := fmt.Sprintf("spawn: %s: bootstrap %s: %v", e.Host, e.Stage, e.Err)
	if e.Stderr != "" {
		s += "; remote stderr:\n" + e.Stderr
	}
	return s
}
func (e *BootstrapError) Unwrap() error { return e.Err }

func (e *BootstrapError) Is(target error) bool {
	switch target {
	case ErrBootstrapTimeout:
		return isTimeout(e.Err)
	case ErrBootstrap:
		return !isTimeout(e.Err)
	}
	return false
}

// RemoteExitError is the IS_DEAD reason of an SSH context whose remote
// process ended.
type RemoteExitError struct {
	Host   string
	Pid    int
	Status int    // exit status (when Signal is empty)
	Signal string // signal name without "SIG" as the server reported it
}

func (e *RemoteExitError) Error() string {
	if e.Signal != "" {
		return fmt.Sprintf("remote process %d on %s killed by signal %s", e.Pid, e.Host, e.Signal)
	}
	return fmt.Sprintf("remote process %d on %s exited: exit status %d", e.Pid, e.Host, e.Status)
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

func orNone(s string) string {
	if s == "" {
		return "(nothing on stderr)"
	}
	return s
}
