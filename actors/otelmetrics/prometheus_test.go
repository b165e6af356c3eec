package otelmetrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/spindle-go/spindle/actors/actorstest"
	"github.com/spindle-go/spindle/actors/otelmetrics"
)

// TestPrometheusEndpoint: the Prometheus handler, scraped over HTTP,
// shows every instrument of the root under its Prometheus name, with the
// peer's labels, and the count of a context that went down.
func TestPrometheusEndpoint(t *testing.T) {
	tr := actorstest.New(t, actorstest.Shape{Children: []actorstest.Shape{{Name: "worker"}, {Name: "doomed"}}})
	prom, err := otelmetrics.NewPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = prom.Shutdown(context.Background()) }()
	reg, err := otelmetrics.Register(tr.Root(), prom.MeterProvider)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	mux := http.NewServeMux()
	mux.Handle("/metrics", prom)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tr.Context("doomed").Cut()
	<-tr.Context("doomed").Link().Done()
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; {
		body = scrape(t, srv.URL+"/metrics")
		if strings.Contains(body, "spindle_context_down_total") || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, want := range []string{
		"# TYPE spindle_link_frames_total counter", "# TYPE spindle_link_io_bytes_total counter",
		"# TYPE spindle_link_dead_replies_total counter", "# TYPE spindle_link_dropped_total counter",
		"# TYPE spindle_link_queue_size_bytes gauge", "# TYPE spindle_link_queue_high_water_bytes gauge",
		"# TYPE spindle_link_chunks_in_flight gauge", "# TYPE spindle_link_rtt_seconds gauge",
		"# TYPE spindle_link_rtt_smoothed_seconds gauge", "# TYPE spindle_context_down_total counter",
		`spindle_peer_name="worker"`, `network_io_direction="transmit"`, `spindle_link_role="child"`,
		`spindle_dead_code="unreachable"`,
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("no %s in the scrape:\n%s", want, body)
		}
	}
}

// scrape GETs url and returns the body of a 200 answer.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s, %v", resp.Status, err)
	}
	return string(body)
}

// TestContextDownCounted: a child that goes down is counted once on
// spindle.context.down, with its dead code and cause.
func TestContextDownCounted(t *testing.T) {
	tr := actorstest.New(t, actorstest.Shape{Children: []actorstest.Shape{{Name: "worker"}}})
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	reg, err := otelmetrics.Register(tr.Root(), mp)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	tr.Context("worker").Cut()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m, ok := collect(t, r)["spindle.context.down"]; ok {
			s := m.Data.(metricdata.Sum[int64])
			if len(s.DataPoints) != 1 || s.DataPoints[0].Value != 1 || attr(s.DataPoints[0].Attributes, otelmetrics.AttrDeadCode) == "" ||
				attr(s.DataPoints[0].Attributes, otelmetrics.AttrDeadCause) == "" {
				t.Fatalf("spindle.context.down: %+v", s.DataPoints)
			}
			t.Logf("down: %v", s.DataPoints[0].Attributes.ToSlice())
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no spindle.context.down within 10s of the cut")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
