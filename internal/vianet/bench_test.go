//go:build linux

package vianet_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/internal/netnstest"
	"github.com/spindle-go/spindle/internal/sshtest"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/ssh"
)

// The benchmarks of issue 13.7, side by side in one run on the netnstest
// hosts (docs/benchmarks.md "Via across network namespaces"):
//
//	go test -run '^$' -bench BenchmarkNetns -benchtime 1x ./internal/vianet
//
// Each runs its rounds itself, interleaving the variants round by round,
// and reports medians and ranges (b.ReportMetric) and a table (b.Log).
// VIANET_ROUNDS sets the rounds (default 10).

func rounds() int {
	var n int
	if _, err := fmt.Sscan(os.Getenv("VIANET_ROUNDS"), &n); err != nil || n <= 0 {
		return 10
	}
	return n
}

// stat is a median and a range.
type stat struct{ med, lo, hi float64 }

func stats(xs []float64) stat {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return stat{}
	}
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{m, s[0], s[len(s)-1]}
}

func (s stat) String() string { return fmt.Sprintf("%.3g (%.3g–%.3g)", s.med, s.lo, s.hi) }

// mitogen drives bench/mitogen/mitobench.py (the harness's Mitogen peer)
// for one target.
type mitogen struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

type mitoTarget struct {
	Via      string      `json:"via"`
	Python   string      `json:"python"`
	Host     string      `json:"host"`
	Port     int         `json:"port"`
	User     string      `json:"user"`
	Identity string      `json:"identity"`
	Through  *mitoTarget `json:"through,omitempty"`
}

func sshTarget(srv *sshtest.Server) *mitoTarget {
	return &mitoTarget{Via: "ssh", Python: "/usr/bin/python3", Host: srv.Host, Port: srv.Port, User: srv.User, Identity: srv.UserKey}
}

func startMitogen(b *testing.B, target *mitoTarget) *mitogen {
	b.Helper()
	if out, err := exec.Command("/usr/bin/python3", "-c", "import mitogen").CombinedOutput(); err != nil {
		if os.Getenv(sshtest.EnvRequire) == "1" {
			b.Fatalf("python3-mitogen: %v %s", err, out)
		}
		b.Skipf("python3-mitogen not installed: %s", out)
	}
	dir, err := filepath.Abs("../../bench/mitogen")
	if err != nil {
		b.Fatal(err)
	}
	arg, _ := json.Marshal(target)
	m := &mitogen{cmd: exec.Command("/usr/bin/python3", filepath.Join(dir, "mitobench.py"), string(arg))}
	m.cmd.Dir = dir
	m.cmd.Stderr = os.Stderr
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	m.in, _ = m.cmd.StdinPipe()
	out, _ := m.cmd.StdoutPipe()
	m.out = bufio.NewReader(out)
	if err := m.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_, _ = io.WriteString(m.in, `{"op":"close"}`+"\n")
		_ = m.in.Close()
		done := make(chan struct{})
		go func() { _ = m.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = m.cmd.Process.Kill()
			<-done
		}
	})
	return m
}

// do runs one op; times come back in seconds.
func (m *mitogen) do(b *testing.B, op string, n int) (samples []float64, seconds float64) {
	b.Helper()
	req, _ := json.Marshal(map[string]any{"op": op, "n": n})
	if _, err := m.in.Write(append(req, '\n')); err != nil {
		b.Fatal(err)
	}
	line, err := m.out.ReadBytes('\n')
	if err != nil {
		b.Fatalf("mitobench %s: %v", op, err)
	}
	var a struct {
		Samples []float64 `json:"samples"`
		Seconds float64   `json:"seconds"`
		Error   string    `json:"error"`
	}
	if err := json.Unmarshal(line, &a); err != nil || a.Error != "" {
		b.Fatalf("mitobench %s: %v %s", op, err, a.Error)
	}
	return a.Samples, a.Seconds
}

