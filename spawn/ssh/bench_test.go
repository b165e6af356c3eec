package ssh_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/ssh"
)

// BenchmarkSSHSpawnWarm measures starting an SSH context whose binary is
// cached on the host (dial, authenticate, bootstrap, handshake), spawning
// an actor in it and getting its first answer.
func BenchmarkSSHSpawnWarm(b *testing.B) {
	srv, _ := sshServer(b, sshtest.Config{})
	root := newRoot(b, nil)
	opts := sshOpts(srv, "warm")
	benchSpawn(b, root, opts, nil) // the first start caches the binary
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		samples = append(samples, benchSpawn(b, root, opts, func(c *ssh.Context) {
			if !c.Info().Boot.CacheHit {
				b.Fatal("warm start uploaded the binary")
			}
		}))
	}
	b.StopTimer()
	reportLatencies(b, samples, "ms", time.Millisecond)
}

// BenchmarkSSHSpawnCold is the same with an empty cache each time: the
// binary is uploaded (zstd), verified and installed first. Its compressed
// form is made once per process, before the timer starts.
func BenchmarkSSHSpawnCold(b *testing.B) {
	srv, _ := sshServer(b, sshtest.Config{})
	root := newRoot(b, nil)
	opts := sshOpts(srv, "cold")
	var uploaded int64
	opts.CacheDirs = []string{filepath.Join(b.TempDir(), "warmup")}
	benchSpawn(b, root, opts, nil)
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		opts.CacheDirs = []string{filepath.Join(b.TempDir(), fmt.Sprint("c", i))}
		b.StartTimer()
		samples = append(samples, benchSpawn(b, root, opts, func(c *ssh.Context) {
			if c.Info().Boot.CacheHit {
				b.Fatal("cold start found the binary cached")
			}
			uploaded = c.Info().Boot.Uploaded
		}))
	}
	b.StopTimer()
	reportLatencies(b, samples, "ms", time.Millisecond)
	b.ReportMetric(float64(uploaded)/(1<<20), "MiB-sent")
}

// benchSpawn starts one context, gets a first answer and returns the time
// that took; the shutdown is not timed.
func benchSpawn(b *testing.B, root *actors.Node, opts ssh.Options, check func(*ssh.Context)) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	c, err := ssh.Start(ctx, root, opts)
	if err != nil {
		b.Fatal(err)
	}
	pid, err := c.Spawn(ctx, "echo", "echo")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{}); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.StopTimer()
	if check != nil {
		check(c)
	}
	if err := c.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	return took
}

// BenchmarkSSHRoundTrip measures a request/response with a small message
// to an actor in an SSH context on this host.
func BenchmarkSSHRoundTrip(b *testing.B) {
	srv, _ := sshServer(b, sshtest.Config{})
	root := newRoot(b, nil)
	c := startSSH(b, root, sshOpts(srv, "rtt"))
	pid := echoIn(b, c)
	ctx := testCtx(b, 5*time.Minute)
	for i := 0; i < 1000; i++ { // warm up
		if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: i}); err != nil {
			b.Fatal(err)
		}
	}
	samples := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: i}); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	reportLatencies(b, samples, "us", time.Microsecond)
}

// BenchmarkSSHFloorCat is the floor under BenchmarkSSHRoundTrip: 64 bytes
// written to an SSH session running cat(1) on this host and read back,
// with x/crypto/ssh alone (no Spindle). It measures the client, sshd's
// relaying and the process wake-ups that every SSH round trip pays.
func BenchmarkSSHFloorCat(b *testing.B) {
	srv, _ := sshServer(b, sshtest.Config{})
	key, err := os.ReadFile(srv.UserKey)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := gossh.ParsePrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	client, err := gossh.Dial("tcp", srv.Addr, &gossh.ClientConfig{User: srv.User,
		Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)}, HostKeyCallback: gossh.InsecureIgnoreHostKey()})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	in, _ := sess.StdinPipe()
	out, _ := sess.StdoutPipe()
	if err := sess.Start("exec cat"); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64)
	pingPong := func() {
		if _, err := in.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(out, buf); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 1000; i++ {
		pingPong()
	}
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		pingPong()
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	reportLatencies(b, samples, "us", time.Microsecond)
}

// BenchmarkSSHOneWay measures one-way throughput of small messages to an
// actor in an SSH context, until it has processed all of them.
func BenchmarkSSHOneWay(b *testing.B) {
	srv, _ := sshServer(b, sshtest.Config{})
	root := newRoot(b, nil)
	c := startSSH(b, root, sshOpts(srv, "oneway"))
	ctx := testCtx(b, 5*time.Minute)
	pid, err := c.Spawn(ctx, "counter", "counter")
	if err != nil {
		b.Fatal(err)
	}
	msg := &Count{N: 1}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := root.Send(pid, msg); err != nil {
			b.Fatal(err)
		}
	}
	got, err := actors.Request[*Counted](ctx, root, pid, &GetCount{})
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if got.N != b.N {
		b.Fatalf("counted %d of %d", got.N, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkSSHPayload1MiB measures a round trip carrying 1 MiB each way
// over SSH (encrypted, flow-controlled by the channel window).
func BenchmarkSSHPayload1MiB(b *testing.B) {
	srv, _ := sshServer(b, sshtest.Config{})
	root := newRoot(b, nil)
	c := startSSH(b, root, sshOpts(srv, "bulk"))
	pid := echoIn(b, c)
	ctx := testCtx(b, 5*time.Minute)
	payload := make([]byte, 1<<20)
	b.SetBytes(2 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pong, err := actors.Request[*Pong](ctx, root, pid, &Ping{Payload: payload})
		if err != nil {
			b.Fatal(err)
		}
		if len(pong.Payload) != len(payload) {
			b.Fatal("short payload")
		}
	}
}

// BenchmarkSSHEncodeSelf measures compressing this program with zstd, the
// one-time cost of the first cold start in a process.
func BenchmarkSSHEncodeSelf(b *testing.B) {
	self, err := spawn.Self()
	if err != nil {
		b.Fatal(err)
	}
	size, err := self.Size()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	for i := 0; i < b.N; i++ {
		fresh := spawn.NewBinary(self.Path(), "")
		if err := ssh.EncodeForTest(fresh, "zstd"); err != nil {
			b.Fatal(err)
		}
	}
}
