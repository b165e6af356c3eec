package boot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// The platform of a Go binary is read from the build information the Go
// linker (1.18 and later) records in it: a 32-byte header that starts with
// buildInfoMagic, then the Go version and the module information (with its
// "build\tGOOS=..." settings) as length-prefixed strings. It is found by
// scanning the file rather than by parsing ELF, Mach-O or PE, which keeps
// debug/buildinfo and its object-file readers (about 300 KB of code) out
// of every context that links spawn.

// buildInfoMagic is built at run time, so that the program's own rodata
// does not hold it in one piece.
var buildInfoMagic = append([]byte{0xff}, " Go buildinf:"...)

const (
	buildInfoHeader = 32
	buildInfoInline = 0x2 // header flag: version and modinfo follow inline
	// maxModInfo bounds the module information read (a program with
	// thousands of dependencies has some hundred KB).
	maxModInfo = 4 << 20
)

var errNoBuildInfo = errors.New("not a Go binary with build information (Go 1.18 or later)")

// filePlatform returns "goos/goarch" from the build information of the
// program at path.
func filePlatform(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return scanPlatform(f)
}

// scanPlatform returns "goos/goarch" from the first valid build
// information in r.
func scanPlatform(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		if err := skipTo(br, buildInfoMagic); err != nil {
			return "", errNoBuildInfo
		}
		mod, ok := readBuildInfo(br)
		if !ok {
			continue // not the header, or damaged: look further
		}
		if p, ok := modPlatform(mod); ok {
			return p, nil
		}
	}
}

// skipTo discards br's bytes up to the next occurrence of magic.
func skipTo(br *bufio.Reader, magic []byte) error {
	for {
		b, err := br.Peek(br.Size())
		if i := bytes.Index(b, magic); i >= 0 {
			_, _ = br.Discard(i)
			return nil
		}
		if err != nil {
			return err
		}
		_, _ = br.Discard(len(b) - len(magic) + 1)
	}
}

// readBuildInfo reads a build information header at br and returns its
// module information.
func readBuildInfo(br *bufio.Reader) (string, bool) {
	var h [buildInfoHeader]byte
	if _, err := io.ReadFull(br, h[:]); err != nil || !bytes.HasPrefix(h[:], buildInfoMagic) {
		return "", false
	}
	if ptr := h[14]; (ptr != 4 && ptr != 8) || h[15]&buildInfoInline == 0 {
		return "", false
	}
	if _, ok := readInfoString(br, 1<<10); !ok { // the Go version
		return "", false
	}
	return readInfoString(br, maxModInfo)
}

// readInfoString reads a uvarint length and that many bytes (at most max).
func readInfoString(br *bufio.Reader, max uint64) (string, bool) {
	n, err := binary.ReadUvarint(br)
	if err != nil || n > max {
		return "", false
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return "", false
	}
	return string(b), true
}

// modPlatform returns "goos/goarch" from the GOOS and GOARCH build
// settings of the module information mod.
func modPlatform(mod string) (string, bool) {
	var goos, goarch string
	for _, line := range strings.Split(mod, "\n") {
		kv, ok := strings.CutPrefix(line, "build\t")
		if !ok {
			continue
		}
		switch k, v, _ := strings.Cut(kv, "="); k {
		case "GOOS":
			goos = v
		case "GOARCH":
			goarch = v
		}
	}
	if goos == "" || goarch == "" {
		return "", false
	}
	return goos + "/" + goarch, true
}

// builtFor reports an error unless the program at path was built for
// platform.
func builtFor(path, platform string) error {
	got, err := filePlatform(path)
	if err != nil {
		return fmt.Errorf("built %s: %w", path, err)
	}
	if got != platform {
		return fmt.Errorf("built %s for %s, want %s", path, got, platform)
	}
	return nil
}
