package connect

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// Worker defaults.
const (
	DefaultWorkerInterval  = 30 * time.Second
	DefaultRevokeBackoff   = time.Minute
	DefaultRevokeMaxDelay  = 6 * time.Hour
	DefaultRevokeMaxAge    = 72 * time.Hour
	defaultWorkerBatch     = 20
	defaultWorkerLease     = time.Minute
	purgeGrace             = time.Hour // states and keys are kept this long past their expiry
	revokeTrigger          = tokenkeeper.Trigger("revoke")
	revokeAbandonedCode    = "revocation_abandoned"
	revokeUndecryptableMsg = "the token kept for revocation cannot be decrypted"
)

// Revoker revokes a token at a provider (RFC 7009); *oauth.Client implements it.
type Revoker interface {
	Revoke(ctx context.Context, p *tokenkeeper.Provider, token tokenkeeper.Secret, hint string) tokenkeeper.Outcome
}

// WorkerStore is what the worker needs: the pending revocations and the
// refresh history its attempts are appended to.
type WorkerStore interface {
	tokenkeeper.ConnectStore
	AddAttempts(ctx context.Context, attempts []tokenkeeper.RefreshAttempt) error
}

// WorkerOptions configure a Worker. Store, Sealer, Catalog and Client are required.
type WorkerOptions struct {
	Store   WorkerStore
	Sealer  tokenkeeper.Sealer
	Catalog tokenkeeper.Catalog
	Client  Revoker
	Clock   tokenkeeper.Clock
	Logger  *slog.Logger
	// Owner names this process in leases (default a random name).
	Owner string
	// Interval is the pause between two passes (default 30 s).
	Interval time.Duration
	// Backoff and MaxDelay shape the delay between attempts: Backoff doubled
	// per attempt, capped at MaxDelay, jittered, never below the provider's
	// Retry-After (defaults 1 min and 6 h).
	Backoff, MaxDelay time.Duration
	// MaxAge is how long after the disconnect a revocation is retried; then
	// it is given up and its sealed token erased (default 72 h).
	MaxAge time.Duration
	// Rand returns a uniform number in [0,1) for jitter (default math/rand/v2).
	Rand func() float64
}

// Worker is the connect flow's background service: it retries revocations
// that failed transiently at disconnect until they succeed, fail for good or
// reach MaxAge, erasing each token when done, and purges expired states and
// used link ids. Start it once; Stop ends it.
type Worker struct {
	o      WorkerOptions
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
}

// PassResult counts what one pass did.
type PassResult struct {
	Revoked   int // revocations that succeeded (or found the token already dead)
	Retried   int // failed transiently, rescheduled
	Abandoned int // given up: too old, provider gone, undecryptable
	Purged    int64
}

// NewWorker returns a Worker, or an error naming a missing option.
func NewWorker(o WorkerOptions) (*Worker, error) {
	if o.Store == nil || o.Sealer == nil || o.Catalog == nil || o.Client == nil {
		return nil, errors.New("connect: worker needs Store, Sealer, Catalog and Client")
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Owner == "" {
		o.Owner = tokenkeeper.NewID("revoker_")
	}
	o.Interval = orDefault(o.Interval, DefaultWorkerInterval)
	o.Backoff = orDefault(o.Backoff, DefaultRevokeBackoff)
	o.MaxDelay = orDefault(o.MaxDelay, DefaultRevokeMaxDelay)
	o.MaxAge = orDefault(o.MaxAge, DefaultRevokeMaxAge)
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return &Worker{o: o}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Start runs passes every Interval until ctx ends or Stop is called. It
// returns an error when the worker is running already.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done != nil {
		return errors.New("connect: worker already started")
	}
	ctx, w.cancel = context.WithCancel(ctx)
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		for {
			if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
				w.o.Logger.Warn("connect worker pass failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-w.o.Clock.After(w.o.Interval):
			}
		}
	}()
	return nil
}

