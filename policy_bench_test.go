package tokenkeeper_test

import (
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// benchConnection is a connected connection with a one-hour token, as the
// scheduler sees it.
func benchConnection() (*tokenkeeper.Connection, *tokenkeeper.Provider) {
	prov := &tokenkeeper.Provider{Name: "google", RefreshSupported: true, AccessTokenLifetime: time.Hour, Keepalive: 24 * time.Hour}
	c := &tokenkeeper.Connection{
		ID: "conn_bench", UserID: "user-1", Provider: "google", Scopes: []string{"read", "write"},
		Status: tokenkeeper.StatusConnected, ExpiresAt: t0.Add(time.Hour), Lifetime: time.Hour,
		LastRefreshedAt: t0, NextRefreshAt: t0.Add(50 * time.Minute), Version: 7,
		SealedAccessToken: make([]byte, 64), SealedRefreshToken: make([]byte, 96),
		CreatedAt: t0, UpdatedAt: t0,
	}
	return c, prov
}

// BenchmarkNextRefreshAt is the policy's schedule computation, run on every
// write of a connection.
func BenchmarkNextRefreshAt(b *testing.B) {
	p := tokenkeeper.DefaultPolicy()
	c, prov := benchConnection()
	b.ReportAllocs()
	for b.Loop() {
		if p.NextRefreshAt(c, prov, 0.5).IsZero() {
			b.Fatal("nothing scheduled")
		}
	}
}

// BenchmarkApply is the state transition after an attempt: a success (new
// token, counters reset, next refresh planned) and a transient failure
// (counter, backoff).
func BenchmarkApply(b *testing.B) {
	p := tokenkeeper.DefaultPolicy()
	c, prov := benchConnection()
	now := t0.Add(50 * time.Minute)
	outcomes := map[string]tokenkeeper.Outcome{
		"success": {Class: tokenkeeper.ClassSuccess, Token: &tokenkeeper.Token{
			AccessToken: "at", RefreshToken: "rt", ExpiresAt: now.Add(time.Hour), Lifetime: time.Hour, Scopes: []string{"read", "write"},
		}},
		"transient": {Class: tokenkeeper.ClassTransient, Code: "http_503", HTTPStatus: 503, Message: "unavailable"},
	}
	for name, o := range outcomes {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n, _ := p.Apply(c, prov, o, now, 0.5, 0.5)
				if n.NextRefreshAt.IsZero() {
					b.Fatal("nothing scheduled")
				}
			}
		})
	}
}
