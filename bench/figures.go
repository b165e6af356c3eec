package main

import "github.com/spindle-go/spindle/bench/internal/workload"

// Metric is one figure of the comparison. The order of metrics is the order
// of the JSON keys and of the table rows.
type Metric int

const (
	SpawnP50    Metric = iota // spawn one context to its first reply, p50
	Spawn10                   // spawn ten contexts at once until all have replied
	RTTP50                    // request round trip of a small message, p50
	RTTP99                    // the same, p99
	OneWay                    // one-way small messages, throughput
	Bulk                      // round trip carrying 1 MiB each way, throughput
	PingPongP50               // actor-to-actor ping-pong of a small message, p50 (issue 14)
	numMetrics
)

// metricInfo describes how a metric is named, shown and compared.
type metricInfo struct {
	Key          string // JSON key, fixed by issue 6
	Label        string // table row
	Unit         string
	HigherBetter bool
}

var metricInfos = [numMetrics]metricInfo{
	SpawnP50:    {"spawn_ms_p50", "spawn 1 context to first reply, p50", "ms", false},
	Spawn10:     {"spawn10_ms", "spawn 10 contexts at once, all replied", "ms", false},
	RTTP50:      {"rtt_us_p50", "request round trip, small message, p50", "µs", false},
	RTTP99:      {"rtt_us_p99", "request round trip, small message, p99", "µs", false},
	OneWay:      {"oneway_msgs_per_s", "one-way small messages", "msg/s", true},
	Bulk:        {"bulk_1mib_mb_per_s", "1 MiB payload round trip (1 MiB each way)", "MB/s", true},
	PingPongP50: {"pingpong_us_p50", "actor-to-actor ping-pong, small message, p50", "µs", false},
}

func (m Metric) info() metricInfo { return metricInfos[m] }

// bulkBytes is the payload of the bulk workload; a round trip moves it
// once in each direction.
const bulkBytes = workload.BulkBytes

// Raw holds what a system measured, before any statistics: times in
// seconds, grouped by round. A nil field is a workload the system did not
// run. The Mitogen driver script emits the same shape as JSON.
type Raw struct {
	Spawn    [][]float64 `json:"spawn"`              // per round, each spawn to first reply
	Spawn10  []float64   `json:"spawn10"`            // per round, ten spawns at once until the last reply
	RTT      [][]float64 `json:"rtt"`                // per round, each small round trip
	PingPong [][]float64 `json:"pingpong,omitempty"` // per round, each exchange between two actors
	OneWay   []Rate      `json:"oneway"`             // per round, messages sent and time until all processed
	Bulk     [][]float64 `json:"bulk"`               // per round, each 1 MiB round trip
}

// Rate is a count of messages and the time they took.
type Rate struct {
	N       int     `json:"n"`
	Seconds float64 `json:"seconds"`
}

// Figures are the summarised metrics of one system; a nil entry is a
// figure the system cannot give.
type Figures [numMetrics]*Stat

// reduce turns raw measurements into figures: each round gives one value
// per metric (its p50 or p99, its wall time, its rate), and a metric is
// the median and range of those values over the rounds.
func reduce(raw Raw) Figures {
	var f Figures
	perRound := func(m Metric, rounds int, value func(i int) (float64, bool)) {
		var vals []float64
		for i := 0; i < rounds; i++ {
			if v, ok := value(i); ok {
				vals = append(vals, v)
			}
		}
		if s, ok := summarize(vals); ok {
			f[m] = &s
		}
	}
	quantileRound := func(rounds [][]float64, q, scale float64) func(int) (float64, bool) {
		return func(i int) (float64, bool) {
			if len(rounds[i]) == 0 {
				return 0, false
			}
			return quantileOf(rounds[i], q) * scale, true
		}
	}
	perRound(SpawnP50, len(raw.Spawn), quantileRound(raw.Spawn, 0.5, 1e3))
	perRound(Spawn10, len(raw.Spawn10), func(i int) (float64, bool) { return raw.Spawn10[i] * 1e3, true })
	perRound(RTTP50, len(raw.RTT), quantileRound(raw.RTT, 0.5, 1e6))
	perRound(RTTP99, len(raw.RTT), quantileRound(raw.RTT, 0.99, 1e6))
	perRound(PingPongP50, len(raw.PingPong), quantileRound(raw.PingPong, 0.5, 1e6))
	perRound(OneWay, len(raw.OneWay), func(i int) (float64, bool) {
		r := raw.OneWay[i]
		if r.N <= 0 || r.Seconds <= 0 {
			return 0, false
		}
		return float64(r.N) / r.Seconds, true
	})
	perRound(Bulk, len(raw.Bulk), func(i int) (float64, bool) {
		t := sum(raw.Bulk[i])
		if t <= 0 {
			return 0, false
		}
		return float64(len(raw.Bulk[i])) * 2 * bulkBytes / t / 1e6, true
	})
	return f
}
