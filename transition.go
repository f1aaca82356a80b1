package tokenkeeper

import "time"

// Outcome is the classified result of one refresh attempt at a provider.
type Outcome struct {
	Class Class
	// Code is the provider's error code ("invalid_grant") or ours ("timeout",
	// "network", "http_503", "malformed_response"); empty on success.
	Code string
	// Message is a short description safe to store and show: never a token.
	Message string
	// HTTPStatus is the provider's status code, 0 when no response arrived.
	HTTPStatus int
	// RetryAfter is the provider's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Token is the new token set on success. Its metadata (expiry, lifetime,
	// scopes) is applied to the connection; sealing its secrets is the caller's job.
	Token *Token
	// Rotated is true when the response carried a refresh token different from
	// the one sent.
	Rotated bool
}

// Err returns an *Error for a failed outcome, as a caller of GET .../token
// should see it, or nil for a success.
func (o Outcome) Err(c *Connection) error {
	switch o.Class {
	case ClassSuccess:
		return nil
	case ClassTransient:
		retry := o.RetryAfter
		if retry <= 0 && !c.NextRefreshAt.IsZero() {
			retry = c.NextRefreshAt.Sub(c.UpdatedAt)
		}
		return &Error{Code: CodeTokenRefreshError, Message: "the provider could not refresh the token right now (" + o.Code + ")", RetryAfter: retry, ConnectionID: c.ID}
	}
	switch c.Status {
	case StatusNeedsReauth:
		return &Error{Code: CodeNeedsReauth, Message: "the user must reconnect " + c.Provider, ConnectionID: c.ID}
	case StatusError:
		return &Error{Code: CodeTokenRefreshError, Message: "the provider rejected tokenkeeper's client configuration (" + o.Code + ")", ConnectionID: c.ID}
	case StatusExpired:
		return &Error{Code: CodeTokenExpired, Message: "the access token expired and cannot be refreshed", ConnectionID: c.ID}
	}
	return &Error{Code: CodeTokenRefreshError, Message: "the provider refused the refresh (" + o.Code + ")", ConnectionID: c.ID}
}

