package tokenkeeper_test

import (
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tokenkeeper/tokenkeeper"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestMargin(t *testing.T) {
	t.Parallel()
	p := tokenkeeper.DefaultPolicy()
	linkedin := &tokenkeeper.Provider{Name: "linkedin", RefreshBefore: 240 * time.Hour}
	cases := []struct {
		name     string
		lifetime time.Duration
		prov     *tokenkeeper.Provider
		want     time.Duration
	}{
		{"5-minute token: a fifth of its life", 5 * time.Minute, nil, time.Minute},
		{"1-hour token: capped at 10 minutes", time.Hour, nil, 10 * time.Minute},
		{"30-minute token: 6 minutes", 30 * time.Minute, nil, 6 * time.Minute},
		{"LinkedIn 60 days: refreshed at day 50", 60 * 24 * time.Hour, linkedin, 240 * time.Hour},
		{"refresh_before longer than the lifetime is capped", time.Hour, linkedin, time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := p.Margin(tc.lifetime, tc.prov); got != tc.want {
				t.Fatalf("Margin(%s) = %s, want %s", tc.lifetime, got, tc.want)
			}
		})
	}
}

func TestReadThreshold(t *testing.T) {
	t.Parallel()
	p := tokenkeeper.DefaultPolicy()
	cases := []struct {
		lifetime, minValidity, want time.Duration
	}{
		{time.Hour, 0, 5 * time.Minute},
		{5 * time.Minute, 0, 30 * time.Second},
		{time.Hour, 20 * time.Minute, 20 * time.Minute},
	}
	for _, tc := range cases {
		if got := p.ReadThreshold(tc.lifetime, tc.minValidity); got != tc.want {
			t.Errorf("ReadThreshold(%s, %s) = %s, want %s", tc.lifetime, tc.minValidity, got, tc.want)
		}
	}
	// The scheduler (a fifth) refreshes before reads (a tenth) would.
	for _, l := range []time.Duration{time.Minute, 5 * time.Minute, time.Hour, 24 * time.Hour} {
		if p.ReadThreshold(l, 0) >= p.Margin(l, nil) {
			t.Errorf("lifetime %s: read threshold %s is not below the refresh margin %s", l, p.ReadThreshold(l, 0), p.Margin(l, nil))
		}
	}
}

func connected(expiresIn time.Duration) *tokenkeeper.Connection {
	return &tokenkeeper.Connection{
		ID: "conn_1", Status: tokenkeeper.StatusConnected, ExpiresAt: t0.Add(expiresIn), Lifetime: expiresIn,
		LastRefreshedAt: t0, UpdatedAt: t0, SealedRefreshToken: []byte{1}, SealedAccessToken: []byte{1},
	}
}

