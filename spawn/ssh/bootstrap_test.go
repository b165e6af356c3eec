package ssh

import (
	"errors"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// maxBootScript bounds the size of the stage-1 command (docs/bootstrap.md
// quotes its size).
const maxBootScript = 2600

func TestBootstrapScripts_OneLineAndQuotable(t *testing.T) {
	for name, s := range map[string]string{"bootstrap.sh": bootScript, "bootstrap_upload.sh": uploadScript} {
		if strings.ContainsAny(s, "'!\n") || strings.Contains(s, `\\`) {
			t.Errorf("%s: minified script holds a quote, '!', a newline or a backslash pair", name)
		}
		for _, shell := range []string{"sh", "dash", "bash", "busybox"} {
			path, err := exec.LookPath(shell)
			if err != nil {
				continue
			}
			args := []string{"-n", "-c", s}
			if shell == "busybox" {
				args = append([]string{"sh"}, args...)
			}
			if out, err := exec.Command(path, args...).CombinedOutput(); err != nil {
				t.Errorf("%s: %s -n: %v: %s", name, shell, err, out)
			}
		}
	}
	t.Logf("stage 1: %d bytes, upload: %d bytes", len(bootScript), len(uploadScript))
	if len(bootScript) > maxBootScript {
		t.Errorf("stage 1 is %d bytes, over %d: update docs/bootstrap.md or shrink it", len(bootScript), maxBootScript)
	}
}

func TestShellQuote_ThroughARealShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, s := range []string{"", "plain", "two words", "it's", `"dq"`, "$HOME", "`id`", "a\\b", "semi;colon", "*", "~", "tab\there", "ünïcode", "'''", "-n"} {
		out, err := exec.Command(sh, "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("shellQuote(%q) = %s came back as %q (%v)", s, shellQuote(s), out, err)
		}
	}
}

// TestBootCommand_Arguments runs the real command line with the script
// replaced by one that prints its arguments.
func TestBootCommand_Arguments(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	table := []platformDigest{{"linux/amd64", "aa"}, {"linux/arm64", "bb"}}
	cmd := bootCommand("/bin/sh", "DEBUG", table, []string{"/x y", "/z"}, []string{"A=1", "B=it's $x"})
	cmd = strings.Replace(cmd, shellQuote(bootScript), shellQuote(`for a do printf "[%s]" "$a"; done`), 1)
	out, err := exec.Command("/bin/sh", "-c", cmd).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "[DEBUG][linux/amd64=aa linux/arm64=bb][/x y:/z][A=1][B=it's $x]"
	if string(out) != want {
		t.Fatalf("arguments %s, want %s", out, want)
	}
}

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		marker, line string
		want         bootReply
		ours, bad    bool
	}{
		{bootMarker, "hello from .bashrc", bootReply{}, false, false},
		{bootMarker, "SPINDLE-BOOT/2 exec linux/amd64 1 /d", bootReply{}, false, false},
		{bootMarker, "SPINDLE-BOOT/1 pid 4711", bootReply{Verb: "pid", Pid: 4711}, true, false},
		{bootMarker, "SPINDLE-BOOT/1 exec linux/amd64 42 /home/u/.cache/spindle dir",
			bootReply{Verb: "exec", Platform: "linux/amd64", Pid: 42, Dir: "/home/u/.cache/spindle dir"}, true, false},
		{bootMarker, "SPINDLE-BOOT/1 miss linux/arm64 zstd,gzip,raw openssl 1234 /tmp/spindle-0",
			bootReply{Verb: "miss", Platform: "linux/arm64", Codecs: []string{"zstd", "gzip", "raw"}, Tool: "openssl", AvailKiB: 1234, Dir: "/tmp/spindle-0"}, true, false},
		{bootMarker, "SPINDLE-BOOT/1 miss linux/arm64 raw cksum - /d",
			bootReply{Verb: "miss", Platform: "linux/arm64", Codecs: []string{"raw"}, Tool: "cksum", AvailKiB: -1, Dir: "/d"}, true, false},
		{bootMarker, "SPINDLE-BOOT/1 err platform unknown/unknown Plan9 mips",
			bootReply{Verb: "err", Code: "platform", Detail: "unknown/unknown Plan9 mips", AvailKiB: -1}, true, false},
		{uploadMarker, "SPINDLE-UP/1 ok /d/spindle-abc", bootReply{Verb: "ok", Dir: "/d/spindle-abc"}, true, false},
		{uploadMarker, "SPINDLE-UP/1 err write 0 zstd exit status 1",
			bootReply{Verb: "err", Code: "write", AvailKiB: 0, Detail: "zstd exit status 1"}, true, false},
		{uploadMarker, "SPINDLE-UP/1 err write - raw exit status 1",
			bootReply{Verb: "err", Code: "write", AvailKiB: -1, Detail: "raw exit status 1"}, true, false},
		{bootMarker, "SPINDLE-BOOT/1 exec linux/amd64 notapid /d", bootReply{}, true, true},
		{bootMarker, "SPINDLE-BOOT/1 exec linux/amd64 0 /d", bootReply{}, true, true},
		{bootMarker, "SPINDLE-BOOT/1 exec Linux/amd64 1 /d", bootReply{}, true, true},
		{bootMarker, "SPINDLE-BOOT/1 exec linux/amd64 1", bootReply{}, true, true},
		{bootMarker, "SPINDLE-BOOT/1 miss linux/amd64 zstd openssl -5 /d", bootReply{}, true, true},
		{bootMarker, "SPINDLE-BOOT/1 miss linux/amd64 zstd openssl 99999999999999999999 /d", bootReply{}, true, true},
		{bootMarker, "SPINDLE-BOOT/1 ok /d", bootReply{}, true, true},
		{bootMarker, "SPINDLE-BOOT/1 err", bootReply{}, true, true},
		{bootMarker, "SPINDLE-BOOT/1 ", bootReply{}, true, true},
		{uploadMarker, "SPINDLE-UP/1 exec linux/amd64 1 /d", bootReply{}, true, true},
	} {
		got, ours, err := parseReply(tc.marker, []byte(tc.line))
		if ours != tc.ours || (err != nil) != tc.bad {
			t.Errorf("%q: ours=%v err=%v, want ours=%v bad=%v", tc.line, ours, err, tc.ours, tc.bad)
			continue
		}
		if err != nil {
			if !errors.Is(err, errBadReply) {
				t.Errorf("%q: error %v does not wrap errBadReply", tc.line, err)
			}
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
	}
}
