package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/spindle-go/spindle/spawn"
)

// TestSSHErrors_IsMatrix pins which sentinel each typed error matches, and
// that wrapping keeps it.
func TestSSHErrors_IsMatrix(t *testing.T) {
	sentinels := []error{ErrAuthFailed, ErrHostKeyMismatch, ErrUnknownHost, ErrConnectionRefused, ErrConnectTimeout,
		spawn.ErrNoShell, spawn.ErrNoExecDir, spawn.ErrDiskFull, spawn.ErrPlatformMismatch, spawn.ErrBootstrapTimeout, spawn.ErrBootstrap, ErrConnectionLost}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		err  error
		want []error
	}{
		{&AuthError{User: "u", Host: "h", Err: errors.New("x")}, []error{ErrAuthFailed}},
		{&HostKeyError{Host: "h", Known: []string{"f:1"}}, []error{ErrHostKeyMismatch}},
		{&HostKeyError{Host: "h", Revoked: true}, []error{ErrHostKeyMismatch}},
		{&HostKeyError{Host: "h"}, []error{ErrUnknownHost}},
		{&DialError{Addr: "h:22", Stage: "connect", Err: refused}, []error{ErrConnectionRefused}},
		{&DialError{Addr: "h:22", Stage: "connect", Err: context.DeadlineExceeded}, []error{ErrConnectTimeout}},
		{&DialError{Addr: "h:22", Stage: "handshake", Err: errors.New("protocol")}, nil},
		{&spawn.ShellError{Host: "h", Shell: "/bin/sh", ExitStatus: 127}, []error{spawn.ErrNoShell}},
		{&spawn.CacheDirError{Host: "h"}, []error{spawn.ErrNoExecDir}},
		{&spawn.DiskFullError{Host: "h"}, []error{spawn.ErrDiskFull}},
		{&spawn.PlatformError{Host: "h", Remote: "linux/arm64", Local: []string{"linux/amd64"}}, []error{spawn.ErrPlatformMismatch}},
		{&spawn.BootstrapError{Host: "h", Stage: "probe", Err: context.DeadlineExceeded}, []error{spawn.ErrBootstrapTimeout}},
		{&spawn.BootstrapError{Host: "h", Stage: "verify", Err: errors.New("mismatch")}, []error{spawn.ErrBootstrap}},
		{&ConnectionLostError{Host: "h", Err: errors.New("EOF")}, []error{ErrConnectionLost}},
	} {
		for _, wrapped := range []error{tc.err, fmt.Errorf("outer: %w", tc.err)} {
			for _, s := range sentinels {
				want := false
				for _, w := range tc.want {
					want = want || w == s
				}
				if got := errors.Is(wrapped, s); got != want {
					t.Errorf("errors.Is(%T %q, %v) = %v, want %v", tc.err, wrapped, s, got, want)
				}
			}
		}
	}
}
