package refresh

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// request says why a refresh is asked for; it decides whether the refresh is
// still needed once the lease is held (someone else may have done it).
type request struct {
	trigger     tokenkeeper.Trigger
	minValidity time.Duration
	rejected    tokenkeeper.Secret
	// claimed: the scheduler has leased the connection to this owner.
	claimed bool
}

// result is what a refresh hands to its callers: the connection as stored,
// and the plaintext token when this refresh obtained a new one.
type result struct {
	conn  *tokenkeeper.Connection
	token *tokenkeeper.Token
	// outcome is the last answer of the provider when one was asked.
	outcome *tokenkeeper.Outcome
}

// errDeferred marks an error returned because the provider's gate deferred
// the refresh (breaker open, rate limit exhausted): nothing failed.
var errDeferred = errors.New("refresh deferred")

// Refresh refreshes the connection now (tokenkeeper.Keeper). With a rejected
// access token it refreshes only while that token is still the current one.
func (r *Refresher) Refresh(ctx context.Context, id string, trigger tokenkeeper.Trigger, rejected tokenkeeper.Secret) (*tokenkeeper.Connection, error) {
	if !rejected.IsZero() {
		trigger = tokenkeeper.TriggerRejected
	}
	res, err := r.shared(ctx, id, request{trigger: trigger, rejected: rejected})
	return res.conn, err
}

// RefreshClaimed refreshes a connection the scheduler has claimed: its
// lease is already held by this refresher's owner. With TriggerScheduler it
// refreshes only when the connection is still due; with TriggerSweep always.
func (r *Refresher) RefreshClaimed(ctx context.Context, id string, trigger tokenkeeper.Trigger) (*tokenkeeper.Connection, error) {
	res, err := r.shared(ctx, id, request{trigger: trigger, claimed: true})
	return res.conn, err
}

// shared runs one refresh per connection id at a time in this process;
// concurrent callers wait for it and share its result. The refresh itself
// is not cancelled when one caller gives up.
func (r *Refresher) shared(ctx context.Context, id string, req request) (result, error) {
	ch := r.flight.DoChan(id, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.leaseWait+r.leaseTTL)
		defer cancel()
		return r.refreshOnce(fctx, id, req)
	})
	select {
	case <-ctx.Done():
		return result{}, ctx.Err()
	case res := <-ch:
		out, _ := res.Val.(result)
		return out, res.Err
	}
}

