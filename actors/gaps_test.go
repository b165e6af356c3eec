package actors_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
)

// BlobReflective is Blob without a struct plan (a nested struct): its
// large []byte goes through the reflective encoder.
type BlobReflective struct {
	N     int
	Inner struct{ Data []byte }
}

// TestTransports_LargePayloadFromTheCallersSlice: messages whose large
// []byte the sender writes from the message itself (a planned and a
// reflective type, one chunk and several) arrive as they were when sent,
// over every kind of byte stream, though the sender overwrites each
// payload as soon as Send returns; and an echo that answers with the
// payload it received (which aliases the frame it came in) sends it back
// intact.
func TestTransports_LargePayloadFromTheCallersSlice(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			got := make(chan any, 16)
			cfg := actors.Config{Setup: setups(typeSetup, func(n *actors.Node) error {
				if err := actors.RegisterType[Blob](n, "test.Blob"); err != nil {
					return err
				}
				if err := actors.RegisterType[BlobReflective](n, "test.BlobReflective"); err != nil {
					return err
				}
				n.RegisterKind("blobs", actor.PropsFromFunc(func(c actor.Context) {
					switch m := c.Message().(type) {
					case *Blob:
						if m.N < 0 {
							c.Respond(&Blob{N: m.N, Data: m.Data})
							return
						}
						got <- m
					case *BlobReflective:
						got <- m
					}
				}))
				return nil
			})}
			root := newRoot(t, cfg)
			c := attachOver(t, root, "worker", cfg, tr.mk)
			pid := spawnRemote(t, root, c.link.ID, "blobs", "")
			sizes := []int{100 << 10, 1 << 20, 300<<10 + 7}
			for i, n := range sizes {
				data := blobData(n, byte(i))
				var msg any = &Blob{N: i, Data: data}
				if i%2 == 1 {
					r := &BlobReflective{N: i}
					r.Inner.Data = data
					msg = r
				}
				if err := root.Send(pid, msg); err != nil {
					t.Fatal(err)
				}
				clear(data) // the caller's slice, reused at once
			}
			for i, n := range sizes {
				var b []byte
				switch m := recv(t, got, waitLong, "blob").(type) {
				case *Blob:
					b = m.Data
				case *BlobReflective:
					b = m.Inner.Data
				}
				if !bytes.Equal(b, blobData(n, byte(i))) {
					t.Fatalf("message %d arrived changed (%d bytes)", i, len(b))
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			for i := range 3 {
				want := blobData(1<<20, byte(10+i))
				back, err := actors.Request[*Blob](ctx, root, pid, &Blob{N: -1, Data: bytes.Clone(want)})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(back.Data, want) {
					t.Fatalf("echo %d came back changed", i)
				}
			}
		})
	}
}
