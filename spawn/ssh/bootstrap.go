package ssh

import (
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The bootstrap scripts, as written (with comments). See docs/bootstrap.md.
var (
	//go:embed bootstrap.sh
	bootScriptSource string
	//go:embed bootstrap_upload.sh
	uploadScriptSource string
)

// Reply markers: the first word of every line the scripts print.
const (
	bootMarker   = "SPINDLE-BOOT/1"
	uploadMarker = "SPINDLE-UP/1"
)

// bootScript and uploadScript are the scripts joined into one line each,
// computed once (they are constants of the program).
var (
	bootScript   = minifyScript(bootScriptSource)
	uploadScript = minifyScript(uploadScriptSource)
)

// minifyScript drops comment lines and indentation and joins the lines with
// spaces. The scripts are written so that this keeps their meaning: every
// line ends with a separator or a keyword that may be followed by a space.
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

// shellQuote quotes s as one word for a POSIX shell (and for csh and fish,
// which read single-quoted words without newlines the same way).
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellCommand builds "exec SHELL -c 'SCRIPT' SHELL ARGS..." for the
// remote login shell.
func shellCommand(shell, script string, args ...string) string {
	var b strings.Builder
	b.WriteString("exec ")
	b.WriteString(shellQuote(shell))
	b.WriteString(" -c ")
	b.WriteString(shellQuote(script))
	b.WriteString(" ")
	b.WriteString(shellQuote(shell))
	for _, a := range args {
		b.WriteString(" ")
		b.WriteString(shellQuote(a))
	}
	return b.String()
}

// bootCommand is the stage-1 command line: table maps "goos/goarch" to the
// SHA-256 of the binary for that platform; dirs empty means the defaults.
func bootCommand(shell, level string, table []platformDigest, dirs []string, env []string) string {
	var tab []string
	for _, pd := range table {
		tab = append(tab, pd.Platform+"="+pd.Digest)
	}
	args := append([]string{level, strings.Join(tab, " "), strings.Join(dirs, ":")}, env...)
	return shellCommand(shell, bootScript, args...)
}

// uploadCommand is the command line that receives one binary on stdin.
func uploadCommand(shell, dir, digest, codec, tool, want, token string) string {
	return shellCommand(shell, uploadScript, dir, digest, codec, tool, want, token)
}

// platformDigest pairs a platform with the digest of its binary.
type platformDigest struct {
	Platform string // "linux/amd64"
	Digest   string // hex SHA-256
}

// bootReply is one parsed line of a bootstrap script.
type bootReply struct {
	Verb     string   // pid, exec, miss, err (stage 1); ok, err (upload)
	Platform string   // exec, miss: GOOS/GOARCH of the remote host
	Pid      int      // pid, exec: process ID of the script, then the child
	Dir      string   // exec, miss: cache directory; ok: installed path
	Codecs   []string // miss: encodings the host can decode, best first
	Tool     string   // miss: digest tool ("none" if there is none)
	AvailKiB int64    // miss; err write: free space in KiB, -1 if unknown
	Code     string   // err: what failed (platform, noexec, write, ...)
	Detail   string   // err: the rest of the line
}

// errBadReply is wrapped by parseReply for lines that carry a marker but
// cannot be understood.
var errBadReply = errors.New("malformed bootstrap reply")

// parseReply parses one line (without its newline) printed by a bootstrap
// script whose lines start with marker. ours is false for any other line
// (output of the remote login shell's startup files, which is skipped). It
// never panics, whatever the input.
func parseReply(marker string, line []byte) (r bootReply, ours bool, err error) {
	s := string(line)
	rest, ok := strings.CutPrefix(s, marker+" ")
	if !ok {
		return r, false, nil
	}
	bad := func(why string) (bootReply, bool, error) {
		return bootReply{}, true, fmt.Errorf("%w: %s: %q", errBadReply, why, truncate(s, 200))
	}
	verb, rest, _ := strings.Cut(rest, " ")
	r.Verb = verb
	switch {
	case verb == "pid" && marker == bootMarker:
		pid, err := strconv.Atoi(rest)
		if err != nil || pid <= 0 {
			return bad("bad process ID")
		}
		r.Pid = pid
	case verb == "exec" && marker == bootMarker:
		f := strings.SplitN(rest, " ", 3)
		if len(f) != 3 || !validPlatform(f[0]) || f[2] == "" {
			return bad("want exec PLATFORM PID DIR")
		}
		pid, err := strconv.Atoi(f[1])
		if err != nil || pid <= 0 {
			return bad("bad process ID")
		}
		r.Platform, r.Pid, r.Dir = f[0], pid, f[2]
	case verb == "miss" && marker == bootMarker:
		f := strings.SplitN(rest, " ", 5)
		if len(f) != 5 || !validPlatform(f[0]) || f[1] == "" || f[2] == "" || f[4] == "" {
			return bad("want miss PLATFORM CODECS TOOL KIB DIR")
		}
		kib, ok := parseKiB(f[3])
		if !ok {
			return bad("bad free space")
		}
		r.Platform, r.Codecs, r.Tool, r.AvailKiB, r.Dir = f[0], strings.Split(f[1], ","), f[2], kib, f[4]
	case verb == "ok" && marker == uploadMarker:
		if rest == "" {
			return bad("want ok PATH")
		}
		r.Dir = rest
	case verb == "err":
		code, detail, _ := strings.Cut(rest, " ")
		if code == "" {
			return bad("want err CODE DETAIL")
		}
		r.Code, r.Detail, r.AvailKiB = code, detail, -1
		if code == "write" && marker == uploadMarker {
			kib, more, _ := strings.Cut(detail, " ")
			if v, ok := parseKiB(kib); ok {
				r.AvailKiB, r.Detail = v, more
			}
		}
	default:
		return bad("unknown verb")
	}
	return r, true, nil
}

// parseKiB reads a df figure: a decimal count of KiB, or "-" for unknown.
func parseKiB(s string) (int64, bool) {
	if s == "-" {
		return -1, true
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > 1<<50 {
		return 0, false
	}
	return v, true
}

// validPlatform reports whether s looks like GOOS/GOARCH.
func validPlatform(s string) bool {
	goos, goarch, ok := strings.Cut(s, "/")
	return ok && isWord(goos) && isWord(goarch)
}

func isWord(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
