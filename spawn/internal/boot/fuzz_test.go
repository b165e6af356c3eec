package boot

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseReply feeds arbitrary lines to the bootstrap reply parser: it
// must never panic, must claim exactly the lines with its marker, and what
// it accepts must be well formed.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{
		Marker + " pid 1",
		Marker + " exec linux/amd64 42 /home/u/.cache/spindle",
		Marker + " miss linux/arm64 zstd,gzip,raw openssl 1234 /tmp/spindle-0",
		Marker + " miss darwin/arm64 raw none - /d",
		Marker + " need linux/arm64 Linux aarch64",
		Marker + " err platform unknown/unknown Plan9 mips",
		Marker + " err noexec /a: cannot create, /b: cannot exec files there",
		Marker + " err write 0 zstd exit status 1",
		Marker + " err verify openssl deadbeef",
		"welcome to the machine",
		Marker + " ",
		Marker + " exec linux/amd64 -1 /d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, ours, err := ParseReply([]byte(line))
		if ours != strings.HasPrefix(line, Marker+" ") {
			t.Fatalf("ours=%v for %q", ours, line)
		}
		if !ours || err != nil {
			if err != nil && !errors.Is(err, ErrBadReply) {
				t.Fatalf("error %v does not wrap ErrBadReply", err)
			}
			return
		}
		switch r.Verb {
		case "pid":
			if r.Pid <= 0 {
				t.Fatalf("pid %d accepted", r.Pid)
			}
		case "exec":
			if r.Pid <= 0 || !ValidPlatform(r.Platform) || r.Dir == "" {
				t.Fatalf("bad exec accepted: %+v", r)
			}
		case "need":
			if !ValidPlatform(r.Platform) {
				t.Fatalf("bad need accepted: %+v", r)
			}
		case "miss":
			if !ValidPlatform(r.Platform) || len(r.Codecs) == 0 || r.Tool == "" || r.Dir == "" || r.AvailKiB < -1 {
				t.Fatalf("bad miss accepted: %+v", r)
			}
		case "err":
			if r.Code == "" {
				t.Fatalf("err without code accepted: %q", line)
			}
		default:
			t.Fatalf("verb %q accepted", r.Verb)
		}
	})
}
