package sudo

import (
	"errors"
	"fmt"
)

// ErrBadPassword means the password was refused: sudo asked for it a
// second time, or su or doas ended before running the command after they
// had been given it. The password is never sent twice in one start, so a
// wrong password costs the account one failed attempt, not sudo's three.
var ErrBadPassword = errors.New("sudo: the password was refused")

// ErrPasswordRequired means the tool asked for a password and the options
// have no Password callback (or it returned no password).
var ErrPasswordRequired = errors.New("sudo: a password is required")

// ErrRefused means the tool ended before the command ran for a reason other
// than a refused password: the policy does not allow the command (sudo
// also says so after a correct password), the target user does not exist,
// the tool is missing. AuthError.Stderr holds what the tool printed.
var ErrRefused = errors.New("sudo: the command was not started")

// ErrAuthTimeout means the context ended during the authentication
// dialogue; the tool was killed.
var ErrAuthTimeout = errors.New("sudo: authentication did not finish in time")

// ErrNoTerminal means su or doas was asked to run on a target that cannot
// give it a terminal (see Terminal).
var ErrNoTerminal = errors.New("sudo: su and doas need a target that provides a terminal")

// AuthError is a failed start of a wrapped command. It unwraps to one of
// the sentinels above (or to the context's error for ErrAuthTimeout).
type AuthError struct {
	Method  string // "sudo", "su" or "doas"
	User    string // the target user
	Prompts int    // password prompts seen
	// ExitCode is the tool's exit status when it ended by itself, else -1.
	ExitCode int
	Stderr   string // the last lines the tool printed (never a password)
	Err      error
}

func (e *AuthError) Error() string {
	msg := fmt.Sprintf("%s to %s: %v", e.Method, e.User, e.Err)
	if e.ExitCode >= 0 {
		msg += fmt.Sprintf(" (exit status %d)", e.ExitCode)
	}
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *AuthError) Unwrap() error { return e.Err }
