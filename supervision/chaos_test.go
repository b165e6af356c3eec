package supervision_test

import (
	"context"
	"errors"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/supervision"
	"go.uber.org/goleak"
)

// Under a steady request load, SIGKILL a random worker 50 times. Every
// request ends with its result or the IS_DEAD error before its deadline;
// the pool ends with every worker up; no zombie, goroutine or descriptor
// is left.
func TestChaos_KillWorkersUnderLoad(t *testing.T) {
	const kills, loaders, deadline = 50, 4, 5 * time.Second
	defer goleak.VerifyNone(t, leakOptions()...)
	fds := openFDs(t)
	rng := rand.New(rand.NewSource(1))

	func() {
		root := newRoot(t, actors.Config{})
		s, err := supervision.Start(t.Context(), root, supervision.Config{Name: "chaos", Children: workers(3, supervision.Permanent),
			Policy: supervision.Policy{MaxRestarts: 10 * kills, Period: time.Minute,
				Backoff: supervision.Backoff{Min: time.Millisecond, Max: 10 * time.Millisecond}}})
		if err != nil {
			t.Fatal(err)
		}
		waitUp(t, s, 30*time.Second)

		var ok, dead, late atomic.Int64
		var unexpected sync.Map
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := 0; g < loaders; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					ci, _ := s.Child("worker-" + string(rune('a'+(g+i)%3)))
					if !ci.Up {
						time.Sleep(time.Millisecond)
						continue
					}
					ctx, cancel := context.WithTimeout(context.Background(), deadline)
					start := time.Now()
					r, err := actors.Request[*Result](ctx, root, ci.PIDs["w"], &Job{N: i})
					took := time.Since(start)
					cancel()
					if took > deadline+500*time.Millisecond {
						late.Add(1)
					}
					switch {
					case err == nil && r.N == 2*i:
						ok.Add(1)
					case errors.Is(err, actors.ErrContextDead):
						dead.Add(1)
					default:
						unexpected.Store(strconv.Itoa(g)+"/"+strconv.Itoa(i), err)
					}
				}
			}(g)
		}

		for k := 0; k < kills; k++ {
			infos := waitUp(t, s, 30*time.Second)
			victim := infos[rng.Intn(len(infos))]
			if err := victim.Context.Kill(); err != nil {
				t.Fatalf("kill %d: %v", k, err)
			}
			// Wait for the supervisor to see this death, so that the next
			// kill hits a live process.
			for ci, _ := s.Child(victim.Name); ci.ID == victim.ID && ci.Up; ci, _ = s.Child(victim.Name) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(time.Duration(rng.Intn(20)) * time.Millisecond)
		}
		final := waitUp(t, s, 30*time.Second)
		close(stop)
		wg.Wait()

		restarts := 0
		for _, ci := range final {
			restarts += ci.Restarts
			if _, err := ask(t, root, ci.PIDs["w"], 1); err != nil {
				t.Fatalf("%s after the chaos: %v", ci.Name, err)
			}
		}
		if restarts != kills {
			t.Fatalf("%d restarts for %d kills", restarts, kills)
		}
		unexpected.Range(func(k, v any) bool {
			t.Errorf("request %v ended with neither a result nor IS_DEAD: %v", k, v)
			return true
		})
		if late.Load() > 0 {
			t.Errorf("%d requests outlived their deadline", late.Load())
		}
		if ok.Load() == 0 {
			t.Fatal("no request succeeded")
		}
		t.Logf("%d kills: %d answers, %d IS_DEAD, %d restarts", kills, ok.Load(), dead.Load(), restarts)
		if err := s.Stop(testCtx(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		_ = root.Shutdown(testCtx(t, 30*time.Second))
	}()

	if kids := childProcesses(t); len(kids) > 0 {
		t.Fatalf("child processes left (zombies or running): %v", kids)
	}
	if after := openFDs(t); after > fds {
		t.Fatalf("%d descriptors open before, %d after", fds, after)
	}
}

// childProcesses lists the processes whose parent is this one, with their
// state letter (Z for a zombie).
func childProcesses(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	me := strconv.Itoa(os.Getpid())
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so cut at ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == me {
			out = append(out, e.Name()+":"+f[0])
		}
	}
	return out
}
