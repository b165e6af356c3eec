package ssh

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
		"SPINDLE-BOOT/1 pid 1",
		"SPINDLE-BOOT/1 exec linux/amd64 42 /home/u/.cache/spindle",
		"SPINDLE-BOOT/1 miss linux/arm64 zstd,gzip,raw openssl 1234 /tmp/spindle-0",
		"SPINDLE-BOOT/1 miss darwin/arm64 raw none - /d",
		"SPINDLE-BOOT/1 err platform unknown/unknown Plan9 mips",
		"SPINDLE-BOOT/1 err noexec /a: cannot create, /b: cannot exec files there",
		"SPINDLE-UP/1 ok /d/spindle-abc",
		"SPINDLE-UP/1 err write 0 zstd exit status 1",
		"SPINDLE-UP/1 err verify openssl deadbeef",
		"welcome to the machine",
		"SPINDLE-BOOT/1 ",
		"SPINDLE-BOOT/1 exec linux/amd64 -1 /d",
	} {
		f.Add(bootMarker, s)
		f.Add(uploadMarker, s)
	}
	f.Fuzz(func(t *testing.T, marker, line string) {
		if marker != bootMarker && marker != uploadMarker {
			marker = bootMarker
		}
		r, ours, err := parseReply(marker, []byte(line))
		if ours != strings.HasPrefix(line, marker+" ") {
			t.Fatalf("ours=%v for %q", ours, line)
		}
		if !ours || err != nil {
			if err != nil && !errors.Is(err, errBadReply) {
				t.Fatalf("error %v does not wrap errBadReply", err)
			}
			return
		}
		switch r.Verb {
		case "pid":
			if r.Pid <= 0 {
				t.Fatalf("pid %d accepted", r.Pid)
			}
		case "exec":
			if r.Pid <= 0 || !validPlatform(r.Platform) || r.Dir == "" {
				t.Fatalf("bad exec accepted: %+v", r)
			}
		case "miss":
			if !validPlatform(r.Platform) || len(r.Codecs) == 0 || r.Tool == "" || r.Dir == "" || r.AvailKiB < -1 {
				t.Fatalf("bad miss accepted: %+v", r)
			}
		case "ok":
			if r.Dir == "" || marker != uploadMarker {
				t.Fatalf("bad ok accepted: %+v", r)
			}
		case "err":
			if r.Code == "" {
				t.Fatalf("err without code: %+v", r)
			}
		default:
			t.Fatalf("verb %q accepted", r.Verb)
		}
	})
}

// FuzzParseHostSpec: user-supplied "[user@]host[:port]" never panics, and
// what it accepts has a host and a port in range.
func FuzzParseHostSpec(f *testing.F) {
	for _, s := range []string{"example.com", "alice@example.com:2222", "[::1]:22", "::1", "a@b@c", "[x", "h:0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		_, host, port, err := parseHostSpec(spec)
		if err != nil {
			return
		}
		if host == "" || port < 0 || port > 65535 || strings.ContainsAny(host, " \t\n/") {
			t.Fatalf("%q accepted as host %q port %d", spec, host, port)
		}
	})
}
