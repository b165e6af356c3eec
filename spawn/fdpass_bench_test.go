package spawn_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/platform"
	"github.com/spindle-go/spindle/spawn"
)

// Descriptors passed per second (issue 5): messages that each carry k
// descriptors, from the test process to an actor in a local child joined
// by a socketpair, which closes them.

type (
	// FDs carries descriptors to the "fdsink" actor, which closes them.
	FDs struct{ Files []*os.File }
	// FDsCounted answers GetCount at the "fdsink" actor.
	FDsCounted struct{ Msgs, FDs int }
)

// fdBenchSetup registers the types and the "fdsink" kind of the
// descriptor benchmarks.
func fdBenchSetup(n *actors.Node) error {
	if err := actors.RegisterType[FDs](n, "test.FDs"); err != nil {
		return err
	}
	if err := actors.RegisterType[FDsCounted](n, "test.FDsCounted"); err != nil {
		return err
	}
	n.RegisterKind("fdsink", actor.PropsFromProducer(func() actor.Actor { return &fdSink{} }))
	return nil
}

// fdSink closes the descriptors it is sent and counts them.
type fdSink struct{ msgs, fds int }

func (s *fdSink) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *FDs:
		s.msgs++
		for _, f := range m.Files {
			if f != nil {
				s.fds++
				_ = f.Close()
			}
		}
	case *GetCount:
		c.Respond(&FDsCounted{Msgs: s.msgs, FDs: s.fds})
	}
}

// fdsInFlight bounds the descriptors sent and not yet known to be closed:
// every fdsInFlight/k messages the sender waits for the sink's count, so
// neither process runs out of descriptors (nor the kernel's in-flight
// allowance) however far the sender gets ahead.
const fdsInFlight = 1024

// BenchmarkFDPass sends messages of k descriptors each (duplicates of one
// /dev/null file: Spindle takes a duplicate of each value at send time) to
// an actor in a local child over spawn.SocketPair, until the child has
// closed them all. It reports descriptors and messages per second.
func BenchmarkFDPass(b *testing.B) {
	for _, k := range []int{1, 16} {
		b.Run(fmt.Sprintf("fds=%d", k), func(b *testing.B) {
			root := newRoot(b, nil)
			ctx := testCtx(b, 5*time.Minute)
			c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "fdbench", Grace: time.Second}, Link: spawn.SocketPair})
			if err != nil {
				b.Fatal(err)
			}
			pid, err := c.Spawn(ctx, "fdsink", "fdsink")
			if err != nil {
				b.Fatal(err)
			}
			devnull, err := os.Open(os.DevNull)
			if err != nil {
				b.Fatal(err)
			}
			defer devnull.Close()
			msg := &FDs{Files: make([]*os.File, k)}
			for i := range msg.Files {
				msg.Files[i] = devnull
			}
			window := max(1, fdsInFlight/k)
			check := func(want int) {
				got, err := actors.Request[*FDsCounted](ctx, root, pid, &GetCount{})
				if err != nil {
					b.Fatal(err)
				}
				if got.Msgs != want || got.FDs != want*k {
					b.Fatalf("sink counted %d messages and %d descriptors, want %d and %d", got.Msgs, got.FDs, want, want*k)
				}
			}
			for i := 0; i < window; i++ { // warm up
				if err := root.Send(pid, msg); err != nil {
					b.Fatal(err)
				}
			}
			check(window)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 1; i <= b.N; i++ {
				if err := root.Send(pid, msg); err != nil {
					b.Fatal(err)
				}
				if i%window == 0 || i == b.N {
					check(window + i)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N*k)/elapsed.Seconds(), "fds/s")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}

// BenchmarkFDPassFloor is the floor of BenchmarkFDPass: k descriptors per
// sendmsg over a socketpair inside this process, received by a second
// goroutine with recvmsg and closed, no framing, no actors, no second
// process. It shows what the SCM_RIGHTS system calls alone cost here.
func BenchmarkFDPassFloor(b *testing.B) {
	for _, k := range []int{1, 16} {
		b.Run(fmt.Sprintf("fds=%d", k), func(b *testing.B) {
			fd0, fd1, err := platform.Socketpair()
			if err != nil {
				b.Fatal(err)
			}
			defer syscall.Close(fd0)
			defer syscall.Close(fd1)
			devnull, err := os.Open(os.DevNull)
			if err != nil {
				b.Fatal(err)
			}
			defer devnull.Close()
			send := make([]int, k)
			for i := range send {
				send[i] = int(devnull.Fd())
			}
			rights := syscall.UnixRights(send...)
			window := max(1, fdsInFlight/k)
			got := make(chan error, 1)
			ack := make([]byte, 1)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			go func() { got <- recvRights(fd1, b.N, k) }()
			for i := 1; i <= b.N; i++ {
				if err := syscall.Sendmsg(fd0, []byte{1}, rights, nil, 0); err != nil {
					b.Fatal(err)
				}
				if i%window == 0 || i == b.N {
					// The receiver answers one byte per window.
					if _, err := syscall.Read(fd0, ack); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := <-got; err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N*k)/elapsed.Seconds(), "fds/s")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}

// recvRights receives n one-byte messages of k descriptors each on fd,
// closes the descriptors, and writes one byte back every window messages
// and after the last.
func recvRights(fd, n, k int) error {
	window := max(1, fdsInFlight/k)
	buf := make([]byte, 1)
	oob := make([]byte, syscall.CmsgSpace(k*4))
	for i := 1; i <= n; i++ {
		_, oobn, _, _, err := syscall.Recvmsg(fd, buf, oob, platform.MsgCmsgCloexec)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			return fmt.Errorf("control messages: %d, %v", len(msgs), err)
		}
		got, err := syscall.ParseUnixRights(&msgs[0])
		if err != nil || len(got) != k {
			return fmt.Errorf("got %d descriptors, want %d: %v", len(got), k, err)
		}
		for _, d := range got {
			_ = syscall.Close(d)
		}
		if i%window == 0 || i == n {
			if _, err := syscall.Write(fd, buf); err != nil {
				return err
			}
		}
	}
	return nil
}
