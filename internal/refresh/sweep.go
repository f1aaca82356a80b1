package refresh

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// SweepRequest selects the connections of one sweep.
type SweepRequest struct {
	// Provider, when set, sweeps only that provider.
	Provider string
	// Status selects connections in that status (default connected).
	Status tokenkeeper.Status
	// ExpiringWithin, when set, refreshes every connection whose access token
	// expires within it; when zero the sweep refreshes the connections that
	// are due (next_refresh_at has passed), like one scheduler pass.
	ExpiringWithin time.Duration
	// DryRun counts what would be refreshed and refreshes nothing.
	DryRun bool
	// Verbose returns one outcome per connection.
	Verbose bool
}

// SweepResult counts what a sweep did.
type SweepResult struct {
	Checked   int                       `json:"checked"`
	Refreshed int                       `json:"refreshed"`
	Failed    map[tokenkeeper.Class]int `json:"failed"`
	Skipped   int                       `json:"skipped"`
	Deferred  int                       `json:"deferred"`
	DryRun    bool                      `json:"dry_run"`
	Outcomes  []SweepOutcome            `json:"outcomes,omitempty"`
}

// FailedOtherThanTransient reports whether a refresh failed for a reason an
// operator or user must look at (the sweep command's exit status).
func (r SweepResult) FailedOtherThanTransient() bool {
	for class, n := range r.Failed {
		if class != tokenkeeper.ClassTransient && n > 0 {
			return true
		}
	}
	return false
}

// SweepOutcome is what a sweep did to one connection.
type SweepOutcome struct {
	ConnectionID string             `json:"connection_id"`
	Provider     string             `json:"provider"`
	Result       string             `json:"result"` // refreshed, failed, skipped, deferred, would_refresh
	Class        tokenkeeper.Class  `json:"class,omitempty"`
	Code         string             `json:"code,omitempty"`
	Status       tokenkeeper.Status `json:"status"`
}

// Sweep runs one pass over the selected connections on up to workers
// concurrent refreshes and counts the results.
func (r *Refresher) Sweep(ctx context.Context, req SweepRequest, workers int) (SweepResult, error) {
	if req.Status == "" {
		req.Status = tokenkeeper.StatusConnected
	}
	if req.Provider != "" {
		if _, ok := r.catalog.Provider(req.Provider); !ok {
			return SweepResult{}, tokenkeeper.Errorf(tokenkeeper.CodeProviderUnknown, "unknown provider %q", req.Provider)
		}
	}
	now := r.clock.Now()
	f := tokenkeeper.ConnectionFilter{Provider: req.Provider, Status: req.Status, Limit: 1000}
	if req.ExpiringWithin > 0 {
		f.ExpiringBefore = now.Add(req.ExpiringWithin)
	} else {
		f.DueBefore = now
	}
	res := SweepResult{Failed: map[tokenkeeper.Class]int{}, DryRun: req.DryRun}
	var mu sync.Mutex
	record := func(o SweepOutcome) {
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
				record(SweepOutcome{ConnectionID: c.ID, Provider: c.Provider, Result: "would_refresh", Status: c.Status})
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

func (r *Refresher) sweepOne(ctx context.Context, c *tokenkeeper.Connection) SweepOutcome {
	out := SweepOutcome{ConnectionID: c.ID, Provider: c.Provider, Status: c.Status}
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