// Apply returns the connection after an attempt with outcome o at now, and the
// events the change produces; c is not modified. It is the one place where a
// refresh changes status, counters and schedule (DESIGN.md §2):
//
//   - success resets both counters, stores the new expiry, schedules the next
//     refresh, and produces a recovery event if a notice had been sent;
//   - transient raises consecutive_transient_failures, schedules a retry by
//     backoff (never before Retry-After), and produces one rate_limited
//     notice when the streak reaches NoticeAfterTransient;
//   - permanent raises consecutive_failures and resets the transient streak,
//     warns once at WarnAfterPermanent and sets needs_reauth at ReauthAfterPermanent;
//   - revoked sets needs_reauth at once; config sets error.
//
// After an interrupted refresh (c.RefreshInterrupted), an invalid_grant is
// revoked whatever its description, with the code "refresh_interrupted": the
// interrupted request most likely made a rotating provider consume the
// stored refresh token, and no retry can bring it back. Apply keeps
// RefreshInterrupted up to date: a transient failure in which the provider
// may have accepted the request (no answer, or a 2xx that could not be
// read) sets it, and only a success clears it (a 503 says nothing of the
// token an earlier request may have spent).
//
// u1 and u2 in [0,1) are the random draws for jitter and backoff.
func (p Policy) Apply(c *Connection, prov *Provider, o Outcome, now time.Time, u1, u2 float64) (*Connection, []Event) {
	n := c.Clone()
	n.UpdatedAt = now
	if c.RefreshInterrupted {
		o = o.afterInterruptedRefresh()
	}
	switch {
	case o.Unsettled():
		n.RefreshInterrupted = true
	case o.Class == ClassSuccess:
		n.RefreshInterrupted = false
	}
	var events []Event
	emit := func(t EventType) { events = append(events, NewEvent(t, n, now)) }

	if o.Class == ClassSuccess {
		hadNotice := n.Notice != ""
		n.ConsecutiveFailures = 0
		n.ConsecutiveTransientFailures = 0
		n.LastError = nil
		n.LastRefreshedAt = now
		n.Notice = ""
		n.Status = StatusConnected
		if t := o.Token; t != nil {
			if t.Lifetime > 0 {
				n.Lifetime = t.Lifetime
			}
			n.ExpiresAt = t.ExpiresAt
			if n.ExpiresAt.IsZero() {
				n.ExpiresAt = now.Add(p.Lifetime(n, prov))
			} else if t.Lifetime == 0 && n.ExpiresAt.After(now) {
				n.Lifetime = n.ExpiresAt.Sub(now)
			}
			if !t.RefreshTokenExpiresAt.IsZero() {
				n.RefreshTokenExpiresAt = t.RefreshTokenExpiresAt
			}
			if len(t.Scopes) > 0 {
				n.Scopes = append([]string(nil), t.Scopes...)
			}
		}
		n.NextRefreshAt = p.NextRefreshAt(n, prov, u1)
		if hadNotice {
			emit(EventRecovered)
		}
		return n, events
	}

	n.LastError = &LastError{Class: o.Class, Code: o.Code, HTTPStatus: o.HTTPStatus, Message: o.Message, At: now}
	switch o.Class {
	case ClassTransient:
		n.ConsecutiveTransientFailures++
		delay := Backoff(n.ConsecutiveTransientFailures, p.BackoffBase, p.BackoffMax, o.RetryAfter, u2)
		n.NextRefreshAt = now.Add(delay)
		if n.ConsecutiveTransientFailures == p.NoticeAfterTransient && n.Notice == "" {
			n.Notice = EventRateLimited
			emit(EventRateLimited)
		}
	case ClassPermanent:
		n.ConsecutiveFailures++
		n.ConsecutiveTransientFailures = 0
		if n.ConsecutiveFailures >= p.ReauthAfterPermanent {
			n.Status = StatusNeedsReauth
			n.NextRefreshAt = time.Time{}
			n.Notice = EventNeedsReauth
			emit(EventNeedsReauth)
			break
		}
		delay := Backoff(n.ConsecutiveFailures, p.BackoffBase, p.BackoffMax, o.RetryAfter, u2)
		n.NextRefreshAt = now.Add(delay)
		if n.ConsecutiveFailures == p.WarnAfterPermanent {
			n.Notice = EventRefreshWarning
			emit(EventRefreshWarning)
		}
	case ClassRevoked:
		n.ConsecutiveFailures++
		n.ConsecutiveTransientFailures = 0
		n.Status = StatusNeedsReauth
		n.NextRefreshAt = time.Time{}
		n.Notice = EventNeedsReauth
		emit(EventNeedsReauth)
	case ClassConfig:
		n.Status = StatusError
		n.NextRefreshAt = time.Time{}
		emit(EventError)
	}
	return n, events
}

// Unsettled reports whether the provider may have accepted the refresh
// without tokenkeeper getting its answer: a transient failure with no
// answer (timeout, network error) or with a 2xx that could not be read.
// A rotating provider may then have spent the refresh token.
func (o Outcome) Unsettled() bool {
	return o.Class == ClassTransient && (o.HTTPStatus == 0 || o.HTTPStatus/100 == 2)
}

// CodeRefreshInterrupted is the LastError code of a connection whose
// refresh token the provider rejected after an interrupted refresh.
const CodeRefreshInterrupted = "refresh_interrupted"

// afterInterruptedRefresh rewords an invalid_grant that follows an
// interrupted refresh (see Apply); other outcomes are returned unchanged.
func (o Outcome) afterInterruptedRefresh() Outcome {
	if o.Code != "invalid_grant" || (o.Class != ClassRevoked && o.Class != ClassPermanent) {
		return o
	}
	o.Class = ClassRevoked
	o.Code = CodeRefreshInterrupted
	msg := "the provider rejected the refresh token (invalid_grant) after an earlier refresh was interrupted before its answer was stored: the provider most likely rotated the token then; the user must reconnect"
	if o.Message != "" {
		msg += " (provider: " + o.Message + ")"
	}
	o.Message = msg
	return o
}