func TestNextRefreshAt(t *testing.T) {
	t.Parallel()
	p := tokenkeeper.DefaultPolicy()
	day := 24 * time.Hour
	cases := []struct {
		name string
		c    func() *tokenkeeper.Connection
		prov *tokenkeeper.Provider
		want time.Time
	}{
		{"1-hour token: 10 minutes before expiry", func() *tokenkeeper.Connection { return connected(time.Hour) },
			&tokenkeeper.Provider{RefreshSupported: true}, t0.Add(50 * time.Minute)},
		{"LinkedIn: day 50 of 60", func() *tokenkeeper.Connection { return connected(60 * day) },
			&tokenkeeper.Provider{RefreshSupported: true, RefreshBefore: 10 * day}, t0.Add(50 * day)},
		{"keepalive comes first", func() *tokenkeeper.Connection { return connected(60 * day) },
			&tokenkeeper.Provider{RefreshSupported: true, Keepalive: day}, t0.Add(day)},
		{"refresh token expiring first", func() *tokenkeeper.Connection {
			c := connected(60 * day)
			c.RefreshTokenExpiresAt = t0.Add(7 * day)
			return c
		}, &tokenkeeper.Provider{RefreshSupported: true}, t0.Add(7*day - 10*time.Minute)},
		{"absolute refresh-token limit is not chased", func() *tokenkeeper.Connection {
			c := connected(time.Hour)
			c.RefreshTokenExpiresAt = t0.Add(30 * time.Minute)
			return c
		}, &tokenkeeper.Provider{RefreshSupported: true, RefreshTokenAbsolute: true}, t0.Add(50 * time.Minute)},
		{"no expiry known: the provider's default lifetime", func() *tokenkeeper.Connection {
			c := connected(0)
			c.ExpiresAt, c.Lifetime = time.Time{}, 0
			return c
		}, &tokenkeeper.Provider{RefreshSupported: true, AccessTokenLifetime: 2 * time.Hour}, t0.Add(110 * time.Minute)},
		{"no refresh token: visited at expiry", func() *tokenkeeper.Connection {
			c := connected(time.Hour)
			c.SealedRefreshToken = nil
			return c
		}, &tokenkeeper.Provider{RefreshSupported: true}, t0.Add(time.Hour)},
		{"needs_reauth: never", func() *tokenkeeper.Connection {
			c := connected(time.Hour)
			c.Status = tokenkeeper.StatusNeedsReauth
			return c
		}, &tokenkeeper.Provider{RefreshSupported: true}, time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := p.NextRefreshAt(tc.c(), tc.prov, 0); !got.Equal(tc.want) {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestNextRefreshAtJitterIsBounded(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		p := tokenkeeper.DefaultPolicy()
		life := time.Duration(rapid.Int64Range(int64(time.Minute), int64(90*24*time.Hour)).Draw(t, "lifetime"))
		u := rapid.Float64Range(0, 1).Draw(t, "u")
		c := connected(life)
		prov := &tokenkeeper.Provider{RefreshSupported: true}
		next := p.NextRefreshAt(c, prov, u)
		margin := p.Margin(life, prov)
		latest := c.ExpiresAt.Add(-margin)
		earliest := latest.Add(-time.Duration(float64(margin) * p.Jitter))
		if next.After(latest) || next.Before(earliest) {
			t.Fatalf("next %s outside [%s, %s]", next, earliest, latest)
		}
		if !next.Before(c.ExpiresAt) {
			t.Fatal("refresh planned at or after expiry")
		}
	})
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		attempt := rapid.IntRange(1, 100).Draw(t, "attempt")
		base := time.Duration(rapid.Int64Range(int64(time.Millisecond), int64(time.Minute)).Draw(t, "base"))
		maxDelay := time.Duration(rapid.Int64Range(int64(base), int64(24*time.Hour)).Draw(t, "max"))
		retryAfter := time.Duration(rapid.Int64Range(0, int64(48*time.Hour)).Draw(t, "retryAfter"))
		u := rapid.Float64Range(0, 1).Draw(t, "u")
		d := tokenkeeper.Backoff(attempt, base, maxDelay, retryAfter, u)
		if d < retryAfter {
			t.Fatalf("delay %s shorter than Retry-After %s", d, retryAfter)
		}
		if d > max(maxDelay, retryAfter) {
			t.Fatalf("delay %s above the cap %s", d, maxDelay)
		}
		if d < 0 {
			t.Fatal("negative delay")
		}
	})
	// Full jitter: the ceiling doubles per attempt until the cap.
	if got := tokenkeeper.Backoff(4, time.Second, time.Hour, 0, 0.999999); got < 7*time.Second || got > 8*time.Second {
		t.Fatalf("attempt 4 at the top of its range: %s, want just under 8s", got)
	}
	if got := tokenkeeper.Backoff(30, time.Second, time.Minute, 0, 0.999999); got > time.Minute {
		t.Fatalf("capped: %s", got)
	}
}

