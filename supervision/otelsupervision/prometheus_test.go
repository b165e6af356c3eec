package otelsupervision_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors/otelmetrics"
	"github.com/spindle-go/spindle/supervision"
	"github.com/spindle-go/spindle/supervision/otelsupervision"
)

// TestPrometheus_SupervisionNames: a supervisor's restart, scraped over
// HTTP from otelmetrics' Prometheus handler next to the link
// instruments, shows under its Prometheus names with its labels.
func TestPrometheus_SupervisionNames(t *testing.T) {
	n := newNode(t)
	prom, err := otelmetrics.NewPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = prom.Shutdown(context.Background()) }()
	links, err := otelmetrics.Register(n, prom.MeterProvider)
	if err != nil {
		t.Fatal(err)
	}
	defer links.Unregister()
	sups, err := otelsupervision.Register(n, prom.MeterProvider)
	if err != nil {
		t.Fatal(err)
	}
	defer sups.Unregister()
	srv := httptest.NewServer(prom)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	sup, err := supervision.Start(ctx, n, supervision.Config{Name: "pool", Children: []supervision.ContextSpec{{Name: "worker", Start: local}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Stop(ctx)
	if err := sup.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	ci, _ := sup.Child("worker")
	if err := ci.Context.Kill(); err != nil {
		t.Fatal(err)
	}
	var body string
	for deadline := time.Now().Add(waitLong); !strings.Contains(body, "spindle_supervision_restarts_total{"); {
		if time.Now().After(deadline) {
			t.Fatalf("no restart in the scrape:\n%s", body)
		}
		time.Sleep(5 * time.Millisecond)
		body = get(t, srv.URL)
	}
	for _, want := range []string{
		"# TYPE spindle_supervision_starts_total counter", "# TYPE spindle_supervision_restarts_total counter",
		"# TYPE spindle_supervision_failures_total counter", `error_type="exit"`,
		`spindle_supervisor_name="pool"`, `spindle_child_name="worker"`, "# TYPE spindle_link_frames_total counter",
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("no %s in the scrape:\n%s", want, body)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	return string(b)
}

// Example counts a supervisor's events and serves them, with the link
// instruments, on a Prometheus endpoint.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node, _ := newExampleNode()
	defer node.Shutdown(ctx)

	prom, _ := otelmetrics.NewPrometheus()
	defer prom.Shutdown(ctx)
	links, _ := otelmetrics.Register(node, prom.MeterProvider)
	defer links.Unregister()
	sups, _ := otelsupervision.Register(node, prom.MeterProvider)
	defer sups.Unregister()
	srv := httptest.NewServer(prom) // an application: mux.Handle("/metrics", prom)
	defer srv.Close()

	sup, _ := supervision.Start(ctx, node, supervision.Config{Name: "pool",
		Children: []supervision.ContextSpec{{Name: "worker", Start: local}}})
	defer sup.Stop(ctx)
	_ = sup.WaitUp(ctx)
	for {
		resp, err := http.Get(srv.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "spindle_supervision_starts_total{") {
				fmt.Println(line[:strings.Index(line, "{")], line[strings.LastIndex(line, " ")+1:])
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Output:
	// spindle_supervision_starts_total 1
}
