package boot

import (
	"bytes"
	"debug/buildinfo"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// infoBlob is a build information header with inline strings, as the Go
// linker writes it, holding version and mod.
func infoBlob(version, mod string) []byte {
	h := make([]byte, buildInfoHeader)
	copy(h, buildInfoMagic)
	h[14], h[15] = 8, buildInfoInline
	h = binary.AppendUvarint(h, uint64(len(version)))
	h = append(h, version...)
	h = binary.AppendUvarint(h, uint64(len(mod)))
	return append(h, mod...)
}

// TestScanPlatform_AgreesWithBuildinfo: on real Go binaries (this test
// binary and one built for another platform) the scan finds the platform
// debug/buildinfo reads from the object file.
func TestScanPlatform_AgreesWithBuildinfo(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{self}
	if goCmd, err := exec.LookPath("go"); err == nil {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\nfunc main() {}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module m\ngo 1.22\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "m.exe")
		cmd := exec.Command(goCmd, "build", "-o", out, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=arm64", "CGO_ENABLED=0", "GOFLAGS=")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build for windows/arm64: %v\n%s", err, b)
		}
		paths = append(paths, out)
	}
	for _, path := range paths {
		info, err := buildinfo.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for _, s := range info.Settings {
			want[s.Key] = s.Value
		}
		got, err := filePlatform(path)
		if err != nil || got != want["GOOS"]+"/"+want["GOARCH"] {
			t.Fatalf("%s: scan %q, %v; buildinfo %s/%s", path, got, err, want["GOOS"], want["GOARCH"])
		}
	}
	if p, _ := filePlatform(self); p != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("own platform %q", p)
	}
}

// TestScanPlatform_Adversarial: decoys before the real header (the magic
// alone, a header of the old pointer format, one without GOOS, a length
// beyond the file) are skipped; a file with none has no platform.
func TestScanPlatform_Adversarial(t *testing.T) {
	mod := "path\tm\nmod\tm\t(devel)\t\nbuild\tGOOS=linux\nbuild\tGOARCH=riscv64\n"
	old := infoBlob("go1.17", mod)
	old[15] = 0
	long := infoBlob("go1.26", "")[:buildInfoHeader+7]
	long = append(long[:buildInfoHeader+7], 0xff, 0xff, 0xff, 0x7f) // a huge modinfo length
	var file bytes.Buffer
	for _, decoy := range [][]byte{buildInfoMagic, old, infoBlob("go1.26", "build\tGOARCH=amd64\n"), long} {
		file.Write(decoy)
		file.WriteString(strings.Repeat("x", 100))
	}
	file.Write(infoBlob("go1.26", mod))
	if p, err := scanPlatform(bytes.NewReader(file.Bytes())); err != nil || p != "linux/riscv64" {
		t.Fatalf("scan: %q, %v", p, err)
	}
	for _, data := range [][]byte{nil, buildInfoMagic, old, long, bytes.Repeat([]byte{0xff}, 1<<17)} {
		if p, err := scanPlatform(bytes.NewReader(data)); err == nil {
			t.Fatalf("%d bytes without valid build information: platform %q", len(data), p)
		}
	}
	// A header across the scanner's buffer boundary is found.
	big := append(bytes.Repeat([]byte{0}, 64<<10-5), infoBlob("go1.26", mod)...)
	if p, err := scanPlatform(bytes.NewReader(big)); err != nil || p != "linux/riscv64" {
		t.Fatalf("across the buffer: %q, %v", p, err)
	}
}

// FuzzScanPlatform: arbitrary bytes never panic the scan, and what it
// accepts is a platform it read from GOOS and GOARCH settings.
func FuzzScanPlatform(f *testing.F) {
	f.Add(infoBlob("go1.26", "build\tGOOS=linux\nbuild\tGOARCH=amd64\n"))
	f.Add(append([]byte("junk"), infoBlob("go1.22", "build\tGOOS=darwin\nbuild\tGOARCH=arm64")...))
	f.Add(buildInfoMagic)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := scanPlatform(bytes.NewReader(data))
		if err != nil {
			return
		}
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok || goos == "" || goarch == "" || !bytes.Contains(data, []byte("GOOS="+goos)) {
			t.Fatalf("platform %q from %q", p, data)
		}
	})
}
