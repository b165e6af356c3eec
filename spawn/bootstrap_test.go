package spawn

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
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

func TestPosixCksum_MatchesCksum(t *testing.T) {
	cksum, err := exec.LookPath("cksum")
	if err != nil {
		t.Skip("no cksum")
	}
	big := make([]byte, 1<<20+17)
	_, _ = rand.Read(big)
	for _, data := range [][]byte{nil, []byte("a"), []byte("123456789"), bytes.Repeat([]byte{0xff}, 300), big} {
		var c posixCksum
		_, _ = c.Write(data)
		cmd := exec.Command(cksum)
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		got := strconv.FormatUint(uint64(c.Sum(int64(len(data)))), 10) + " " + strconv.Itoa(len(data))
		if got != strings.Join(strings.Fields(string(out)), " ") {
			t.Errorf("%d bytes: posixCksum %s, cksum %s", len(data), got, out)
		}
	}
}

func TestBinary_PlatformDigestAndEncodings(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b := NewBinary(exe, "")
	p, err := b.Platform()
	if err != nil || p != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("platform from build info: %q, %v", p, err)
	}
	raw, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	for _, codec := range []string{codecZstd, codecGzip, codecRaw} {
		enc, err := b.encoded(codec)
		if err != nil {
			t.Fatal(err)
		}
		var dec []byte
		switch codec {
		case codecZstd:
			r, _ := zstd.NewReader(bytes.NewReader(enc))
			dec, err = io.ReadAll(r)
			r.Close()
		case codecGzip:
			r, _ := gzip.NewReader(bytes.NewReader(enc))
			dec, err = io.ReadAll(r)
		default:
			dec = enc
		}
		if err != nil || !bytes.Equal(dec, raw) {
			t.Fatalf("%s does not decode to the binary (%v)", codec, err)
		}
		t.Logf("%s: %d -> %d bytes", codec, len(raw), len(enc))
	}
	if _, err := NewBinary("/bin/sh", "").Platform(); err == nil {
		t.Error("a binary without Go build information got a platform")
	}
	if _, err := NewBinary(exe, "linux").Digest(); err == nil {
		t.Error("platform \"linux\" accepted")
	}
}

func TestBinary_ChangedAfterHashing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(path, []byte("version 1"), 0o755); err != nil {
		t.Fatal(err)
	}
	b := NewBinary(path, "linux/amd64")
	if _, err := b.Digest(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("version 2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := b.encoded(codecZstd); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("encoding a rebuilt binary: %v, want an error", err)
	}
}

func TestPickCodec(t *testing.T) {
	for _, tc := range []struct {
		offered []string
		want    string
	}{
		{[]string{"zstd", "gzip", "raw"}, "zstd"},
		{[]string{"gzip", "zstd", "raw"}, "zstd"},
		{[]string{"gzip", "raw"}, "gzip"},
		{[]string{"raw"}, "raw"},
		{[]string{"brotli"}, "raw"},
		{nil, "raw"},
	} {
		if got := pickCodec(tc.offered); got != tc.want {
			t.Errorf("pickCodec(%v) = %s, want %s", tc.offered, got, tc.want)
		}
	}
}
