package main

import "time"

// Plan is how much of each workload a run does. Every system runs the same
// plan: a warm-up that is not measured, then Rounds measured rounds; each
// figure is the median over rounds, with the range as its spread.
type Plan struct {
	Mode   string
	Rounds int

	SpawnWarmup   int // spawns before the first measured round
	SpawnPerRound int // spawns per round; the round's figure is their p50
	Spawn10Rounds int // rounds of ten spawns at once
	SpawnBatch    int // how many contexts "spawn 10" starts (10)

	RTTWarmup   int
	RTTPerRound int // round trips per round; figures are their p50 and p99

	// One-way rounds are sized from a calibration burst so that a round
	// lasts about OneWayRound on every system (Mitogen moves hundreds of
	// times fewer messages per second than the floor).
	OneWayCalibrate int     // messages in the calibration burst
	OneWayRound     float64 // seconds per measured round
	OneWayMax       int     // cap on messages per round

	BulkWarmup   int
	BulkPerRound int
}

// quickPlan finishes every system in seconds; its figures are indicative.
var quickPlan = Plan{
	Mode: "quick", Rounds: 3,
	SpawnWarmup: 1, SpawnPerRound: 3, Spawn10Rounds: 2, SpawnBatch: 10,
	RTTWarmup: 200, RTTPerRound: 500,
	OneWayCalibrate: 2000, OneWayRound: 0.1, OneWayMax: 5_000_000,
	BulkWarmup: 2, BulkPerRound: 5,
}

// fullPlan is the one whose table goes into docs/benchmarks.md.
var fullPlan = Plan{
	Mode: "full", Rounds: 15,
	SpawnWarmup: 3, SpawnPerRound: 8, Spawn10Rounds: 15, SpawnBatch: 10,
	RTTWarmup: 2000, RTTPerRound: 5000,
	OneWayCalibrate: 20000, OneWayRound: 0.5, OneWayMax: 50_000_000,
	BulkWarmup: 10, BulkPerRound: 30,
}

// oneWayCount sizes a one-way round from a calibration burst of n messages
// that took d.
func (p Plan) oneWayCount(n int, d time.Duration) int {
	if d <= 0 {
		return p.OneWayMax
	}
	want := int(float64(n) / d.Seconds() * p.OneWayRound)
	switch {
	case want < p.OneWayCalibrate:
		return p.OneWayCalibrate
	case want > p.OneWayMax:
		return p.OneWayMax
	}
	return want
}

// Workloads selects what a system runs; each system gives what it can.
type Workloads struct {
	Spawn, Spawn10, RTT, PingPong, OneWay, Bulk bool
}

var allWorkloads = Workloads{Spawn: true, Spawn10: true, RTT: true, PingPong: true, OneWay: true, Bulk: true}

// steadyWorkloads are those that need a context already running.
var steadyWorkloads = Workloads{RTT: true, PingPong: true, OneWay: true, Bulk: true}

// mitogenWorkloads are allWorkloads but ping-pong: Mitogen has no actors
// that answer each other.
var mitogenWorkloads = Workloads{Spawn: true, Spawn10: true, RTT: true, OneWay: true, Bulk: true}
