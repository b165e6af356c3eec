package boot

import (
	_ "embed"
	"strings"
	"sync"
)

// The bootstrap script, as written (with comments). See docs/bootstrap.md.
//
//go:embed bootstrap.sh
var scriptSource string

// Marker is the first word of every line the script prints.
const Marker = "SPINDLE-BOOT/2"

// Script returns the bootstrap joined into one line, computed once, on
// first use (it is a constant of the program; a process that starts no
// bootstrapped context, every child context for one, never needs it).
var Script = sync.OnceValue(func() string { return minifyScript(scriptSource) })

// minifyScript drops comment lines and indentation and joins the lines with
// spaces. The script is written so that this keeps its meaning: every line
// ends with a separator or a keyword that may be followed by a space.
func minifyScript(src string) string {
	var parts []string
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts = append(parts, line)
	}
	return strings.Join(parts, " ")
}

// ShellQuote quotes s as one word for a POSIX shell (and for csh and fish,
// which read single-quoted words without newlines the same way).
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ShellLine joins argv into one command line for a login shell (what an
// SSH server runs): "exec" followed by each word quoted.
func ShellLine(argv []string) string {
	var b strings.Builder
	b.WriteString("exec")
	for _, a := range argv {
		b.WriteString(" ")
		b.WriteString(ShellQuote(a))
	}
	return b.String()
}

// PlatformDigest pairs a platform with the digest of its binary.
type PlatformDigest struct {
	Platform string // "linux/amd64"
	Digest   string // hex SHA-256
}

// Argv is the bootstrap command: SHELL -c SCRIPT SHELL LEVEL TABLE DIRS
// ENV..., for the target to run as is (exec-style methods) or joined by
// ShellLine (methods that go through a login shell).
func Argv(shell, level string, table []PlatformDigest, dirs []string, env []string) []string {
	var tab []string
	for _, pd := range table {
		tab = append(tab, pd.Platform+"="+pd.Digest)
	}
	argv := []string{shell, "-c", Script(), shell, level, strings.Join(tab, " "), strings.Join(dirs, ":")}
	return append(argv, env...)
}

// uploadHeader is the line the parent sends after "miss", before the
// encoded binary.
func uploadHeader(token, codec string, size int, tool, want string) string {
	return "up " + token + " " + codec + " " + itoa(int64(size)) + " " + tool + " " + want + "\n"
}
