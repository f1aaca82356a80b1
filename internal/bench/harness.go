// Package bench is tokenkeeper's benchmark harness (issue 8): it measures
// tokenkeeper side by side with a baseline in the same run and reports each
// figure as a ratio against its target, so that the numbers mean something
// on a shared two-core machine where absolute times are noise.
//
// Run measures five parts, each against a loopback fake provider (Provider)
// whose latency and error rate are settings:
//
//   - throughput: refreshes/s through the real scheduler, refresher, token
//     client and store, against raw token-endpoint round trips/s from a
//     plain http.Client at the same concurrency;
//   - reads: GET /v1/connections/{id}/token through the real HTTP API against
//     a bare net/http handler (saturation rate, p50/p99, and p99 at half
//     the saturation rate, open loop), and Refresher.AccessToken against
//     golang.org/x/oauth2's ReuseTokenSource;
//   - freshness: a population of 100,000 connections run through
//     tokenkeeper's policy and through the seeds' cron job on one simulated
//     clock, checked against the real scheduler on a smaller population;
//   - scale: a claim pass over a large table against a small one, the
//     resident memory of `tokenkeeper serve`, the database size per row;
//   - lag: issue 3's check on the real clock.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"
)

// The parts of a run, in the order they run.
const (
	PartThroughput = "throughput"
	PartReads      = "reads"
	PartFreshness  = "freshness"
	PartScale      = "scale"
	PartLag        = "lag"
)

// Parts lists every part.
var Parts = []string{PartThroughput, PartReads, PartFreshness, PartScale, PartLag}

// Options configure a run.
type Options struct {
	// Scale sets sizes and durations: QuickScale, FullScale or TinyScale.
	Scale Scale
	// PostgresURL, when set, adds PostgreSQL to the throughput, reads and
	// scale parts. Every database is a fresh schema, dropped afterwards.
	PostgresURL string
	// ServeBinary is a tokenkeeper executable; the resident-memory row runs
	// `ServeBinary serve` on the large table. Empty skips that row.
	ServeBinary string
	// ProfileDir, when set, receives CPU profiles (pprof) of the
	// refresh-throughput and token-read runs.
	ProfileDir string
	// TempDir holds the SQLite files (default: a new directory under
	// os.TempDir(), removed afterwards).
	TempDir string
	// Parts restricts the run to some of Parts; empty runs all.
	Parts []string
	// Logger receives progress lines; nil discards them.
	Logger *slog.Logger
}

// harness is one run in progress.
type harness struct {
	o   Options
	s   Scale
	log *slog.Logger
	dir string
	rep *Report
	dbs int // SQLite files created so far
}

// Run runs the benchmark and returns its report. A part that fails is
// reported as a row with the error; Run returns an error only when nothing
// can run at all (the temporary directory cannot be created) or ctx ends.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Scale.Name == "" {
		o.Scale = QuickScale()
	}
	h := &harness{o: o, s: o.Scale, log: o.Logger, rep: &Report{Scale: o.Scale.Name, Machine: ReadMachine(), Started: time.Now(), LoadBefore: LoadAverage()}}
	h.dir = o.TempDir
	if h.dir == "" {
		d, err := os.MkdirTemp("", "tokenkeeper-bench-")
		if err != nil {
			return nil, fmt.Errorf("bench: temporary directory: %w", err)
		}
		defer os.RemoveAll(d)
		h.dir = d
	}
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return nil, fmt.Errorf("bench: profile directory: %w", err)
		}
	}
	parts := map[string]func(context.Context) error{
		PartThroughput: h.throughput,
		PartReads:      h.reads,
		PartFreshness:  h.freshness,
		PartScale:      h.scale,
		PartLag:        h.lag,
	}
	for _, name := range Parts {
		if len(o.Parts) > 0 && !slices.Contains(o.Parts, name) {
			continue
		}
		start := time.Now()
		h.log.Info("bench part starting", "part", name)
		if err := parts[name](ctx); err != nil {
			if ctx.Err() != nil {
				return h.rep, ctx.Err()
			}
			h.rep.add(Row{Part: name, Name: "part failed", Note: err.Error()})
			h.log.Error("bench part failed", "part", name, "err", err)
		}
		h.log.Info("bench part done", "part", name, "took", time.Since(start).Round(time.Millisecond))
	}
	h.rep.Took, h.rep.LoadAfter = time.Since(h.rep.Started), LoadAverage()
	return h.rep, nil
}

// databases returns the database kinds to measure: SQLite, and PostgreSQL
// when a URL is given.
func (h *harness) databases() []string {
	if h.o.PostgresURL != "" {
		return []string{dbSQLite, dbPostgres}
	}
	return []string{dbSQLite}
}

// discardLogger is the logger given to the engine under test: a real text
// handler at info level, as serve has, writing nowhere, so that the cost of
// formatting log records is measured.
func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