// TestApplyStateMachine drives a connection through random outcomes and
// checks the lifecycle rules of DESIGN.md §2 after every step.
func TestApplyStateMachine(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		p := tokenkeeper.DefaultPolicy()
		prov := &tokenkeeper.Provider{RefreshSupported: true}
		c := connected(time.Hour)
		now := t0
		classes := []tokenkeeper.Class{tokenkeeper.ClassSuccess, tokenkeeper.ClassTransient, tokenkeeper.ClassPermanent, tokenkeeper.ClassRevoked, tokenkeeper.ClassConfig}
		warned := false
		steps := rapid.IntRange(1, 40).Draw(t, "steps")
		for i := 0; i < steps && c.Status == tokenkeeper.StatusConnected; i++ {
			class := rapid.SampledFrom(classes).Draw(t, "class")
			retryAfter := time.Duration(rapid.Int64Range(0, int64(time.Hour)).Draw(t, "retryAfter"))
			now = now.Add(time.Minute)
			o := tokenkeeper.Outcome{Class: class, Code: "x", RetryAfter: retryAfter}
			if class == tokenkeeper.ClassSuccess {
				o.Token = &tokenkeeper.Token{ExpiresAt: now.Add(time.Hour), Lifetime: time.Hour}
			}
			prev := c
			n, events := p.Apply(c, prov, o, now, 0.5, 0.5)
			if n.Version != prev.Version || n.ID != prev.ID {
				t.Fatal("Apply changed identity or version")
			}
			if len(events) > 1 {
				t.Fatalf("one outcome produced %d events", len(events))
			}
			switch class {
			case tokenkeeper.ClassSuccess:
				if n.ConsecutiveFailures != 0 || n.ConsecutiveTransientFailures != 0 || n.Status != tokenkeeper.StatusConnected || n.LastError != nil {
					t.Fatalf("success left %+v", n)
				}
				if warned != (len(events) == 1 && events[0].Type == tokenkeeper.EventRecovered) {
					t.Fatalf("recovery event %v after warned=%v", events, warned)
				}
				warned = false
				if !n.NextRefreshAt.After(now) || !n.NextRefreshAt.Before(n.ExpiresAt) {
					t.Fatalf("next refresh %s not between now and expiry", n.NextRefreshAt)
				}
			case tokenkeeper.ClassTransient:
				if n.Status != tokenkeeper.StatusConnected || n.ConsecutiveTransientFailures != prev.ConsecutiveTransientFailures+1 || n.ConsecutiveFailures != prev.ConsecutiveFailures {
					t.Fatalf("transient changed status or the wrong counter: %+v", n)
				}
				if n.NextRefreshAt.Before(now.Add(retryAfter)) {
					t.Fatal("retry scheduled before Retry-After")
				}
				if (len(events) == 1) != (n.ConsecutiveTransientFailures == p.NoticeAfterTransient && prev.Notice == "") {
					t.Fatalf("transient notice %v at %d", events, n.ConsecutiveTransientFailures)
				}
			case tokenkeeper.ClassPermanent:
				if n.ConsecutiveFailures != prev.ConsecutiveFailures+1 {
					t.Fatal("permanent did not count")
				}
				if (n.Status == tokenkeeper.StatusNeedsReauth) != (n.ConsecutiveFailures >= p.ReauthAfterPermanent) {
					t.Fatalf("status %s at %d permanent failures", n.Status, n.ConsecutiveFailures)
				}
				if n.ConsecutiveFailures == p.WarnAfterPermanent && (len(events) != 1 || events[0].Type != tokenkeeper.EventRefreshWarning) {
					t.Fatalf("no warning at %d: %v", n.ConsecutiveFailures, events)
				}
			case tokenkeeper.ClassRevoked:
				if n.Status != tokenkeeper.StatusNeedsReauth || len(events) != 1 || events[0].Type != tokenkeeper.EventNeedsReauth || !n.NextRefreshAt.IsZero() {
					t.Fatalf("revoked: %+v %v", n, events)
				}
			case tokenkeeper.ClassConfig:
				if n.Status != tokenkeeper.StatusError || len(events) != 1 || events[0].Type != tokenkeeper.EventError {
					t.Fatalf("config: %+v %v", n, events)
				}
			}
			if n.Notice != "" && class != tokenkeeper.ClassSuccess {
				warned = true
			}
			c = n
		}
	})
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := tokenkeeper.Secret("very-secret-token")
	for _, got := range []string{s.String(), s.GoString(), s.LogValue().String()} {
		if got != "[REDACTED]" {
			t.Fatalf("printed %q", got)
		}
	}
	b, _ := s.MarshalText()
	if string(b) != "[REDACTED]" {
		t.Fatalf("marshalled %q", b)
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"u42", "conn_abc", "user@example.com", "a.b-c_d:e+f"} {
		if !tokenkeeper.ValidID(ok) {
			t.Errorf("%q rejected", ok)
		}
	}
	for _, bad := range []string{"", "..", ".", "a/b", "a\\b", "a b", "a\nb", "ü", string(make([]byte, 201))} {
		if tokenkeeper.ValidID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestApplyAfterInterruptedRefresh(t *testing.T) {
	t.Parallel()
	p := tokenkeeper.DefaultPolicy()
	prov := &tokenkeeper.Provider{RefreshSupported: true}
	now := t0.Add(time.Minute)
	invalidGrant := func(class tokenkeeper.Class) tokenkeeper.Outcome {
		return tokenkeeper.Outcome{Class: class, Code: "invalid_grant", HTTPStatus: 400, Message: "grant request is invalid"}
	}
	for _, tc := range []struct {
		name        string
		interrupted bool
		o           tokenkeeper.Outcome
		status      tokenkeeper.Status
		code        string
		after       bool // RefreshInterrupted afterwards
	}{
		{"revoked after interruption", true, invalidGrant(tokenkeeper.ClassRevoked), tokenkeeper.StatusNeedsReauth, tokenkeeper.CodeRefreshInterrupted, true},
		{"unexplained invalid_grant after interruption is final", true, invalidGrant(tokenkeeper.ClassPermanent), tokenkeeper.StatusNeedsReauth, tokenkeeper.CodeRefreshInterrupted, true},
		{"unexplained invalid_grant otherwise counts", false, invalidGrant(tokenkeeper.ClassPermanent), tokenkeeper.StatusConnected, "invalid_grant", false},
		{"revoked otherwise keeps the provider's code", false, invalidGrant(tokenkeeper.ClassRevoked), tokenkeeper.StatusNeedsReauth, "invalid_grant", false},
		{"other permanent answers are not reworded", true, tokenkeeper.Outcome{Class: tokenkeeper.ClassPermanent, Code: "invalid_scope", HTTPStatus: 400}, tokenkeeper.StatusConnected, "invalid_scope", true},
		{"config is not reworded", true, tokenkeeper.Outcome{Class: tokenkeeper.ClassConfig, Code: "invalid_client", HTTPStatus: 401}, tokenkeeper.StatusError, "invalid_client", true},
		{"a timeout sets it", false, tokenkeeper.Outcome{Class: tokenkeeper.ClassTransient, Code: "timeout"}, tokenkeeper.StatusConnected, "timeout", true},
		{"an unreadable 200 sets it", false, tokenkeeper.Outcome{Class: tokenkeeper.ClassTransient, Code: "malformed_response", HTTPStatus: 200}, tokenkeeper.StatusConnected, "malformed_response", true},
		{"a 503 answer keeps it", true, tokenkeeper.Outcome{Class: tokenkeeper.ClassTransient, Code: "http_503", HTTPStatus: 503}, tokenkeeper.StatusConnected, "http_503", true},
		{"a 503 answer does not set it", false, tokenkeeper.Outcome{Class: tokenkeeper.ClassTransient, Code: "http_503", HTTPStatus: 503}, tokenkeeper.StatusConnected, "http_503", false},
		{"a network error keeps it", true, tokenkeeper.Outcome{Class: tokenkeeper.ClassTransient, Code: "network"}, tokenkeeper.StatusConnected, "network", true},
		{"a success clears it", true, tokenkeeper.Outcome{Class: tokenkeeper.ClassSuccess, Token: &tokenkeeper.Token{ExpiresAt: now.Add(time.Hour)}}, tokenkeeper.StatusConnected, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := connected(time.Hour)
			c.RefreshInterrupted = tc.interrupted
			n, events := p.Apply(c, prov, tc.o, now, 0.5, 0.5)
			if n.Status != tc.status {
				t.Fatalf("status %s, want %s", n.Status, tc.status)
			}
			code := ""
			if n.LastError != nil {
				code = n.LastError.Code
			}
			if code != tc.code {
				t.Fatalf("last error code %q, want %q", code, tc.code)
			}
			if n.RefreshInterrupted != tc.after {
				t.Fatalf("RefreshInterrupted = %v, want %v", n.RefreshInterrupted, tc.after)
			}
			if c.RefreshInterrupted != tc.interrupted {
				t.Fatal("Apply modified its input")
			}
			if tc.code == tokenkeeper.CodeRefreshInterrupted {
				if n.LastError.Class != tokenkeeper.ClassRevoked || !strings.Contains(n.LastError.Message, "interrupted") || !strings.Contains(n.LastError.Message, "grant request is invalid") {
					t.Fatalf("last error %+v does not explain the interruption", n.LastError)
				}
				if len(events) != 1 || events[0].Type != tokenkeeper.EventNeedsReauth || events[0].Failure == nil || events[0].Failure.Code != tokenkeeper.CodeRefreshInterrupted {
					t.Fatalf("events %+v", events)
				}
			}
		})
	}
}

func TestLinkClearsRefreshInterrupted(t *testing.T) {
	t.Parallel()
	c := connected(time.Hour)
	c.RefreshInterrupted = true
	n, _ := tokenkeeper.DefaultPolicy().Link(c, &tokenkeeper.Provider{RefreshSupported: true}, &tokenkeeper.Token{AccessToken: "a", RefreshToken: "r", ExpiresAt: t0.Add(time.Hour)}, t0, 0.5)
	if n.RefreshInterrupted {
		t.Fatal("a new grant still carries the old grant's interrupted refresh")
	}
}
