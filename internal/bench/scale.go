package bench

import "time"

// Scale holds the sizes and durations of a run.
type Scale struct {
	// Name is reported with the results ("quick", "full", "tiny").
	Name string

	// Throughput lists the refresh-throughput cases; ThroughputTime is the
	// length of each measurement window; the scheduler cycles through about
	// two seconds' worth of the raw client's rate of connections, at most
	// MaxSeeds.
	Throughput     []ThroughputCase
	ThroughputTime time.Duration
	MaxSeeds       int
	// Repeats is how many times the throughput and read measurements
	// alternate tokenkeeper and its baseline; the medians are reported.
	Repeats int

	// ReadTime is the length of each token-read measurement, at
	// ReadConcurrency clients, over ReadConnections fresh connections.
	// InProcess adds the in-process rows (testing.Benchmark, about 1 s each).
	ReadTime        time.Duration
	ReadConcurrency int
	ReadConnections int
	InProcess       bool

	// Fleet connections are simulated for Span after Warmup, each refresh
	// taking RefreshCost; tokenkeeper runs SimWorkers refreshes at a time.
	// CheckFleet connections run through the real scheduler on a fake clock
	// for CheckSpan (after Warmup) to validate the simulation.
	Fleet        int
	Span, Warmup time.Duration
	RefreshCost  time.Duration
	SimWorkers   int
	CheckFleet   int
	CheckSpan    time.Duration

	// Stored are the table sizes of the claim pass, the first one the
	// reference; Due rows are due in each; ClaimPasses passes are timed.
	Stored      []int
	Due         int
	ClaimPasses int

	// LagConnections expire at random times over the next LagWindow (the
	// earliest after LagMinExpiry) on the real clock.
	LagConnections int
	LagWindow      time.Duration
	LagMinExpiry   time.Duration
}

// ThroughputCase is one refresh-throughput measurement: the provider's
// latency and error rate, and the concurrency of both sides.
type ThroughputCase struct {
	Latency     time.Duration
	ErrorRate   float64
	Concurrency int
}

// QuickScale is `make bench`: well under ten minutes on two cores. The
// claim pass and the serve process use 100,000 stored connections instead
// of 1,000,000.
func QuickScale() Scale {
	return Scale{
		Name: "quick",
		Throughput: []ThroughputCase{
			{Latency: 0, Concurrency: 8},
			{Latency: 20 * time.Millisecond, Concurrency: 8},
			{Latency: 20 * time.Millisecond, Concurrency: 64},
		},
		ThroughputTime:  2 * time.Second,
		MaxSeeds:        8000,
		Repeats:         3,
		ReadTime:        2 * time.Second,
		ReadConcurrency: 16,
		ReadConnections: 1000,
		InProcess:       true,
		Fleet:           100_000,
		Span:            24 * time.Hour,
		Warmup:          time.Hour,
		RefreshCost:     100 * time.Millisecond,
		SimWorkers:      8,
		CheckFleet:      300,
		CheckSpan:       6 * time.Hour,
		Stored:          []int{10_000, 100_000},
		Due:             1000,
		ClaimPasses:     15,
		LagConnections:  10_000,
		LagWindow:       60 * time.Second,
		LagMinExpiry:    5 * time.Second,
	}
}

// FullScale is the run whose numbers docs/BENCHMARKS.md holds.
func FullScale() Scale {
	s := QuickScale()
	s.Name = "full"
	s.Throughput = []ThroughputCase{
		{Latency: 0, Concurrency: 8},
		{Latency: 0, Concurrency: 32},
		{Latency: 20 * time.Millisecond, Concurrency: 8},
		{Latency: 20 * time.Millisecond, Concurrency: 64},
		{Latency: 100 * time.Millisecond, Concurrency: 8},
		{Latency: 20 * time.Millisecond, ErrorRate: 0.05, Concurrency: 64},
	}
	s.ThroughputTime = 4 * time.Second
	s.MaxSeeds = 20_000
	s.ReadTime = 5 * time.Second
	s.CheckFleet = 2000
	s.CheckSpan = 24 * time.Hour
	s.Stored = []int{10_000, 1_000_000}
	s.ClaimPasses = 30
	s.LagWindow = 600 * time.Second
	s.LagMinExpiry = 30 * time.Second
	return s
}

// TinyScale runs every part in seconds; the harness's own tests use it.
func TinyScale() Scale {
	return Scale{
		Name:            "tiny",
		Throughput:      []ThroughputCase{{Latency: 0, Concurrency: 4}},
		ThroughputTime:  300 * time.Millisecond,
		MaxSeeds:        300,
		Repeats:         1,
		ReadTime:        300 * time.Millisecond,
		ReadConcurrency: 4,
		ReadConnections: 20,
		Fleet:           500,
		Span:            2 * time.Hour,
		Warmup:          10 * time.Minute,
		RefreshCost:     100 * time.Millisecond,
		SimWorkers:      8,
		CheckFleet:      20,
		CheckSpan:       30 * time.Minute,
		Stored:          []int{200, 400},
		Due:             20,
		ClaimPasses:     3,
		LagConnections:  20,
		LagWindow:       2 * time.Second,
		LagMinExpiry:    time.Second,
	}
}
