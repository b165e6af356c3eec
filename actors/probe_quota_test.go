package actors_test

// Acceptance probe of issue 11 ("No quotas": ALLOCATE_ID in a loop was
// granted all 2^32 IDs in 5.5 s, and every later spawn anywhere in the
// tree failed "IDs exhausted", also after that child died), against the
// default quotas.

import (
	"errors"
	"testing"

	"github.com/spindle-go/spindle/actors"
)

// TestProbe_AllocateIDLoopDefaultQuota: a child asking for blocks of the
// largest size in a loop gets at most DefaultGrantedIDs (65,536) IDs with
// the default Quotas, the rest refused (ErrIDQuota); spawns elsewhere in
// the tree still work while it lives and after it died.
func TestProbe_AllocateIDLoopDefaultQuota(t *testing.T) {
	root := newRoot(t, actors.Config{Setup: typeSetup})
	quota := subscribeQuota(t, root)
	mid := attach(t, root, "mid", actors.Config{Setup: typeSetup})
	raw, link := attachRaw(t, root, "mallory")
	const blocks, size = 96, 1024 // within the default burst of 100 blocks
	granted, refused := allocAnswers(t, raw, blocks, size)
	t.Logf("a child asking for %d blocks of %d IDs was granted %d and refused %d", blocks, size, granted, refused)
	if granted*size > 65536 || refused != blocks-granted || refused == 0 {
		t.Fatalf("granted %d blocks of %d IDs (%d IDs), refused %d; want at most 65,536 IDs", granted, size, granted*size, refused)
	}
	ev := recv(t, quota, waitLong, "QuotaExceeded")
	if !errors.Is(ev.Err, actors.ErrIDQuota) || ev.Link != link.ID {
		t.Fatalf("QuotaExceeded = %+v, want ErrIDQuota on link %d", ev, link.ID)
	}
	spawnsWork := func(when string) {
		t.Helper()
		attach(t, root, "child "+when, actors.Config{Setup: typeSetup})
		attach(t, mid.node, "grandchild "+when, actors.Config{Setup: typeSetup}) // takes an ID block through mid
	}
	spawnsWork("while the flooder lives")
	_ = raw.conn.Close()
	<-link.Done()
	spawnsWork("after the flooder died")
	// A new child under the root has its own budget again.
	again, _ := attachRaw(t, root, "mallory-2")
	if g, _ := allocAnswers(t, again, 1, size); g != 1 {
		t.Fatal("a new child is refused its first ID block")
	}
}
