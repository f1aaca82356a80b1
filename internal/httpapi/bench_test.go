package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// benchConn is a connection as GET /v1/connections/{id} shows it, with a
// last error so that every field is encoded.
func benchConn(now time.Time) *tokenkeeper.Connection {
	return &tokenkeeper.Connection{
		ID: "conn_2b3c4d5e6f7g8h9i0j1k2l3m4n", UserID: "user-1234", Provider: "google", AccountID: "acct-1",
		Scopes: []string{"openid", "email", "https://www.googleapis.com/auth/calendar"}, Status: tokenkeeper.StatusConnected,
		ExpiresAt: now.Add(time.Hour), LastRefreshedAt: now, NextRefreshAt: now.Add(50 * time.Minute), Version: 12,
		ConsecutiveTransientFailures: 1,
		LastError:                    &tokenkeeper.LastError{Class: tokenkeeper.ClassTransient, Code: "http_503", HTTPStatus: 503, Message: "service unavailable", At: now.Add(-time.Minute)},
		SealedRefreshToken:           []byte{1}, CreatedAt: now.Add(-24 * time.Hour), UpdatedAt: now,
	}
}

// BenchmarkEncodeTokenView is the body of GET …/token, the hot read path:
// building the view and marshalling it as writeJSON does.
func BenchmarkEncodeTokenView(b *testing.B) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := benchConn(now)
	access := "ya29.a0AfB_" + strings.Repeat("x", 190) // about the size of a Google access token
	tok := &tokenkeeper.Token{AccessToken: tokenkeeper.Secret(access), TokenType: "Bearer", ExpiresAt: c.ExpiresAt, Scopes: c.Scopes}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(viewToken(tok, c, now)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeConnectionView is the body of GET /v1/connections/{id},
// and a page of 100 as GET /v1/connections returns it.
func BenchmarkEncodeConnectionView(b *testing.B) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := benchConn(now)
	b.Run("one", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(viewConnection(c)); err != nil {
				b.Fatal(err)
			}
		}
	})
	page := make([]*tokenkeeper.Connection, 100)
	for i := range page {
		page[i] = c
	}
	b.Run("page of 100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(viewConnections(page, "conn_next")); err != nil {
				b.Fatal(err)
			}
		}
	})
}