// refreshOnce is one refresh under the lease: check, call, classify, commit.
func (r *Refresher) refreshOnce(ctx context.Context, id string, req request) (result, error) {
	c, err := r.leaseFor(ctx, id, req)
	if err != nil {
		return result{}, err
	}
	// saved: the refresh's outcome is stored and the lease released with
	// it. spent: the provider may have spent the stored refresh token (it
	// answered with new tokens, or its answer never arrived). When it may
	// have and the outcome could not be stored, the connection is marked
	// interrupted, in the store when it answers, else in r.unstored until it
	// does, and the lease is left to expire, so that whoever refreshes next,
	// here or in another replica, names the cause if the provider rejects
	// the token.
	saved, spent := false, false
	defer func() {
		switch {
		case saved:
		case spent:
			if err := r.store.MarkRefreshInterrupted(context.WithoutCancel(ctx), id, r.owner); err != nil {
				r.unstored.Store(id, struct{}{})
			}
			r.log.Warn("refresh outcome not stored: leaving the lease to expire", "connection_id", id)
		default:
			if err := r.store.ReleaseLease(context.WithoutCancel(ctx), id, r.owner); err != nil {
				r.log.Warn("release refresh lease", "connection_id", id, "err", err)
			}
		}
	}()
	now := r.clock.Now()

	prov, known := r.catalog.Provider(c.Provider)
	if err := r.refusal(c, req); err != nil {
		return result{conn: c}, err
	}
	if !known {
		n, ev := r.policy.Broken(c, "provider_unknown", "the provider "+c.Provider+" is not configured", now)
		saved, err = r.save(ctx, n, nil, ev)
		if err != nil {
			return result{conn: c}, err
		}
		return result{conn: n}, &tokenkeeper.Error{Code: tokenkeeper.CodeProviderUnknown, Message: "the provider " + c.Provider + " is not configured", ConnectionID: id}
	}
	access, refreshTok, n, ev, err := r.open(c, now)
	if err != nil {
		// Not this row's fault: look again later, counters untouched.
		saved, _ = r.save(ctx, r.policy.Defer(c, now.Add(5*time.Minute), now), nil, nil)
		return result{conn: c}, err
	}
	if n != nil {
		saved, err = r.save(ctx, n, nil, ev)
		if err != nil {
			return result{conn: c}, err
		}
		return result{conn: n}, &tokenkeeper.Error{Code: tokenkeeper.CodeTokenRefreshError, Message: "the stored tokens cannot be decrypted", ConnectionID: id}
	}
	if !r.needed(c, prov, req, access, now) {
		return result{conn: c}, nil
	}
	// Instagram-style providers refresh the access token with itself.
	if (refreshTok.IsZero() && !prov.Refresh.RefreshWithAccessToken) || !prov.RefreshSupported {
		if !c.ExpiresAt.IsZero() && !c.ExpiresAt.After(now) {
			n, ev := r.policy.Expire(c, now)
			if saved, err = r.save(ctx, n, nil, ev); err != nil {
				return result{conn: c}, err
			}
			c = n
		}
		return result{conn: c}, &tokenkeeper.Error{Code: tokenkeeper.CodeNoRefreshToken, Message: "the connection has no refresh token", ConnectionID: id}
	}
	if req.trigger == tokenkeeper.TriggerRead && r.coolingDown(c, now) {
		le := c.LastError
		retry := le.At.Add(r.policy.ReadCooldown).Sub(now)
		return result{conn: c}, &tokenkeeper.Error{Code: tokenkeeper.CodeTokenRefreshError, Message: "the last refresh failed (" + le.Code + "); retrying later", RetryAfter: retry, ConnectionID: id}
	}

	// The provider is asked only while the lease lasts, with a tenth of it
	// kept for the save: a wait in the gate that would outlast it ends in a
	// deferral, with nothing sent, and a request that would outlast it is
	// cut short (an unsettled outcome). Past the lease another replica may
	// take the connection over and send the same refresh token.
	window := c.LeaseUntil.Sub(now) - r.leaseTTL/10
	if window <= 0 {
		n := r.policy.Defer(c, now, now)
		if saved, err = r.save(ctx, n, nil, nil); err != nil {
			return result{conn: c}, err
		}
		return result{conn: n}, &tokenkeeper.Error{Code: tokenkeeper.CodeTokenRefreshError, Message: "the refresh lease ran out before the provider was asked; retrying", RetryAfter: time.Second, ConnectionID: id, Err: errDeferred}
	}
	actx, cancel := context.WithTimeout(ctx, window)
	o, attempts, deferredUntil, deferred := r.attempt(actx, c, prov, req.trigger, refreshTok, access)
	cancel()
	spent = !deferred && (o.Class == tokenkeeper.ClassSuccess || o.Unsettled())
	now = r.clock.Now()
	if deferred {
		n := r.policy.Defer(c, deferredUntil, now)
		if saved, err = r.save(ctx, n, attempts, nil); err != nil {
			return result{conn: c}, err
		}
		return result{conn: n}, &tokenkeeper.Error{Code: tokenkeeper.CodeTokenRefreshError, Message: "refreshes at " + c.Provider + " are paused while it fails", RetryAfter: deferredUntil.Sub(now), ConnectionID: id, Err: errDeferred}
	}
	n, events := r.policy.Apply(c, prov, o, now, r.rand(), r.rand())
	if o.Class == tokenkeeper.ClassSuccess {
		if err := r.sealTokens(n, o.Token); err != nil {
			return result{conn: c}, err
		}
	}
	if saved, err = r.saveOutcome(ctx, c, n, attempts, events, o); err != nil {
		return result{conn: c, outcome: &o}, err
	}
	if o.Class != tokenkeeper.ClassSuccess {
		return result{conn: n, outcome: &o}, o.Err(n)
	}
	return result{conn: n, token: o.Token, outcome: &o}, nil
}

// refusal returns the error for a connection that must not be refreshed in
// its status, or nil. Manual refreshes may retry a connection in error (an
// operator fixed the configuration); nothing refreshes needs_reauth until
// the user reconnects.
func (r *Refresher) refusal(c *tokenkeeper.Connection, req request) error {
	switch c.Status {
	case tokenkeeper.StatusConnected:
		return nil
	case tokenkeeper.StatusNeedsReauth:
		return &tokenkeeper.Error{Code: tokenkeeper.CodeNeedsReauth, Message: "the user must reconnect " + c.Provider, ConnectionID: c.ID}
	case tokenkeeper.StatusError:
		if req.trigger == tokenkeeper.TriggerManual {
			return nil
		}
		code := ""
		if c.LastError != nil {
			code = " (" + c.LastError.Code + ")"
		}
		return &tokenkeeper.Error{Code: tokenkeeper.CodeTokenRefreshError, Message: "the connection is in error" + code + "; an operator must fix the configuration", ConnectionID: c.ID}
	case tokenkeeper.StatusExpired:
		return &tokenkeeper.Error{Code: tokenkeeper.CodeTokenExpired, Message: "the access token expired and cannot be refreshed", ConnectionID: c.ID}
	default:
		return &tokenkeeper.Error{Code: tokenkeeper.CodeAccountNotFound, Message: "the connection was disconnected", ConnectionID: c.ID}
	}
}

// needed reports whether the refresh asked for is still needed now that the
// lease is held: another caller or replica may have refreshed meanwhile.
func (r *Refresher) needed(c *tokenkeeper.Connection, prov *tokenkeeper.Provider, req request, access tokenkeeper.Secret, now time.Time) bool {
	switch req.trigger {
	case tokenkeeper.TriggerRead:
		return r.policy.NeedsRefreshOnRead(c, prov, now, req.minValidity)
	case tokenkeeper.TriggerRejected:
		return subtle.ConstantTimeCompare([]byte(access.Reveal()), []byte(req.rejected.Reveal())) == 1
	case tokenkeeper.TriggerScheduler:
		return !c.NextRefreshAt.IsZero() && !c.NextRefreshAt.After(now)
	default:
		return true
	}
}

