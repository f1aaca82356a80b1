package tokenkeeper

import "time"

// Policy holds the numbers of the refresh policy (DESIGN.md §2, §3). Every
// method is a pure function of its arguments: no clock, no randomness
// except the values passed in.
type Policy struct {
	// WarnAfterPermanent: a refresh_warning at this many permanent failures in a row.
	WarnAfterPermanent int
	// ReauthAfterPermanent: needs_reauth at this many permanent failures in a row.
	ReauthAfterPermanent int
	// NoticeAfterTransient: a rate_limited notice at this many transient failures in a row.
	NoticeAfterTransient int

	// MaxMargin caps the default refresh margin (10 minutes); the margin is the
	// smaller of MaxMargin and MarginFraction of the token's lifetime.
	MaxMargin      time.Duration
	MarginFraction float64
	// MaxReadThreshold and ReadFraction: a read refreshes inline when the token
	// expires within the smaller of the two (5 minutes, a tenth of the lifetime).
	MaxReadThreshold time.Duration
	ReadFraction     float64
	// Jitter is the largest amount by which a scheduled refresh is moved earlier,
	// as a fraction of the margin (the spread keeps tokens linked together
	// from refreshing in the same second).
	Jitter float64
	// DefaultLifetime is assumed when neither the response, the token, the
	// catalog nor the connection's history says how long a token lives.
	DefaultLifetime time.Duration

	// BackoffBase and BackoffMax bound the retry delay after a failure.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// ReadCooldown: after a failure, reads do not retry the provider for this long.
	ReadCooldown time.Duration
}

// DefaultPolicy returns the defaults of DESIGN.md.
func DefaultPolicy() Policy {
	return Policy{
		WarnAfterPermanent:   2,
		ReauthAfterPermanent: 3,
		NoticeAfterTransient: 5,
		MaxMargin:            10 * time.Minute,
		MarginFraction:       0.2,
		MaxReadThreshold:     5 * time.Minute,
		ReadFraction:         0.1,
		Jitter:               0.1,
		DefaultLifetime:      time.Hour,
		BackoffBase:          30 * time.Second,
		BackoffMax:           time.Hour,
		ReadCooldown:         30 * time.Second,
	}
}

// Lifetime returns the access token lifetime to plan with: the one reported
// by the last response, else the provider's default, else the policy default.
func (p Policy) Lifetime(c *Connection, prov *Provider) time.Duration {
	switch {
	case c.Lifetime > 0:
		return c.Lifetime
	case prov != nil && prov.AccessTokenLifetime > 0:
		return prov.AccessTokenLifetime
	default:
		return p.DefaultLifetime
	}
}

// Margin returns how long before expiry a token of the given lifetime is
// refreshed: the provider's RefreshBefore when set, else the smaller of
// MaxMargin and MarginFraction of the lifetime.
func (p Policy) Margin(lifetime time.Duration, prov *Provider) time.Duration {
	if prov != nil && prov.RefreshBefore > 0 {
		return min(prov.RefreshBefore, lifetime)
	}
	return min(p.MaxMargin, time.Duration(float64(lifetime)*p.MarginFraction))
}

// ReadThreshold returns how close to expiry a token must be for a read to
// refresh it inline, unless the caller asks for more with minValidity.
func (p Policy) ReadThreshold(lifetime, minValidity time.Duration) time.Duration {
	t := min(p.MaxReadThreshold, time.Duration(float64(lifetime)*p.ReadFraction))
	return max(t, minValidity)
}

// NeedsRefreshOnRead reports whether a read at now must refresh first: the
// token is expired or expires within the read threshold (or the caller's
// min_validity). A token refreshed within the read cooldown and not expired
// is never refreshed again by a read, whatever min_validity asks.
func (p Policy) NeedsRefreshOnRead(c *Connection, prov *Provider, now time.Time, minValidity time.Duration) bool {
	if c.ExpiresAt.IsZero() {
		return false
	}
	if c.ExpiresAt.After(now) && !c.LastRefreshedAt.IsZero() && now.Sub(c.LastRefreshedAt) < p.ReadCooldown {
		return false // just refreshed: a read never refreshes again what is still valid
	}
	left := c.ExpiresAt.Sub(now)
	return left <= p.ReadThreshold(p.Lifetime(c, prov), minValidity)
}

// NextRefreshAt returns when a healthy connection should be refreshed next
// (DESIGN.md §3): expires_at minus the margin, no later than the refresh
// token's own expiry minus the margin (unless that expiry is absolute and a
// refresh cannot extend it), no later than last_refreshed_at + keepalive,
// moved earlier by up to Jitter×margin (u in [0,1) picks how much). A
// connection without a refresh token is visited once at its expiry, so it can
// be marked expired. It returns the zero time for a connection that is not
// connected (needs_reauth, error, expired, disconnected): nothing is scheduled.
func (p Policy) NextRefreshAt(c *Connection, prov *Provider, u float64) time.Time {
	return p.nextRefreshAt(c, prov, u, c.HasRefreshToken() || refreshesWithAccessToken(prov))
}

// refreshesWithAccessToken: the provider refreshes a long-lived access token
// with itself (Instagram), so no refresh token is needed.
func refreshesWithAccessToken(prov *Provider) bool {
	return prov != nil && prov.Refresh.RefreshWithAccessToken
}

func (p Policy) nextRefreshAt(c *Connection, prov *Provider, u float64, hasRefreshToken bool) time.Time {
	if !c.Status.Refreshable() {
		return time.Time{}
	}
	if !hasRefreshToken || (prov != nil && !prov.RefreshSupported) {
		// Nothing to refresh with: visit the connection once at expiry, to mark it expired.
		return c.ExpiresAt
	}
	lifetime := p.Lifetime(c, prov)
	margin := p.Margin(lifetime, prov)
	var next time.Time
	if !c.ExpiresAt.IsZero() {
		next = c.ExpiresAt.Add(-margin)
	}
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if !c.RefreshTokenExpiresAt.IsZero() && (prov == nil || !prov.RefreshTokenAbsolute) {
		earliest(c.RefreshTokenExpiresAt.Add(-margin))
	}
	if prov != nil && prov.Keepalive > 0 {
		last := c.LastRefreshedAt
		if last.IsZero() {
			last = c.UpdatedAt // linked, never refreshed
		}
		earliest(last.Add(prov.Keepalive))
	}
	if next.IsZero() {
		// No expiry known at all: plan with the lifetime from the last refresh.
		base := c.LastRefreshedAt
		if base.IsZero() {
			base = c.UpdatedAt
		}
		next = base.Add(lifetime - margin)
	}
	jitter := time.Duration(float64(margin) * p.Jitter * clamp01(u))
	return next.Add(-jitter)
}

// Backoff returns the delay before retry number attempt (1 for the first
// retry): full jitter over an exponentially growing ceiling, capped at max,
// never shorter than retryAfter. u in [0,1) picks the point in the range.
func Backoff(attempt int, base, maxDelay, retryAfter time.Duration, u float64) time.Duration {
	if base <= 0 {
		base = time.Second
	}
	ceil := base
	for i := 1; i < attempt && ceil < maxDelay; i++ {
		ceil *= 2
	}
	if maxDelay > 0 {
		ceil = min(ceil, maxDelay)
	}
	d := time.Duration(float64(ceil) * clamp01(u))
	return max(d, retryAfter)
}

func clamp01(u float64) float64 {
	switch {
	case u < 0 || u != u:
		return 0
	case u >= 1:
		return 0.999999
	}
	return u
}
