package actors_test

// A hostile child as a real process: this test binary, re-executed with
// hostileEnv set, plays a child that attacks its parent's memory with
// package wire alone, so that the parent's heap is measured without the
// attacker's buffers in it.

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/wire"
)

// hostileEnv selects the hostile child's attack.
const hostileEnv = "SPINDLE_TEST_HOSTILE"

func init() {
	if mode := os.Getenv(hostileEnv); mode != "" {
		os.Exit(hostileMain(mode))
	}
}

// hostileMain is the hostile child. In mode "chunkbomb" it takes 24 IDs,
// announces them, opens a 4 MiB chunked stream from each and never ends
// one, then forwards the log record "bomb done" and waits for EOF.
func hostileMain(mode string) int {
	if mode != "chunkbomb" {
		return 2
	}
	r := wire.NewReader(bufio.NewReader(os.Stdin), 1<<20)
	f, err := r.ReadFrame()
	if err != nil {
		return 2
	}
	hello, err := wire.ParseHello(f.Body())
	if err != nil {
		return 2
	}
	self, parent := hello.AssignedID, hello.ContextID
	spec := func(k wire.Kind, src uint32) wire.FrameSpec {
		return wire.FrameSpec{Kind: k, Dst: parent, Src: src, Auth: src}
	}
	send := func(s wire.FrameSpec, body any) bool {
		b, err := wire.Marshal(body)
		if err != nil {
			return false
		}
		_, err = os.Stdout.Write(wire.AppendFrame(nil, s, nil, b))
		return err == nil
	}
	if _, err := os.Stdout.Write(childHello(hello, "hostile")); err != nil {
		return 2
	}
	if !send(spec(wire.KindAllocateID, self), rawAllocRequest{ReplyID: "$a", Count: 24}) {
		return 3
	}
	first, ok := readBlock(r)
	if !ok {
		return 4
	}
	ids := make([]uint32, 24)
	for i := range ids {
		ids[i] = first + uint32(i)
	}
	if !send(spec(wire.KindAddRoute, self), rawRouteUpdate{IDs: ids, Names: make([]string, len(ids))}) {
		return 5
	}
	body := make([]byte, 4<<20)
	for _, id := range ids {
		whole := wire.AppendFrame(nil, spec(wire.KindUser, id), nil, body)
		chunks := wire.AppendChunks(nil, whole, 0)
		last := wire.HeaderSize + (len(whole)-1)%wire.DefaultChunkSize + 1
		if _, err := os.Stdout.Write(chunks[:len(chunks)-last]); err != nil {
			return 6
		}
	}
	if !send(spec(wire.KindForwardLog, self), rawLogRecord{Level: 0, Msg: "bomb done"}) {
		return 7
	}
	for {
		if _, err := r.ReadFrame(); err != nil {
			return 0
		}
	}
}

// readBlock reads frames until the answer to ALLOCATE_ID.
func readBlock(r *wire.Reader) (uint32, bool) {
	for {
		f, err := r.ReadFrame()
		if err != nil || f.Header().Kind() == wire.KindDead {
			return 0, false
		}
		if f.Header().Kind() != wire.KindUser {
			continue
		}
		e, err := wire.ParseEnvelope(f.Body())
		if err != nil {
			return 0, false
		}
		var b struct{ First, Count uint32 }
		if wire.Unmarshal(e.Payload, &b) != nil {
			return 0, false
		}
		return b.First, true
	}
}

// startHostile starts this binary as a hostile child of parent and
// attaches it; closing the link kills it.
func startHostile(t *testing.T, parent *actors.Node, mode string) *actors.ChildLink {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), hostileEnv+"="+mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	wait := func() { once.Do(func() { _ = cmd.Wait() }) }
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		wait()
	})
	tr := actors.Transport{R: stdout, W: stdin, C: closerFunc(func() error {
		_ = stdin.Close()
		return cmd.Process.Kill()
	})}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	l, err := parent.AttachChild(ctx, "hostile", tr)
	if err != nil {
		t.Fatalf("attach the hostile child process: %v", err)
	}
	return l
}

// TestQuota_ChunkBombFromProcess: a real child process opening 24
// unfinished 4 MiB chunked streams holds at most Quotas.ChunkBytes in the
// root (wire.ErrChunkQuota beyond), and nothing once it is gone.
func TestQuota_ChunkBombFromProcess(t *testing.T) {
	const limit = 16 << 20
	logs := newLogStore(t)
	root := newRoot(t, actors.Config{Setup: typeSetup, Logger: logs.logger(), Quotas: actors.Quotas{ChunkBytes: limit}})
	quota := subscribeQuota(t, root)
	before := heapInUse()
	link := startHostile(t, root, "chunkbomb")
	logs.wait(t, waitLong, `"bomb done"`, func(r logRec) bool { return r.msg == "bomb done" })
	ev := recv(t, quota, waitLong, "QuotaExceeded")
	if !errors.Is(ev.Err, wire.ErrChunkQuota) || ev.Link != link.ID {
		t.Fatalf("QuotaExceeded = %+v, want wire.ErrChunkQuota", ev)
	}
	assertHeapGrowth(t, before, limit+8<<20, "24 open 4 MiB streams from a child process")
	link.Close()
	<-link.Done()
	assertHeapGrowth(t, before, 4<<20, "after the child process is gone")
}