// coolingDown reports whether a read should not call the provider because a
// refresh failed transiently a moment ago.
func (r *Refresher) coolingDown(c *tokenkeeper.Connection, now time.Time) bool {
	le := c.LastError
	return le != nil && le.Class == tokenkeeper.ClassTransient && now.Sub(le.At) < r.policy.ReadCooldown
}

// attempt calls the provider, retrying transient failures within the budget
// when a caller waits and the provider answered (an answer means it did not consume the
// refresh token; a timeout might have, and a rotating provider would treat
// a resend as reuse).
func (r *Refresher) attempt(ctx context.Context, c *tokenkeeper.Connection, prov *tokenkeeper.Provider, trigger tokenkeeper.Trigger, refreshTok, access tokenkeeper.Secret) (tokenkeeper.Outcome, []tokenkeeper.RefreshAttempt, time.Time, bool) {
	var attempts []tokenkeeper.RefreshAttempt
	var waited time.Duration
	for i := 1; ; i++ {
		start := time.Now()
		o, until, deferred := r.call(ctx, prov, refreshTok, access)
		if deferred {
			return o, attempts, until, true
		}
		a := tokenkeeper.RefreshAttempt{
			ConnectionID: c.ID, At: r.clock.Now(), Trigger: trigger, Class: o.Class, Code: o.Code,
			HTTPStatus: o.HTTPStatus, Duration: time.Since(start), Rotated: o.Rotated,
		}
		attempts = append(attempts, a)
		r.onAttempt(prov.Name, a)
		r.logAttempt(c, a)
		if o.Class != tokenkeeper.ClassTransient || o.HTTPStatus == 0 || i >= r.retry.Attempts || !callerWaits(trigger) {
			return o, attempts, time.Time{}, false
		}
		delay := tokenkeeper.Backoff(i, r.retry.Base, r.retry.MaxWait, o.RetryAfter, r.rand())
		if waited+delay > r.retry.MaxWait {
			return o, attempts, time.Time{}, false
		}
		waited += delay
		select {
		case <-ctx.Done():
			return o, attempts, time.Time{}, false
		case <-r.clock.After(delay):
		}
	}
}

// callerWaits reports whether someone waits for this refresh's answer; only
// then are transient failures retried in line. Background refreshes rely on
// the stored retry time instead.
func callerWaits(t tokenkeeper.Trigger) bool {
	return t == tokenkeeper.TriggerRead || t == tokenkeeper.TriggerManual || t == tokenkeeper.TriggerRejected
}

// call sends one refresh through the gate, when there is one.
func (r *Refresher) call(ctx context.Context, prov *tokenkeeper.Provider, refreshTok, access tokenkeeper.Secret) (tokenkeeper.Outcome, time.Time, bool) {
	do := func(ctx context.Context) tokenkeeper.Outcome { return r.client.Refresh(ctx, prov, refreshTok, access) }
	if r.gate == nil {
		return do(ctx), time.Time{}, false
	}
	return r.gate.Do(ctx, prov.Name, do)
}

// save writes n with the lease released, and tells the scheduler about the
// new schedule. It reports whether the write happened.
func (r *Refresher) save(ctx context.Context, n *tokenkeeper.Connection, attempts []tokenkeeper.RefreshAttempt, events []tokenkeeper.Event) (bool, error) {
	err := r.store.SaveConnection(ctx, tokenkeeper.Write{Connection: n, LeaseOwner: r.owner, Attempts: attempts, Events: events})
	if err != nil {
		if errors.Is(err, tokenkeeper.ErrVersionConflict) {
			return false, &tokenkeeper.Error{Code: tokenkeeper.CodeConflict, Message: "the connection changed during the refresh", ConnectionID: n.ID, Err: err}
		}
		return false, err
	}
	r.onSchedule(n.NextRefreshAt)
	return true, nil
}

func (r *Refresher) logAttempt(c *tokenkeeper.Connection, a tokenkeeper.RefreshAttempt) {
	level := slog.LevelInfo
	if a.Class != tokenkeeper.ClassSuccess && a.Class != tokenkeeper.ClassTransient {
		level = slog.LevelWarn
	}
	outcome := "failure"
	if a.Class == tokenkeeper.ClassSuccess {
		outcome = "success"
	}
	r.log.LogAttrs(context.Background(), level, "refresh",
		slog.String("connection_id", c.ID),
		slog.String("user", r.userHash(c.UserID)),
		slog.String("provider", c.Provider),
		slog.String("trigger", string(a.Trigger)),
		slog.String("outcome", outcome),
		slog.String("class", string(a.Class)),
		slog.String("code", a.Code),
		slog.Int("http_status", a.HTTPStatus),
		slog.Bool("rotated", a.Rotated),
		slog.Duration("duration", a.Duration),
	)
}
