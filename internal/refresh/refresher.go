// Package refresh is tokenkeeper's engine: one refresh of one connection
// (lease, retries, counters, status, history and events in one transaction),
// the Keeper operations built on it (link, read a token, refresh, disconnect),
// and the scheduler that refreshes every connection ahead of its expiry.
package refresh

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/tokenkeeper/tokenkeeper"
)

// TokenClient talks to providers' token endpoints; internal/oauth implements it.
type TokenClient interface {
	// Refresh sends one refresh_token grant and classifies the answer.
	Refresh(ctx context.Context, p *tokenkeeper.Provider, refreshToken, accessToken tokenkeeper.Secret) tokenkeeper.Outcome
	// Revoke revokes a token at the provider (RFC 7009).
	Revoke(ctx context.Context, p *tokenkeeper.Provider, token tokenkeeper.Secret, hint string) tokenkeeper.Outcome
}

// Gate stands between the refresher and a provider: the scheduler's rate
// limits, concurrency limits and circuit breakers. Do runs call unless the
// provider must not be called now, in which case it returns deferred=true and
// the time after which trying again makes sense.
type Gate interface {
	Do(ctx context.Context, provider string, call func(context.Context) tokenkeeper.Outcome) (o tokenkeeper.Outcome, deferredUntil time.Time, deferred bool)
}

// Options configure a Refresher. Store, Sealer, Catalog and Client are required.
type Options struct {
	Store   tokenkeeper.Store
	Sealer  tokenkeeper.Sealer
	Catalog tokenkeeper.Catalog
	Client  TokenClient
	// Gate, when set, is consulted before every call to a provider.
	Gate Gate
	// Policy holds the thresholds; the zero value means tokenkeeper.DefaultPolicy().
	Policy *tokenkeeper.Policy
	Clock  tokenkeeper.Clock
	Logger *slog.Logger
	// Owner names this process in leases; default host-pid-random.
	Owner string
	// LeaseTTL is how long a refresh lease lasts; it must exceed the longest
	// refresh (all attempts). Default 60 s.
	LeaseTTL time.Duration
	// LeaseWait bounds how long a caller waits for another owner's lease. Default 30 s.
	LeaseWait time.Duration
	// LeasePoll is how often a waiting caller looks at the lease. Default 50 ms.
	LeasePoll time.Duration
	// Retry bounds the retries of transient failures within one refresh.
	Retry RetryBudget
	// UserHash turns a user id into the keyed hash written to logs.
	UserHash func(userID string) string
	// Rand returns a uniform number in [0,1) for jitter; default math/rand/v2.
	Rand func() float64
	// OnSchedule is called after a write with the connection's new
	// next_refresh_at (zero when none), so the scheduler can wake early.
	OnSchedule func(next time.Time)
	// OnAttempt is called after every attempt at a provider (metrics).
	OnAttempt func(provider string, a tokenkeeper.RefreshAttempt)
}

// RetryBudget bounds in-line retries of transient failures within one
// refresh. Retries happen only when the provider answered (so it cannot
// have consumed a rotating refresh token) and the wait fits the budget.
type RetryBudget struct {
	Attempts int           // attempts in all, default 2
	MaxWait  time.Duration // longest total wait between attempts, default 2 s
	Base     time.Duration // backoff base, default 200 ms
}

// Refresher refreshes connections one at a time per connection, across
// goroutines (single-flight) and across processes (the row lease). It
// implements tokenkeeper.Keeper.
type Refresher struct {
	store   tokenkeeper.Store
	sealer  tokenkeeper.Sealer
	catalog tokenkeeper.Catalog
	client  TokenClient
	gate    Gate
	policy  tokenkeeper.Policy
	clock   tokenkeeper.Clock
	log     *slog.Logger
	owner   string

	leaseTTL, leaseWait, leasePoll time.Duration
	retry                          RetryBudget
	userHash                       func(string) string
	rand                           func() float64
	onSchedule                     func(time.Time)
	onAttempt                      func(string, tokenkeeper.RefreshAttempt)

	flight singleflight.Group
	// unstored holds the ids of connections whose refresh may have spent
	// the refresh token at the provider but whose outcome, and then the
	// mark (Store.MarkRefreshInterrupted), could not be stored: the database
	// was down. The next refresh of the connection here marks it.
	unstored sync.Map
}

var _ tokenkeeper.Keeper = (*Refresher)(nil)

// New returns a Refresher, or an error when a required option is missing.
func New(o Options) (*Refresher, error) {
	if o.Store == nil || o.Sealer == nil || o.Catalog == nil || o.Client == nil {
		return nil, fmt.Errorf("refresh: Store, Sealer, Catalog and Client are required")
	}
	r := &Refresher{
		store: o.Store, sealer: o.Sealer, catalog: o.Catalog, client: o.Client, gate: o.Gate,
		clock: o.Clock, log: o.Logger, owner: o.Owner,
		leaseTTL: o.LeaseTTL, leaseWait: o.LeaseWait, leasePoll: o.LeasePoll,
		retry: o.Retry, userHash: o.UserHash, rand: o.Rand,
		onSchedule: o.OnSchedule, onAttempt: o.OnAttempt,
	}
	if o.Policy != nil {
		r.policy = *o.Policy
	} else {
		r.policy = tokenkeeper.DefaultPolicy()
	}
	if r.clock == nil {
		r.clock = realClock{}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.owner == "" {
		r.owner = NewOwner()
	}
	if r.leaseTTL <= 0 {
		r.leaseTTL = time.Minute
	}
	if r.leaseWait <= 0 {
		r.leaseWait = 30 * time.Second
	}
	if r.leasePoll <= 0 {
		r.leasePoll = 50 * time.Millisecond
	}
	if r.retry.Attempts <= 0 {
		r.retry.Attempts = 2
	}
	if r.retry.MaxWait <= 0 {
		r.retry.MaxWait = 2 * time.Second
	}
	if r.retry.Base <= 0 {
		r.retry.Base = 200 * time.Millisecond
	}
	if r.userHash == nil {
		r.userHash = func(string) string { return "" }
	}
	if r.rand == nil {
		r.rand = rand.Float64
	}
	if r.onSchedule == nil {
		r.onSchedule = func(time.Time) {}
	}
	if r.onAttempt == nil {
		r.onAttempt = func(string, tokenkeeper.RefreshAttempt) {}
	}
	return r, nil
}

// OnSchedule sets the function told about every new next_refresh_at (the
// scheduler's Wake). Call it before the refresher is used concurrently.
func (r *Refresher) OnSchedule(f func(next time.Time)) { r.onSchedule = f }

// Owner returns the name this refresher uses in leases.
func (r *Refresher) Owner() string { return r.owner }

// NewOwner returns a lease owner name unique to this process: host, pid and
// a random suffix.
func NewOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = crand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
