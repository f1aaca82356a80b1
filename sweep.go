package tokenkeeper

import (
	"context"
	"time"
)

// SweepRequest selects the connections of one sweep.
type SweepRequest struct {
	// Provider, when set, sweeps only that provider.
	Provider string
	// Status selects connections in that status (default connected).
	Status Status
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
	Checked   int            `json:"checked"`
	Refreshed int            `json:"refreshed"`
	Failed    map[Class]int  `json:"failed"`
	Skipped   int            `json:"skipped"`
	Deferred  int            `json:"deferred"`
	DryRun    bool           `json:"dry_run"`
	Outcomes  []SweepOutcome `json:"outcomes,omitempty"`
}

// FailedOtherThanTransient reports whether a refresh failed for a reason an
// operator or user must look at (the sweep command's exit status).
func (r SweepResult) FailedOtherThanTransient() bool {
	for class, n := range r.Failed {
		if class != ClassTransient && n > 0 {
			return true
		}
	}
	return false
}

// SweepOutcome is what a sweep did to one connection.
type SweepOutcome struct {
	ConnectionID string `json:"connection_id"`
	Provider     string `json:"provider"`
	Result       string `json:"result"` // refreshed, failed, skipped, deferred, would_refresh
	Class        Class  `json:"class,omitempty"`
	Code         string `json:"code,omitempty"`
	Status       Status `json:"status"`
}

// Sweeper runs sweeps: one pass over selected connections (POST /v1/sweeps,
// tokenkeeper sweep, cron schedules).
type Sweeper interface {
	Sweep(ctx context.Context, req SweepRequest, workers int) (SweepResult, error)
}
