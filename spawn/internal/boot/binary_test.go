package boot

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

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
		enc, err := b.Encoded(codec)
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
	if _, err := b.Encoded(codecZstd); err == nil || !strings.Contains(err.Error(), "changed") {
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
		if got := PickCodec(tc.offered); got != tc.want {
			t.Errorf("PickCodec(%v) = %s, want %s", tc.offered, got, tc.want)
		}
	}
}

func TestOnePerPlatform_CallersBinaryWins(t *testing.T) {
	mine := &Binary{path: "/mine", platform: "linux/amd64"}
	arm := &Binary{path: "/arm", platform: "linux/arm64"}
	self := &Binary{path: "/self", platform: "linux/amd64"}
	got := OnePerPlatform([]*Binary{mine, arm, self})
	if len(got) != 2 || got[0] != mine || got[1] != arm {
		t.Fatalf("onePerPlatform kept %v", got)
	}
}

// withoutCodec unlinks the codec name for the rest of the test, as in a
// program that does not import spawn/compress.
func withoutCodec(t *testing.T, name string) {
	t.Helper()
	c, ok := CodecOf(name)
	if !ok {
		t.Fatalf("codec %s is not registered in this test binary", name)
	}
	codecs.Lock()
	delete(codecs.m, name)
	codecs.Unlock()
	t.Cleanup(func() { RegisterCodec(name, c) })
}

// TestPickCodec_OnlyLinked: a codec the target offers but this program
// does not link is never picked, and asking for its form is ErrNoCodec.
func TestPickCodec_OnlyLinked(t *testing.T) {
	withoutCodec(t, codecZstd)
	if got := PickCodec([]string{"zstd", "gzip", "raw"}); got != codecGzip {
		t.Fatalf("without zstd linked: PickCodec = %s, want gzip", got)
	}
	withoutCodec(t, codecGzip)
	if got := PickCodec([]string{"zstd", "gzip", "raw"}); got != codecRaw {
		t.Fatalf("without codecs linked: PickCodec = %s, want raw", got)
	}
	path := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(path, []byte("a program"), 0o755); err != nil {
		t.Fatal(err)
	}
	b := NewBinary(path, "linux/amd64")
	if _, err := b.Encoded(codecZstd); !errors.Is(err, ErrNoCodec) {
		t.Fatalf("zstd form without zstd linked: %v, want ErrNoCodec", err)
	}
	if raw, err := b.Encoded(codecRaw); err != nil || string(raw) != "a program" {
		t.Fatalf("raw form: %q, %v", raw, err)
	}
}
