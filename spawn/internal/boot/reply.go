package boot

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// Limits on what the bootstrap reads before its reply: output of the
// target's login shell startup files is skipped, up to this much.
const (
	maxNoiseBytes = 64 << 10
	maxNoiseLines = 200
)

// ErrBadReply is wrapped by ParseReply for lines that carry the marker but
// cannot be understood.
var ErrBadReply = errors.New("boot: malformed bootstrap reply")

// errNoReply means the script's stdout ended before its reply line.
var errNoReply = errors.New("the target closed stdout before the bootstrap answered")

// Reply is one parsed line of the bootstrap script.
type Reply struct {
	Verb     string   // pid, need, exec, miss, err
	Platform string   // need, exec, miss: GOOS/GOARCH of the target
	Pid      int      // pid, exec: process ID of the script, then the child
	Dir      string   // exec, miss: cache directory
	Codecs   []string // miss: encodings the target can decode, best first
	Tool     string   // miss: digest tool ("none" if there is none)
	AvailKiB int64    // miss; err write: free space in KiB, -1 if unknown
	Code     string   // err: what failed (platform, noexec, write, ...)
	Detail   string   // err: the rest of the line; need: uname -sm
}

// ParseReply parses one line (without its newline) printed by the
// bootstrap script. ours is false for any line without the Marker (output
// of the target's shell startup files, which is skipped). It is pure and
// never panics, whatever the input.
func ParseReply(line []byte) (r Reply, ours bool, err error) {
	s := string(line)
	rest, ok := strings.CutPrefix(s, Marker+" ")
	if !ok {
		return r, false, nil
	}
	bad := func(why string) (Reply, bool, error) {
		return Reply{}, true, fmt.Errorf("%w: %s: %q", ErrBadReply, why, truncate(s, 200))
	}
	verb, rest, _ := strings.Cut(rest, " ")
	r.Verb = verb
	switch verb {
	case "pid":
		pid, ok := parsePid(rest)
		if !ok {
			return bad("bad process ID")
		}
		r.Pid = pid
	case "exec":
		f := strings.SplitN(rest, " ", 3)
		if len(f) != 3 || !ValidPlatform(f[0]) || f[2] == "" {
			return bad("want exec PLATFORM PID DIR")
		}
		pid, ok := parsePid(f[1])
		if !ok {
			return bad("bad process ID")
		}
		r.Platform, r.Pid, r.Dir = f[0], pid, f[2]
	case "need":
		platform, uname, _ := strings.Cut(rest, " ")
		if !ValidPlatform(platform) {
			return bad("want need PLATFORM UNAME")
		}
		r.Platform, r.Detail = platform, uname
	case "miss":
		f := strings.SplitN(rest, " ", 5)
		if len(f) != 5 || !ValidPlatform(f[0]) || f[1] == "" || f[2] == "" || f[4] == "" {
			return bad("want miss PLATFORM CODECS TOOL KIB DIR")
		}
		kib, ok := parseKiB(f[3])
		if !ok {
			return bad("bad free space")
		}
		r.Platform, r.Codecs, r.Tool, r.AvailKiB, r.Dir = f[0], strings.Split(f[1], ","), f[2], kib, f[4]
	case "err":
		code, detail, _ := strings.Cut(rest, " ")
		if code == "" {
			return bad("want err CODE DETAIL")
		}
		r.Code, r.Detail, r.AvailKiB = code, detail, -1
		if code == "write" {
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

func parsePid(s string) (int, bool) {
	pid, err := strconv.Atoi(s)
	return pid, err == nil && pid > 0
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

// ValidPlatform reports whether s looks like GOOS/GOARCH.
func ValidPlatform(s string) bool {
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

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// readReply reads lines until one of the script's, skipping (and logging
// at Debug) anything else the target printed, within bounds.
func readReply(r *bufio.Reader, log *slog.Logger) (Reply, error) {
	noise, lines := 0, 0
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			noise += len(line)
			for errors.Is(err, bufio.ErrBufferFull) && noise <= maxNoiseBytes {
				line, err = r.ReadSlice('\n')
				noise += len(line)
			}
			line = nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errNoReply
			}
			return Reply{}, err
		}
		line = bytes.TrimRight(line, "\r\n")
		rep, ours, perr := ParseReply(line)
		if perr != nil {
			return Reply{}, perr
		}
		if ours {
			return rep, nil
		}
		noise += len(line)
		lines++
		log.Debug("boot: target output before the bootstrap reply", "line", truncate(string(line), 200))
		if noise > maxNoiseBytes || lines > maxNoiseLines {
			return Reply{}, fmt.Errorf("%w: more than %d lines or %d bytes of other output", ErrBadReply, maxNoiseLines, maxNoiseBytes)
		}
	}
}
