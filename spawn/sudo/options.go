package sudo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Password returns the password for one start. It is called at most once
// per start, and only when the tool asks; it is never called when no
// password is needed. ctx is the start's context. The returned slice is
// cleared after use: return a copy you do not need. It must not hold a
// line break or NUL.
type Password func(ctx context.Context) ([]byte, error)

// StaticPassword returns a Password that always answers pw (for tests and
// simple programs; prefer a callback that reads a secret store).
func StaticPassword(pw string) Password {
	return func(context.Context) ([]byte, error) { return []byte(pw), nil }
}

// Auth holds what the three tools share. The zero value finds the tool in
// the target's PATH, has no password, and logs nowhere.
type Auth struct {
	// Password answers the tool's password prompt. nil: a prompt is an
	// error (ErrPasswordRequired).
	Password Password
	// Path is the tool to run; default "sudo", "su" or "doas".
	Path string
	// Logger receives Debug records of the dialogue (never the password).
	Logger *slog.Logger
}

func (a *Auth) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return a.Logger
}

// Options configures Sudo. The zero value runs commands as root.
type Options struct {
	Auth
	// User is the target user (sudo -u); default root.
	User string
	// Group is the target group (sudo -g); default the user's.
	Group string
	// Login runs the command through the target user's login shell, which
	// reads its startup files, from the user's home directory (as sudo -i
	// does, without -i's mangling of '$' in arguments).
	Login bool
	// PreserveEnv names variables of the calling environment to keep
	// (sudo --preserve-env=A,B); the sudoers policy must allow them.
	PreserveEnv []string
}

func (o *Options) validate() error {
	for _, v := range o.PreserveEnv {
		if v == "" || strings.ContainsAny(v, ",= \t\n") {
			return fmt.Errorf("sudo: bad PreserveEnv name %q", v)
		}
	}
	if strings.HasPrefix(o.User, "-") || strings.HasPrefix(o.Group, "-") {
		return fmt.Errorf("sudo: user or group starts with '-': %q %q", o.User, o.Group)
	}
	return nil
}

// SuOptions configures Su. The zero value runs commands as root.
type SuOptions struct {
	Auth
	// User is the target user; default root.
	User string
	// Login starts a login session (su -l): a clean environment, the
	// user's home directory and startup files.
	Login bool
}

// DoasOptions configures Doas. The zero value runs commands as root.
type DoasOptions struct {
	Auth
	// User is the target user (doas -u); default root.
	User string
}

func checkUser(method, user string) error {
	if strings.HasPrefix(user, "-") || strings.ContainsAny(user, " \t\n") {
		return fmt.Errorf("sudo: %s: bad user name %q", method, user)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
