package spawn

import (
	"runtime"
	"strings"
	"testing"

	"github.com/spindle-go/spindle/spawn/internal/boot"
)

// TestBinariesFor_PlatformChoice: the caller's binaries are offered for
// every platform (they win over the intermediate's own program, as at the
// root), the origin's own program only for another platform than the
// intermediate's; a digest held here is used without a fetch.
func TestBinariesFor_PlatformChoice(t *testing.T) {
	mine := runtime.GOOS + "/" + runtime.GOARCH
	other := "linux/riscv64"
	if mine == other {
		other = "linux/amd64"
	}
	held := NewBinary("/held", mine)
	d := func(c string) string { return strings.Repeat(c, 64) }
	s := &binStore{have: map[string]*boot.Binary{d("c"): held}}
	got := s.binariesFor([]viaBinary{
		{Platform: mine, Digest: d("a"), Size: 1, Own: true},
		{Platform: mine, Digest: d("b"), Size: 1},            // the origin's program, our platform: ours serves
		{Platform: other, Digest: d("e"), Size: 1},           // the origin's program, another platform
		{Platform: mine, Digest: d("c"), Size: 1, Own: true}, // held here
	})
	var desc []string
	for _, b := range got {
		if b == held {
			desc = append(desc, "held")
			continue
		}
		dg, _ := b.Digest()
		p, _ := b.Platform()
		desc = append(desc, p+"="+dg[:1])
	}
	want := []string{mine + "=a", other + "=e", "held"}
	if strings.Join(desc, " ") != strings.Join(want, " ") {
		t.Fatalf("offered %v, want %v (the last one held)", desc, want)
	}
}