// Expire returns c marked expired: its access token is past expiry and there
// is nothing to refresh it with.
func (p Policy) Expire(c *Connection, now time.Time) (*Connection, []Event) {
	n := c.Clone()
	n.Status = StatusExpired
	n.NextRefreshAt = time.Time{}
	n.UpdatedAt = now
	n.LastError = &LastError{Class: ClassPermanent, Code: "no_refresh_token", Message: "the access token expired and the provider issued no refresh token", At: now}
	return n, nil
}

// Broken returns c with status error because tokenkeeper cannot use it: its
// ciphertext does not open, its provider is unknown, or its client is not
// configured. code names the reason ("undecryptable", "provider_unknown").
func (p Policy) Broken(c *Connection, code, message string, now time.Time) (*Connection, []Event) {
	n := c.Clone()
	n.Status = StatusError
	n.NextRefreshAt = time.Time{}
	n.UpdatedAt = now
	n.LastError = &LastError{Class: ClassConfig, Code: code, Message: message, At: now}
	return n, []Event{NewEvent(EventError, n, now)}
}

// Defer returns c rescheduled to until without touching its counters or
// status: used while a provider's circuit breaker is open or its rate limit
// is exhausted.
func (p Policy) Defer(c *Connection, until, now time.Time) *Connection {
	n := c.Clone()
	n.NextRefreshAt = until
	n.UpdatedAt = now
	return n
}

// Link returns c as (re)linked at now with a fresh token: connected, counters
// reset, expiry from the token, the next refresh planned. The caller seals the
// token's secrets into the result.
func (p Policy) Link(c *Connection, prov *Provider, t *Token, now time.Time, u float64) (*Connection, []Event) {
	n := c.Clone()
	if n.CreatedAt.IsZero() {
		n.CreatedAt = now
	}
	n.UpdatedAt = now
	n.Status = StatusConnected
	n.ConsecutiveFailures = 0
	n.ConsecutiveTransientFailures = 0
	n.LastError = nil
	n.Notice = ""
	n.RefreshInterrupted = false
	n.ExpiresAt = t.ExpiresAt
	n.RefreshTokenExpiresAt = t.RefreshTokenExpiresAt
	n.Lifetime = t.Lifetime
	if n.Lifetime == 0 && n.ExpiresAt.After(now) {
		n.Lifetime = n.ExpiresAt.Sub(now)
	}
	if n.ExpiresAt.IsZero() && prov != nil && prov.AccessTokenLifetime > 0 && prov.RefreshSupported && !t.RefreshToken.IsZero() {
		n.ExpiresAt = now.Add(prov.AccessTokenLifetime)
	}
	if n.RefreshTokenExpiresAt.IsZero() && prov != nil && prov.RefreshTokenLifetime > 0 && !t.RefreshToken.IsZero() {
		n.RefreshTokenExpiresAt = now.Add(prov.RefreshTokenLifetime)
	}
	if len(t.Scopes) > 0 {
		n.Scopes = append([]string(nil), t.Scopes...)
	}
	n.NextRefreshAt = p.nextRefreshAt(n, prov, u, !t.RefreshToken.IsZero() || refreshesWithAccessToken(prov))
	return n, []Event{NewEvent(EventConnected, n, now)}
}

// Disconnect returns c disconnected at now, with its tokens erased.
func (p Policy) Disconnect(c *Connection, now time.Time) (*Connection, []Event) {
	n := c.Clone()
	n.Status = StatusDisconnected
	n.SealedAccessToken = nil
	n.SealedRefreshToken = nil
	n.NextRefreshAt = time.Time{}
	n.UpdatedAt = now
	return n, []Event{NewEvent(EventDisconnected, n, now)}
}
