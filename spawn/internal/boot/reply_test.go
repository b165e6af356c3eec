package boot

import (
	"bufio"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		line      string
		want      Reply
		ours, bad bool
	}{
		{"hello from .bashrc", Reply{}, false, false},
		{"SPINDLE-BOOT/1 exec linux/amd64 1 /d", Reply{}, false, false},
		{"SPINDLE-BOOT/2 pid 4711", Reply{Verb: "pid", Pid: 4711}, true, false},
		{"SPINDLE-BOOT/2 exec linux/amd64 42 /home/u/.cache/spindle dir",
			Reply{Verb: "exec", Platform: "linux/amd64", Pid: 42, Dir: "/home/u/.cache/spindle dir"}, true, false},
		{"SPINDLE-BOOT/2 miss linux/arm64 zstd,gzip,raw openssl 1234 /tmp/spindle-0",
			Reply{Verb: "miss", Platform: "linux/arm64", Codecs: []string{"zstd", "gzip", "raw"}, Tool: "openssl", AvailKiB: 1234, Dir: "/tmp/spindle-0"}, true, false},
		{"SPINDLE-BOOT/2 miss linux/arm64 raw cksum - /d",
			Reply{Verb: "miss", Platform: "linux/arm64", Codecs: []string{"raw"}, Tool: "cksum", AvailKiB: -1, Dir: "/d"}, true, false},
		{"SPINDLE-BOOT/2 err platform unknown/unknown Plan9 mips",
			Reply{Verb: "err", Code: "platform", Detail: "unknown/unknown Plan9 mips", AvailKiB: -1}, true, false},
		{"SPINDLE-BOOT/2 err write 0 zstd exit status 1",
			Reply{Verb: "err", Code: "write", AvailKiB: 0, Detail: "zstd exit status 1"}, true, false},
		{"SPINDLE-BOOT/2 err write - raw exit status 1",
			Reply{Verb: "err", Code: "write", AvailKiB: -1, Detail: "raw exit status 1"}, true, false},
		{"SPINDLE-BOOT/2 err verify openssl deadbeef",
			Reply{Verb: "err", Code: "verify", AvailKiB: -1, Detail: "openssl deadbeef"}, true, false},
		{"SPINDLE-BOOT/2 need linux/arm64 Linux aarch64",
			Reply{Verb: "need", Platform: "linux/arm64", Detail: "Linux aarch64"}, true, false},
		{"SPINDLE-BOOT/2 need Linux aarch64", Reply{}, true, true},
		{"SPINDLE-BOOT/2 need", Reply{}, true, true},
		{"SPINDLE-BOOT/2 exec linux/amd64 notapid /d", Reply{}, true, true},
		{"SPINDLE-BOOT/2 exec linux/amd64 0 /d", Reply{}, true, true},
		{"SPINDLE-BOOT/2 exec Linux/amd64 1 /d", Reply{}, true, true},
		{"SPINDLE-BOOT/2 exec linux/amd64 1", Reply{}, true, true},
		{"SPINDLE-BOOT/2 miss linux/amd64 zstd openssl -5 /d", Reply{}, true, true},
		{"SPINDLE-BOOT/2 miss linux/amd64 zstd openssl 99999999999999999999 /d", Reply{}, true, true},
		{"SPINDLE-BOOT/2 ok /d", Reply{}, true, true},
		{"SPINDLE-BOOT/2 err", Reply{}, true, true},
		{"SPINDLE-BOOT/2 ", Reply{}, true, true},
		{"SPINDLE-BOOT/2 pid -3", Reply{}, true, true},
	} {
		got, ours, err := ParseReply([]byte(tc.line))
		if ours != tc.ours || (err != nil) != tc.bad {
			t.Errorf("%q: ours=%v err=%v, want ours=%v bad=%v", tc.line, ours, err, tc.ours, tc.bad)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrBadReply) {
				t.Errorf("%q: error %v does not wrap ErrBadReply", tc.line, err)
			}
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
	}
}

func TestReadReply_SkipsShellNoiseWithinBounds(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	in := "Welcome!\r\nlast login: never\n" + Marker + " pid 12\n"
	rep, err := readReply(bufio.NewReader(strings.NewReader(in)), log)
	if err != nil || rep.Verb != "pid" || rep.Pid != 12 {
		t.Fatalf("got %+v, %v", rep, err)
	}
	for name, noise := range map[string]string{
		"lines":     strings.Repeat("motd\n", maxNoiseLines+1),
		"long line": strings.Repeat("x", maxNoiseBytes+10) + "\n",
	} {
		_, err := readReply(bufio.NewReader(strings.NewReader(noise+Marker+" pid 1\n")), log)
		if !errors.Is(err, ErrBadReply) {
			t.Errorf("%s: %v, want ErrBadReply", name, err)
		}
	}
	if _, err := readReply(bufio.NewReader(strings.NewReader("bye\n")), log); !errors.Is(err, errNoReply) {
		t.Errorf("EOF before a reply: %v, want errNoReply", err)
	}
}
