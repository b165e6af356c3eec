package debug_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/debug"
	"github.com/spindle-go/spindle/actors/introspect"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/supervision"
)

// envScreenshot, when set, names the PNG file the browser test writes a
// screenshot of the page to (docs/debug-view.png:
// SPINDLE_DEBUG_SCREENSHOT=$PWD/docs/debug-view.png go test ./actors/debug -run TestBrowser).
const envScreenshot = "SPINDLE_DEBUG_SCREENSHOT"

// chromium finds Debian's chromium (or another Chrome); without one the
// test skips, or fails under SPINDLE_REQUIRE_INTEGRATION=1.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SPINDLE_REQUIRE_INTEGRATION") == "1" {
		t.Fatal("no chromium on PATH (apt-get install chromium), and SPINDLE_REQUIRE_INTEGRATION=1")
	}
	t.Skip("no chromium on PATH (apt-get install chromium)")
	return ""
}

// browserTree starts a tree of real processes under a new root: two
// workers under a supervisor, "mid" with "leaf" started through it, and
// a hostile child whose row is markup.
func browserTree(t *testing.T) (*actors.Node, *supervision.Supervisor, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: introspect.Setup,
		HeartbeatInterval: 200 * time.Millisecond, HeartbeatTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = root.Shutdown(ctx)
	})
	local := func(name string, via spawn.Hop, env ...string) spawn.Options {
		return spawn.Options{Common: spawn.Common{Name: name, Via: via, Env: env, Grace: time.Second}}
	}
	start := func(ctx context.Context, n *actors.Node, name string) (spawn.Child, error) {
		return spawn.Local(ctx, n, local(name, nil))
	}
	sup, err := supervision.Start(context.Background(), root, supervision.Config{Name: "workers",
		Children: []supervision.ContextSpec{
			{Name: "worker-1", Start: start}, {Name: "worker-2", Start: start},
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = sup.Stop(ctx)
	})
	if err := sup.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	mid, err := spawn.Local(ctx, root, local("mid", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := spawn.Local(ctx, root, local("leaf", mid)); err != nil {
		t.Fatal(err)
	}
	if _, err := spawn.Local(ctx, root, local("mallory", nil, envHostile+"=1")); err != nil {
		t.Fatal(err)
	}
	return root, sup, []string{"root", "worker-1", "worker-2", "mid", "leaf", hostileName}
}

// TestBrowser: the page in a real headless Chromium, over a tree of real
// processes: it shows every context (the hostile child's markup as text,
// running none of it); when a worker's process is killed, the page, never
// reloaded, shows its row dead and the IS_DEAD event, then the restarted
// worker with its restart count.
func TestBrowser(t *testing.T) {
	exe := chromium(t)
	root, sup, names := browserTree(t)
	view := debug.Handler(root, debug.Options{Interval: 250 * time.Millisecond, MaxClients: 1})
	t.Cleanup(func() { _ = view.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/spindle/", view)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	url := "http://" + ln.Addr().String() + "/debug/spindle/"

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1600, 640))...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("chromium %s: %v", exe, err)
	}
	within := func(d time.Duration) (context.Context, context.CancelFunc) { return context.WithTimeout(bctx, d) }
	poll := func(what, expr string) { pollIn(t, bctx, what, expr) }
	poll("every context shown", everyShown(names, "live"))
	ctx, cancel := within(20 * time.Second)
	safe, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__pwned === undefined &&
		document.querySelectorAll('#tree img, #tree script, #tree iframe, #tree b').length === 0 &&
		[...document.querySelectorAll('#tree svg')].every((s) => s.getAttribute('class') === 'spark')`))
	cancel()
	if err != nil || !safe {
		t.Fatalf("the hostile row's markup ran or was parsed: %v", err)
	}
	_, _ = chromedp.Run(bctx, chromedp.Evaluate[int](`window.__marker = 42`)) // gone if the page reloads

	w1, _ := sup.Child("worker-1")
	pid := w1.Context.Info().Pid
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	poll("the killed worker shown dead, with its IS_DEAD event", fmt.Sprintf(`(() => {
		const tr = document.querySelector('#tree tbody tr[data-id="%d"]');
		return window.__marker === 42 && tr !== null && tr.dataset.state === 'dead' &&
			document.querySelector('#events li[data-kind="down"][data-id="%d"]') !== null; })()`, w1.ID, w1.ID))
	poll("the restarted worker shown with its restart", `window.__marker === 42 &&
		[...document.querySelectorAll('#tree tbody tr')].some((tr) => tr.dataset.state === 'up' &&
			tr.dataset.restarts === '1' && tr.querySelector('td.name').textContent === 'worker-1')`)

	// A second page is over MaxClients (1): its stream is refused, and it
	// polls /tree.json instead.
	tab, closeTab := chromedp.NewContext(bctx)
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	pollIn(t, tab, "the second page, polling", everyShown(names, "polling"))
	closeTab()
	if s := view.Stats(); s.Refused == 0 || s.Clients != 1 {
		t.Fatalf("view stats %+v: want the second stream refused", s)
	}

	if path := os.Getenv(envScreenshot); path != "" {
		time.Sleep(5 * time.Second) // not an assertion: more RTT samples for the picture
		ctx, cancel := within(30 * time.Second)
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", path, len(png))
	}
}

// pollIn waits (up to 60 s) until the page of tab makes expr true.
func pollIn(t *testing.T, tab context.Context, what, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(0))); err != nil {
		body, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%s: %v; page:\n%s", what, err, body)
	}
}

// everyShown is a page predicate: every name has a row, and the page's
// connection says conn ("live": the stream; "polling").
func everyShown(names []string, conn string) string {
	js, _ := json.Marshal(names)
	return fmt.Sprintf(`(() => { const shown = [...document.querySelectorAll('#tree tbody td.name')]
		.map((e) => e.textContent); return %s.every((n) => shown.includes(n)) &&
		document.getElementById('conn').textContent === %q; })()`, js, conn)
}