// firstReply starts a context with start and waits for the first answer
// of an actor in it: what a user waits for.
func firstReply(b *testing.B, root *actors.Node, start func(context.Context) (spawn.Child, error)) (time.Duration, spawn.Child) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	c, err := start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	pid, err := c.Spawn(ctx, "echo", "")
	if err == nil {
		_, err = actors.Request[*Pong](ctx, root, pid, &Ping{N: 1})
	}
	if err != nil {
		b.Fatal(err)
	}
	return time.Since(t0), c
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// BenchmarkNetns_SpawnAndRoundTrip: the start of a context through a warm
// intermediate against a direct start, and the round trip to it, for
// Spindle and for Mitogen (via=), on the same namespaces, interleaved
// round by round:
//
//   - local direct: spawn.Local at the root; local via: spawn.Local through
//     a warm local intermediate (the via service's own cost);
//   - ssh direct: root -> bastion (one veth away, warm cache); ssh via:
//     root -> bastion (warm context) -> inner (one veth away from the
//     bastion, warm cache): the same distance from the starter, one hop more;
//   - Mitogen: router.ssh to the bastion, and router.ssh(via=bastion) to the
//     inner host, until the first call returns (mitobench.py "spawn").
//
// Round trips: a 1-field request to an echo actor on the bastion (direct)
// and on the inner host (through the bastion); Mitogen's call(echo, 1).
func BenchmarkNetns_SpawnAndRoundTrip(b *testing.B) {
	n := netnstest.New(b, netnstest.Config{})
	root := newRoot(b, 0, 0)
	ctx := testCtx(b, 10*time.Minute)
	local, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "local-hop", Grace: time.Second}})
	if err != nil {
		b.Fatal(err)
	}
	bastion, err := ssh.Start(ctx, root, sshOpts(n.Bastion.SSH, "bastion"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { shutdown(bastion); shutdown(local) })
	viaOpts := sshOpts(n.Inner.SSH, "inner")
	viaOpts.Via = bastion
	variants := []struct {
		name  string
		start func(context.Context) (spawn.Child, error)
	}{
		{"local direct", func(ctx context.Context) (spawn.Child, error) {
			return spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "l", Grace: time.Second}})
		}},
		{"local via a warm local hop", func(ctx context.Context) (spawn.Child, error) {
			return spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "lv", Grace: time.Second, Via: local}})
		}},
		{"ssh direct (root -> bastion)", func(ctx context.Context) (spawn.Child, error) {
			return ssh.Start(ctx, root, sshOpts(n.Bastion.SSH, "sd"))
		}},
		{"ssh via a warm bastion (-> inner)", func(ctx context.Context) (spawn.Child, error) {
			return ssh.Start(ctx, root, viaOpts)
		}},
	}
	mitoDirect := startMitogen(b, sshTarget(n.Bastion.SSH))
	innerT := sshTarget(n.Inner.SSH)
	innerT.Through = sshTarget(n.Bastion.SSH)
	mitoVia := startMitogen(b, innerT)
	// Warm-up: every cache filled, every intermediate up.
	for _, v := range variants {
		_, c := firstReply(b, root, v.start)
		shutdown(c)
	}
	mitoDirect.do(b, "spawn", 1)
	mitoVia.do(b, "spawn", 1)

	R := rounds()
	spawnMS := map[string][]float64{}
	b.ResetTimer()
	for r := 0; r < R; r++ {
		for _, v := range variants {
			d, c := firstReply(b, root, v.start)
			spawnMS[v.name] = append(spawnMS[v.name], ms(d))
			shutdown(c)
		}
		s, _ := mitoDirect.do(b, "spawn", 1)
		spawnMS["Mitogen ssh direct"] = append(spawnMS["Mitogen ssh direct"], s[0]*1e3)
		s, _ = mitoVia.do(b, "spawn", 1)
		spawnMS["Mitogen ssh via= bastion"] = append(spawnMS["Mitogen ssh via= bastion"], s[0]*1e3)
	}
	b.StopTimer()

	// Round trips: medians per round of 500 requests, R rounds, interleaved.
	inner, err := ssh.Start(ctx, root, viaOpts)
	if err != nil {
		b.Fatal(err)
	}
	defer shutdown(inner)
	echoB, err := bastion.Spawn(ctx, "echo", "")
	if err != nil {
		b.Fatal(err)
	}
	echoI, err := inner.Spawn(ctx, "echo", "")
	if err != nil {
		b.Fatal(err)
	}
	mitoDirect.do(b, "open", 0)
	mitoVia.do(b, "open", 0)
	const per = 500
	rttUS := map[string][]float64{}
	rtt := func(pid *actor.PID) float64 {
		samples := make([]float64, per)
		for i := range samples {
			t0 := time.Now()
			if _, err := actors.Request[*Pong](ctx, root, pid, &Ping{N: i}); err != nil {
				b.Fatal(err)
			}
			samples[i] = us(time.Since(t0))
		}
		return stats(samples).med
	}
	for r := 0; r < R; r++ {
		rttUS["Spindle direct (bastion)"] = append(rttUS["Spindle direct (bastion)"], rtt(echoB))
		rttUS["Spindle via bastion (inner)"] = append(rttUS["Spindle via bastion (inner)"], rtt(echoI))
		s, _ := mitoDirect.do(b, "rtt", per)
		rttUS["Mitogen direct (bastion)"] = append(rttUS["Mitogen direct (bastion)"], stats(s).med*1e6)
		s, _ = mitoVia.do(b, "rtt", per)
		rttUS["Mitogen via= bastion (inner)"] = append(rttUS["Mitogen via= bastion (inner)"], stats(s).med*1e6)
	}

	var tab strings.Builder
	fmt.Fprintf(&tab, "\nspawn until the first reply, ms, median (range) of %d rounds:\n", R)
	for _, k := range []string{"local direct", "local via a warm local hop", "ssh direct (root -> bastion)",
		"ssh via a warm bastion (-> inner)", "Mitogen ssh direct", "Mitogen ssh via= bastion"} {
		fmt.Fprintf(&tab, "| %s | %v |\n", k, stats(spawnMS[k]))
	}
	ratio := func(a, b []float64) float64 { return stats(a).med / stats(b).med }
	fmt.Fprintf(&tab, "ratios of medians: local via/direct %.2f, ssh via/direct %.2f, Mitogen via/direct %.2f, Spindle ssh via / Mitogen via %.2f\n",
		ratio(spawnMS["local via a warm local hop"], spawnMS["local direct"]),
		ratio(spawnMS["ssh via a warm bastion (-> inner)"], spawnMS["ssh direct (root -> bastion)"]),
		ratio(spawnMS["Mitogen ssh via= bastion"], spawnMS["Mitogen ssh direct"]),
		ratio(spawnMS["ssh via a warm bastion (-> inner)"], spawnMS["Mitogen ssh via= bastion"]))
	fmt.Fprintf(&tab, "round trip, us, median over %d rounds of the median of %d requests (range of the round medians):\n", R, per)
	for _, k := range []string{"Spindle direct (bastion)", "Spindle via bastion (inner)", "Mitogen direct (bastion)", "Mitogen via= bastion (inner)"} {
		fmt.Fprintf(&tab, "| %s | %v |\n", k, stats(rttUS[k]))
	}
	fmt.Fprintf(&tab, "ratios of medians: Spindle via/direct %.2f, Mitogen via/direct %.2f, Mitogen via / Spindle via %.2f\n",
		ratio(rttUS["Spindle via bastion (inner)"], rttUS["Spindle direct (bastion)"]),
		ratio(rttUS["Mitogen via= bastion (inner)"], rttUS["Mitogen direct (bastion)"]),
		ratio(rttUS["Mitogen via= bastion (inner)"], rttUS["Spindle via bastion (inner)"]))
	b.Log(tab.String())
	b.ReportMetric(stats(spawnMS["ssh via a warm bastion (-> inner)"]).med, "via-spawn-ms")
	b.ReportMetric(stats(spawnMS["ssh direct (root -> bastion)"]).med, "direct-spawn-ms")
	b.ReportMetric(stats(spawnMS["Mitogen ssh via= bastion"]).med, "mitogen-via-spawn-ms")
	b.ReportMetric(stats(rttUS["Spindle via bastion (inner)"]).med, "via-rtt-us")
	b.ReportMetric(stats(rttUS["Mitogen via= bastion (inner)"]).med, "mitogen-via-rtt-us")
}