// Stop ends the worker and waits for the pass in flight; a revocation in
// flight finishes or its lease lapses. Stop on a stopped worker does nothing.
func (w *Worker) Stop() {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// RunOnce purges expired connect records and works through every
// revocation due now, in batches.
func (w *Worker) RunOnce(ctx context.Context) (PassResult, error) {
	var res PassResult
	now := w.o.Clock.Now()
	n, err := w.o.Store.PurgeConnect(ctx, now.Add(-purgeGrace))
	if err != nil {
		return res, err
	}
	res.Purged = n
	for {
		batch, err := w.o.Store.ClaimRevocations(ctx, w.o.Owner, now, now.Add(defaultWorkerLease), defaultWorkerBatch)
		if err != nil || len(batch) == 0 {
			return res, err
		}
		for _, p := range batch {
			if err := w.revoke(ctx, p, now, &res); err != nil {
				return res, err
			}
		}
	}
}

// revoke makes one attempt at p and records its result.
func (w *Worker) revoke(ctx context.Context, p *tokenkeeper.PendingRevocation, now time.Time, res *PassResult) error {
	prov, ok := w.o.Catalog.Provider(p.Provider)
	if !ok || prov.RevokeURL == "" {
		return w.abandon(ctx, p, "the provider is no longer configured for revocation", res)
	}
	if now.Sub(p.CreatedAt) >= w.o.MaxAge {
		return w.abandon(ctx, p, "retried for longer than the maximum age", res)
	}
	tok, err := w.o.Sealer.Open(p.SealedToken, tokenkeeper.AdditionalData(p.ID, tokenkeeper.FieldRevocationToken))
	if err != nil {
		return w.abandon(ctx, p, revokeUndecryptableMsg, res)
	}
	start := w.o.Clock.Now()
	o := w.o.Client.Revoke(ctx, prov, tokenkeeper.Secret(tok), p.TokenTypeHint)
	w.record(ctx, p, o.Class, o.Code, o.HTTPStatus, w.o.Clock.Now().Sub(start))
	p.Attempts++
	if o.Class == tokenkeeper.ClassTransient || o.Class == tokenkeeper.ClassConfig {
		p.LastCode = o.Code
		delay := tokenkeeper.Backoff(p.Attempts, w.o.Backoff, w.o.MaxDelay, o.RetryAfter, 0.5+w.o.Rand()/2)
		p.NextAttemptAt = now.Add(delay)
		res.Retried++
		w.o.Logger.Info("revocation failed; retrying later", "revocation_id", p.ID, "connection_id", p.ConnectionID,
			"provider", p.Provider, "class", o.Class, "code", o.Code, "attempts", p.Attempts, "next_attempt_at", p.NextAttemptAt)
		return ignoreLost(w.o.Store.RetryRevocation(ctx, p, w.o.Owner))
	}
	// Success, or the provider says the token is invalid already: done.
	res.Revoked++
	w.o.Logger.Info("revocation done", "revocation_id", p.ID, "connection_id", p.ConnectionID, "provider", p.Provider,
		"class", o.Class, "code", o.Code, "attempts", p.Attempts)
	return ignoreLost(w.o.Store.DeleteRevocation(ctx, p.ID, w.o.Owner))
}

// abandon erases p without revoking it.
func (w *Worker) abandon(ctx context.Context, p *tokenkeeper.PendingRevocation, why string, res *PassResult) error {
	res.Abandoned++
	w.o.Logger.Warn("revocation given up; the token is erased but may stay valid at the provider until it expires",
		"revocation_id", p.ID, "connection_id", p.ConnectionID, "provider", p.Provider, "attempts", p.Attempts, "reason", why)
	w.record(ctx, p, tokenkeeper.ClassPermanent, revokeAbandonedCode, 0, 0)
	return ignoreLost(w.o.Store.DeleteRevocation(ctx, p.ID, w.o.Owner))
}

// record appends the attempt to the connection's refresh history; a failure
// is logged, not returned: the revocation's own row is what matters.
func (w *Worker) record(ctx context.Context, p *tokenkeeper.PendingRevocation, class tokenkeeper.Class, code string, status int, d time.Duration) {
	a := tokenkeeper.RefreshAttempt{ConnectionID: p.ConnectionID, At: w.o.Clock.Now(), Trigger: revokeTrigger,
		Class: class, Code: code, HTTPStatus: status, Duration: d}
	if err := w.o.Store.AddAttempts(ctx, []tokenkeeper.RefreshAttempt{a}); err != nil {
		w.o.Logger.Warn("record a revocation attempt", "connection_id", p.ConnectionID, "err", err)
	}
}

// ignoreLost drops ErrVersionConflict: the lease lapsed and another worker
// took the revocation over.
func ignoreLost(err error) error {
	if errors.Is(err, tokenkeeper.ErrVersionConflict) {
		return nil
	}
	return err
}
