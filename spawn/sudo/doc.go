// Package sudo runs commands as another user through sudo, su or doas,
// each wrapping an inner runner.Target: sudo on an SSH host, inside a
// container or on this machine is one expression, and the result is a
// runner.Target again (so wrappers stack: sudo inside SSH inside ...).
//
// # Usage
//
//	inner := sshTarget // any runner.Target
//	t, err := sudo.Sudo(inner, sudo.Options{
//		User: "postgres",
//		Auth: sudo.Auth{Password: askVault}, // called at most once per start
//	})
//	// t is a runner.Target: start a child context through it like any other
//	child, err := spawn.Start(ctx, node, t, spawn.Common{Name: "db"}, spawn.Bootstrap{})
//
// The bootstrap sends the binary on the same stream when the target user
// has no cached copy, so a cold start authenticates once, like a warm one.
//
// su and doas read the password from a terminal; they wrap a target that
// can give a command a pty besides its pipes (Terminal; Host does):
//
//	t, err := sudo.Doas(&sudo.Host{}, sudo.DoasOptions{User: "root", Auth: ...})
//
// # How a start authenticates
//
// Each start picks a random marker; the wrapped command is
// `sh -c 'printf "%s\n" "$0" && exec "$@"' MARKER ARGV...`, so the marker
// line on stdout is the positive sign that authentication is over and the
// command runs. Until it comes, Start watches for prompts: sudo runs with
// `-S -p TOKEN`, a random token it prints on stderr (removed from the
// stream); su and doas are recognised by the terminal's echo being turned
// off. The first prompt is answered with Auth.Password, once; a second
// prompt, or the tool ending after the password, is ErrBadPassword, and the
// tool is stopped at once (no retries: no account lockout). With no prompt
// the password callback is never called. The password is written to the
// tool's stdin (sudo) or the pty (su, doas): never in argv, the
// environment or a log. See docs/methods.md for the design and limits.
//
// # Concurrency
//
// Targets are safe for concurrent use. A Runner follows runner.Runner's
// contract: Start once, then its streams; Wait may be called more than
// once and concurrently with Signal and Kill.
package sudo
