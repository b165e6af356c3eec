// Command childmem measures what a local child context costs: its memory
// (PSS, USS, RSS from /proc/PID/smaps_rollup) and its spawn to first reply
// against a fork/exec of the same binary to its first byte (the harness's
// floor). docs/benchmarks.md, "Child memory and spawn time (issue 14)",
// was measured with it:
//
//	go build -o /tmp/childmem ./childmem && go build -o /tmp/child ./child
//	/tmp/childmem -exe /tmp/child -n 10            # memory: child 0 alone, then all 10 alive
//	/tmp/childmem -exe /tmp/childmem -n 10         # the same, children of the root's own binary
//	/tmp/childmem -exe /tmp/child -spawn 50        # 50 floor/spindle pairs, interleaved
//
// The root registers the harness's workload types; a child of another
// program (-kind worker for examples/quickstart) needs only its kind.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/bench/internal/workload"
	"github.com/spindle-go/spindle/spawn"
)

// rollup reads /proc/PID/smaps_rollup, in KiB by field.
func rollup(pid int) map[string]float64 {
	out := map[string]float64{}
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err == nil {
			out[k] = kb
		}
	}
	return out
}

// smaps prints pid's mappings that have a PSS, largest first.
func smaps(pid int) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return
	}
	defer f.Close()
	type m struct {
		name                 string
		size, rss, pss, anon float64
	}
	var ms []*m
	var cur *m
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fs := strings.Fields(line)
		if len(fs) >= 5 && strings.Contains(fs[0], "-") && len(fs[1]) == 4 {
			name := "[anon]"
			if len(fs) >= 6 {
				name = fs[5]
			}
			cur = &m{name: fs[1] + " " + name + " " + fs[0]}
			ms = append(ms, cur)
			continue
		}
		if cur == nil || len(fs) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(fs[1], 64)
		switch fs[0] {
		case "Size:":
			cur.size = v
		case "Rss:":
			cur.rss = v
		case "Pss:":
			cur.pss = v
		case "Anonymous:":
			cur.anon = v
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].pss > ms[j].pss })
	for _, x := range ms {
		if x.pss > 0 {
			fmt.Printf("  %8.0f size %6.0f rss %6.0f pss %6.0f anon  %s\n", x.size, x.rss, x.pss, x.anon, x.name)
		}
	}
}

func main() {
	exe := flag.String("exe", "", "the child binary (its main calls spawn.Main)")
	n := flag.Int("n", 10, "children started, one after the other")
	kind := flag.String("kind", "echo", "actor kind to spawn in each ('' none)")
	detail := flag.Bool("smaps", false, "print child 0's mappings by PSS")
	wait := flag.Duration("wait", 50*time.Millisecond, "how long each child settles before it is measured")
	env := flag.String("env", "", "extra environment of the children: K=V,K=V")
	spawns := flag.Int("spawn", 0, "time this many floor/spindle spawn pairs instead of measuring memory")
	flag.Parse()
	spawn.Main(workload.Setup)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	root, err := actors.NewNode(actors.Config{Name: "childmem", Setup: workload.Setup, Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, "childmem:", err)
		os.Exit(1)
	}
	ctx := context.Background()
	var envs []string
	if *env != "" {
		envs = strings.Split(*env, ",")
	}
	if *spawns > 0 {
		timeSpawns(ctx, root, *exe, *spawns, envs)
		return
	}
	var pids []int
	var alone map[string]float64
	var kids []spawn.Child
	for i := 0; i < *n; i++ {
		c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: fmt.Sprint("m", i), Env: envs}, Executable: *exe})
		if err != nil {
			panic(err)
		}
		kids = append(kids, c)
		if *kind != "" {
			pid, err := c.Spawn(ctx, *kind, *kind)
			if err != nil {
				panic(err)
			}
			if *kind == "echo" {
				if _, err := actors.Request[*workload.Pong](ctx, root, pid, &workload.Ping{N: 1}); err != nil {
					panic(err)
				}
			}
		}
		time.Sleep(*wait)
		p := c.Info().Pid
		pids = append(pids, p)
		if i == 0 {
			alone = rollup(p)
			if *detail {
				smaps(p)
			}
		}
	}
	var pss, uss, rss float64
	for _, p := range pids {
		r := rollup(p)
		pss += r["Pss"]
		rss += r["Rss"]
		uss += r["Private_Clean"] + r["Private_Dirty"]
	}
	k := float64(len(pids))
	fmt.Printf("alone: rss %.0f pss %.0f uss %.0f anon %.0f | %d alive: pss %.0f uss %.0f rss %.0f (KiB)\n",
		alone["Rss"], alone["Pss"], alone["Private_Clean"]+alone["Private_Dirty"], alone["Pss_Anon"], len(pids), pss/k, uss/k, rss/k)
	for _, c := range kids {
		_ = c.Shutdown(ctx)
	}
}

// floorStart is the harness's floor: fork/exec of exe until its first byte.
func floorStart(exe string) time.Duration {
	r, w, _ := os.Pipe()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), workload.RoleEnv+"="+workload.RoleFirstByte)
	cmd.Stdout = w
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	w.Close()
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		panic(err)
	}
	d := time.Since(t0)
	r.Close()
	cmd.Wait()
	return d
}

// spindleStart starts exe as a child context, spawns an echo actor and
// has its first answer (the harness's spawn workload); the stop is untimed.
func spindleStart(ctx context.Context, root *actors.Node, exe string, envs []string) time.Duration {
	t0 := time.Now()
	c, err := spawn.Local(ctx, root, spawn.Options{Common: spawn.Common{Name: "s", Env: envs, Grace: time.Second}, Executable: exe})
	if err != nil {
		panic(err)
	}
	pid, err := c.Spawn(ctx, "echo", "echo")
	if err != nil {
		panic(err)
	}
	if _, err := actors.Request[*workload.Pong](ctx, root, pid, &workload.Ping{N: 1}); err != nil {
		panic(err)
	}
	d := time.Since(t0)
	_ = c.Shutdown(ctx)
	return d
}

// med is the median of x.
func med(x []float64) float64 {
	y := append([]float64(nil), x...)
	sort.Float64s(y)
	return y[len(y)/2]
}

// timeSpawns alternates n floor and spindle starts of exe (after one
// warm-up each) and prints their medians.
func timeSpawns(ctx context.Context, root *actors.Node, exe string, n int, envs []string) {
	floorStart(exe)
	spindleStart(ctx, root, exe, envs)
	var f, s, r []float64
	for i := 0; i < n; i++ {
		a := floorStart(exe).Seconds() * 1e3
		b := spindleStart(ctx, root, exe, envs).Seconds() * 1e3
		f, s, r = append(f, a), append(s, b), append(r, b/a)
	}
	fmt.Printf("spawn n=%d floor p50 %.2f ms, spindle p50 %.2f ms, ratio of p50 %.3f, median pair ratio %.3f\n", n, med(f), med(s), med(s)/med(f), med(r))
}