// BenchmarkNetns_LinkBytes: 10 contexts started at once on the inner host
// through one bastion, cold (fresh caches on both hosts), then warm (the
// same hosts again, after the first 10 are shut down); the bytes that
// cross each link, counted on the veth pairs (Ethernet frames: SSH, TCP,
// IP included) and, for root <-> bastion, by the root's link counters
// (Node.LinkStats: Spindle frames) and the bootstrap's uploads. Then the
// same for Mitogen's via= (10 contexts at once behind its bastion, cold,
// then warm), on a fresh pair of hosts. R rounds, each on fresh hosts.
func BenchmarkNetns_LinkBytes(b *testing.B) {
	const N = 10
	R := min(rounds(), 5)
	type sample struct{ rootBastion, bastionInner, frames, uploads, uploaded float64 }
	var got = map[string][]sample{}
	for r := 0; r < R; r++ {
		n := netnstest.New(b, netnstest.Config{})
		root := newRoot(b, 0, 0)
		ctx := testCtx(b, 10*time.Minute)
		rb0 := n.Bastion.LinkBytes(b)
		bastion, err := ssh.Start(ctx, root, sshOpts(n.Bastion.SSH, "bastion"))
		if err != nil {
			b.Fatal(err)
		}
		got["bastion (cold)"] = append(got["bastion (cold)"], sample{
			rootBastion: float64(n.Bastion.LinkBytes(b) - rb0), uploads: 1, uploaded: float64(bastion.Info().Boot.Uploaded)})
		for _, phase := range []string{"cold", "warm"} {
			rb, bi, fr := n.Bastion.LinkBytes(b), n.Inner.LinkBytes(b), rootLinkBytes(root, bastion.ID())
			cs := startN(b, ctx, root, n, bastion, N)
			up, upBytes := 0, 0
			for _, c := range cs {
				if !c.Info().Boot.CacheHit {
					up++
					upBytes += int(c.Info().Boot.Uploaded)
				}
			}
			got[phase] = append(got[phase], sample{
				rootBastion: float64(n.Bastion.LinkBytes(b) - rb), bastionInner: float64(n.Inner.LinkBytes(b) - bi),
				frames: float64(rootLinkBytes(root, bastion.ID()) - fr), uploads: float64(up), uploaded: float64(upBytes)})
			for _, c := range cs {
				shutdown(c)
			}
		}
		shutdown(bastion)

		m := netnstest.New(b, netnstest.Config{})
		t := sshTarget(m.Inner.SSH)
		t.Through = sshTarget(m.Bastion.SSH)
		mito := startMitogen(b, t)
		for _, phase := range []string{"Mitogen cold", "Mitogen warm"} {
			rb, bi := m.Bastion.LinkBytes(b), m.Inner.LinkBytes(b)
			mito.do(b, "spawn_batch", N)
			got[phase] = append(got[phase], sample{rootBastion: float64(m.Bastion.LinkBytes(b) - rb), bastionInner: float64(m.Inner.LinkBytes(b) - bi)})
		}
	}
	var tab strings.Builder
	fmt.Fprintf(&tab, "\nbytes per phase, median (range) of %d rounds, %d contexts behind one bastion, started at once:\n", R, N)
	fmt.Fprintln(&tab, "| phase | root <-> bastion (veth) | of which Spindle frames (LinkStats) | bastion <-> inner (veth) | uploads | bytes uploaded |")
	for _, k := range []string{"bastion (cold)", "cold", "warm", "Mitogen cold", "Mitogen warm"} {
		col := func(f func(sample) float64) stat {
			var xs []float64
			for _, s := range got[k] {
				xs = append(xs, f(s))
			}
			return stats(xs)
		}
		fmt.Fprintf(&tab, "| %s | %v | %v | %v | %v | %v |\n", k,
			col(func(s sample) float64 { return s.rootBastion }), col(func(s sample) float64 { return s.frames }),
			col(func(s sample) float64 { return s.bastionInner }), col(func(s sample) float64 { return s.uploads }),
			col(func(s sample) float64 { return s.uploaded }))
	}
	b.Log(tab.String())
}

// startN starts n SSH contexts on the inner host through bastion at once,
// each answering one request.
func startN(b *testing.B, ctx context.Context, root *actors.Node, n *netnstest.Net, bastion spawn.Child, k int) []*ssh.Context {
	b.Helper()
	cs := make([]*ssh.Context, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := sshOpts(n.Inner.SSH, fmt.Sprintf("inner-%d", i))
			o.Via = bastion
			if cs[i], errs[i] = ssh.Start(ctx, root, o); errs[i] != nil {
				return
			}
			pid, err := cs[i].Spawn(ctx, "echo", "")
			if err == nil {
				_, err = actors.Request[*Pong](ctx, root, pid, &Ping{})
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	return cs
}

// rootLinkBytes returns the bytes both ways on the root's link to id.
func rootLinkBytes(root *actors.Node, id uint32) uint64 {
	for _, s := range root.LinkStats() {
		if s.Peer == id {
			return s.BytesIn + s.BytesOut
		}
	}
	return 0
}
