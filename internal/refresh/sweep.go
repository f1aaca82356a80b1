package refresh

import (
	"context"
	"errors"
	"sync"

	"github.com/tokenkeeper/tokenkeeper"
)

// Sweep runs one pass over the selected connections on up to workers
// concurrent refreshes and counts the results.
func (r *Refresher) Sweep(ctx context.Context, req tokenkeeper.SweepRequest, workers int) (tokenkeeper.SweepResult, error) {
	if req.Status == "" {
		req.Status = tokenkeeper.StatusConnected
	}
	if req.Provider != "" {
		if _, ok := r.catalog.Provider(req.Provider); !ok {
			return tokenkeeper.SweepResult{}, tokenkeeper.Errorf(tokenkeeper.CodeProviderUnknown, "unknown provider %q", req.Provider)
		}
	}
	now := r.clock.Now()
	f := tokenkeeper.ConnectionFilter{Provider: req.Provider, Status: req.Status, Limit: 1000}
	if req.ExpiringWithin > 0 {
		f.ExpiringBefore = now.Add(req.ExpiringWithin)
	} else {
		f.DueBefore = now
	}
	res := tokenkeeper.SweepResult{Failed: map[tokenkeeper.Class]int{}, DryRun: req.DryRun}
	var mu sync.Mutex
	record := func(o tokenkeeper.SweepOutcome) {
		mu.Lock()
		defer mu.Unlock()
		res.Checked++
		switch o.Result {
		case "refreshed":
			res.Refreshed++
		case "failed":
			res.Failed[o.Class]++
		case "deferred":
			res.Deferred++
		case "skipped":
			res.Skipped++
		}
		if req.Verbose {
			res.Outcomes = append(res.Outcomes, o)
		}
	}
	workers = max(workers, 1)
	for {
		page, next, err := r.store.ListConnections(ctx, f)
		if err != nil {
			return res, err
		}
		sem := make(chan struct{}, workers)
		var wg sync.WaitGroup
		for _, c := range page {
			if req.DryRun {
				record(tokenkeeper.SweepOutcome{ConnectionID: c.ID, Provider: c.Provider, Result: "would_refresh", Status: c.Status})
				continue
			}
			sem <- struct{}{}
			wg.Add(1)
			go func(c *tokenkeeper.Connection) {
				defer wg.Done()
				defer func() { <-sem }()
				record(r.sweepOne(ctx, c))
			}(c)
		}
		wg.Wait()
		if next == "" || ctx.Err() != nil {
			return res, ctx.Err()
		}
		f.After = next
	}
}

func (r *Refresher) sweepOne(ctx context.Context, c *tokenkeeper.Connection) tokenkeeper.SweepOutcome {
	out := tokenkeeper.SweepOutcome{ConnectionID: c.ID, Provider: c.Provider, Status: c.Status}
	res, err := r.shared(ctx, c.ID, request{trigger: tokenkeeper.TriggerSweep})
	if res.conn != nil {
		out.Status = res.conn.Status
	}
	switch {
	case err == nil && res.outcome != nil:
		out.Result = "refreshed"
	case errors.Is(err, errDeferred):
		out.Result = "deferred"
	case res.outcome != nil:
		out.Result, out.Class, out.Code = "failed", res.outcome.Class, res.outcome.Code
	case res.conn != nil && res.conn.Status == tokenkeeper.StatusError && res.conn.LastError != nil && res.conn.LastError.Code == "undecryptable":
		out.Result, out.Class, out.Code = "failed", tokenkeeper.ClassConfig, "undecryptable"
	default:
		out.Result = "skipped"
		if err != nil {
			out.Code = string(tokenkeeper.ErrorCode(err))
		}
	}
	return out
}
