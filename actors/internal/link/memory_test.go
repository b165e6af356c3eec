package link

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindle-go/spindle/wire"
)

// countHandler counts the frames a link hands it.
type countHandler struct{ n atomic.Int64 }

func (h *countHandler) HandleFrame(*Link, wire.Frame) error { h.n.Add(1); return nil }
func (h *countHandler) LinkDown(*Link, error)               {}

// heapAfterGC returns the live heap after two collections.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestLink_BurstMemoryReleased: a burst grows the sender's queues and the
// receiver's read buffer; once it has drained, both links give the memory
// back (heap after GC within a small bound of the state before the burst).
func TestLink_BurstMemoryReleased(t *testing.T) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) {
			ta, tb := ct.make(t)
			hb := &countHandler{}
			a := startLink(t, ta, Config{Local: 1, Peer: 2}, newFakeHandler())
			_ = startLink(t, tb, Config{Local: 2, Peer: 1}, hb)
			frame := frameOf(testKind, make([]byte, 100))
			const burst = 300_000 // ~37 MiB of frames, more than the queue limit
			before := heapAfterGC()
			for range burst {
				if err := a.Send(frame, Queued); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(waitLong)
			for hb.n.Load() < burst && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := hb.n.Load(); got < burst {
				t.Fatalf("received %d of %d frames", got, burst)
			}
			time.Sleep(10 * time.Millisecond) // the writer's last pass after the drain
			after := heapAfterGC()
			const bound = 2 << 20
			t.Logf("heap after GC: %d KiB before the burst, %d KiB after", before>>10, after>>10)
			if after > before+bound {
				t.Fatalf("heap after the burst grew by %d KiB, bound %d KiB", (after-before)>>10, bound>>10)
			}
		})
	}
}
