package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// tokenKeeper answers AccessToken for the connections in the store with a
// token expiring 30 minutes after baseTime, and records min_validity.
func tokenKeeper(e *env, minValidity *time.Duration) {
	e.keeper.accessToken = func(ctx context.Context, id string, mv time.Duration) (*tokenkeeper.Token, *tokenkeeper.Connection, error) {
		*minValidity = mv
		c, err := e.store.GetConnection(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		return &tokenkeeper.Token{AccessToken: "at-" + tokenkeeper.Secret(id), RefreshToken: "rt-never-sent", ExpiresAt: baseTime.Add(30 * time.Minute)}, c, nil
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var mv time.Duration
	tokenKeeper(e, &mv)
	c := e.conn()
	tests := map[string]struct {
		query string
		want  time.Duration
	}{
		"default":         {"", 0},
		"go duration":     {"?min_validity=5m", 5 * time.Minute},
		"seconds":         {"?min_validity=90", 90 * time.Second},
		"compound":        {"?min_validity=1h30m", 90 * time.Minute},
		"zero":            {"?min_validity=0", 0},
		"other parameter": {"?foo=bar", 0},
	}
	for name, tc := range tests {
		res := e.do("GET", "/v1/connections/"+c.ID+"/token"+tc.query, e.reader, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", name, res.Status, res.Body)
		}
		v := res.JSON(t)
		if v["access_token"] != "at-"+c.ID || v["token_type"] != "Bearer" || v["expires_at"] != "2026-03-01T12:30:00Z" ||
			v["expires_in"] != 1800.0 || v["connection_id"] != c.ID || v["provider"] != "acme" ||
			strings.Join(anyStrings(v["scopes"]), " ") != "read write" {
			t.Errorf("%s: token = %s", name, res.Body)
		}
		if res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control = %q", name, res.Header.Get("Cache-Control"))
		}
		if mv != tc.want {
			t.Errorf("%s: min_validity %v, want %v", name, mv, tc.want)
		}
		if strings.Contains(string(res.Body), "rt-never-sent") {
			t.Errorf("%s: the refresh token was sent", name)
		}
	}
}

// TestTokenUnknownExpiry: a token without expiry has expires_at and
// expires_in null; an expired one has expires_in 0.
func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.conn()
	var expires time.Time
	e.keeper.accessToken = func(ctx context.Context, id string, _ time.Duration) (*tokenkeeper.Token, *tokenkeeper.Connection, error) {
		return &tokenkeeper.Token{AccessToken: "at", TokenType: "mac", ExpiresAt: expires, Scopes: []string{"only"}}, c, nil
	}
	v := e.do("GET", "/v1/connections/"+c.ID+"/token", e.reader, nil).JSON(t)
	if v["expires_at"] != nil || v["expires_in"] != nil || v["token_type"] != "mac" || anyStrings(v["scopes"])[0] != "only" {
		t.Errorf("token without expiry = %v", v)
	}
	expires = baseTime.Add(-time.Second)
	if v := e.do("GET", "/v1/connections/"+c.ID+"/token", e.reader, nil).JSON(t); v["expires_in"] != 0.0 {
		t.Errorf("expires_in of an expired token = %v, want 0", v["expires_in"])
	}
}

func TestUserToken(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var mv time.Duration
	tokenKeeper(e, &mv)
	first := e.conn(func(c *tokenkeeper.Connection) {
		c.UserID, c.AccountID, c.UpdatedAt = "u1", "acct-1", baseTime.Add(-time.Hour)
	})
	second := e.conn(func(c *tokenkeeper.Connection) { c.UserID, c.AccountID = "u1", "acct-2" })
	tests := map[string]struct {
		target string
		want   string
	}{
		"by account":     {"/v1/users/u1/providers/acme/token?account_id=acct-1&min_validity=10m", first.ID},
		"other account":  {"/v1/users/u1/providers/acme/token?account_id=acct-2", second.ID},
		"newest default": {"/v1/users/u1/providers/acme/token", second.ID},
	}
	for name, tc := range tests {
		res := e.do("GET", tc.target, e.reader, nil)
		if res.Status != http.StatusOK || res.JSON(t)["connection_id"] != tc.want || res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %s, want connection %s", name, res.Status, res.Body, tc.want)
		}
	}
	notFound := []string{
		"/v1/users/u2/providers/acme/token",
		"/v1/users/u1/providers/globex/token",
		"/v1/users/u1/providers/acme/token?account_id=acct-3",
	}
	for _, target := range notFound {
		wantError(t, e.do("GET", target, e.reader, nil), http.StatusNotFound, tokenkeeper.CodeAccountNotFound)
	}
}

// TestKeeperErrors maps each error the keeper returns to its status, code
// and extra fields, on the three routes that ask the keeper about one
// connection.
func TestKeeperErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		err          error
		status       int
		code         tokenkeeper.Code
		retryAfter   string
		reconnectURL bool
	}{
		"needs reauth":     {&tokenkeeper.Error{Code: tokenkeeper.CodeNeedsReauth, Message: "the user must reconnect"}, 409, tokenkeeper.CodeNeedsReauth, "", true},
		"no refresh token": {tokenkeeper.Errorf(tokenkeeper.CodeNoRefreshToken, "expired and no refresh token"), 409, tokenkeeper.CodeNoRefreshToken, "", false},
		"token expired":    {tokenkeeper.Errorf(tokenkeeper.CodeTokenExpired, "expired"), 409, tokenkeeper.CodeTokenExpired, "", false},
		"refresh error":    {&tokenkeeper.Error{Code: tokenkeeper.CodeTokenRefreshError, Message: "provider unavailable", RetryAfter: 2500 * time.Millisecond}, 503, tokenkeeper.CodeTokenRefreshError, "3", false},
		"refresh no delay": {tokenkeeper.Errorf(tokenkeeper.CodeTokenRefreshError, "provider unavailable"), 503, tokenkeeper.CodeTokenRefreshError, "1", false},
		"rate limited":     {&tokenkeeper.Error{Code: tokenkeeper.CodeRateLimited, Message: "slow down", RetryAfter: time.Minute}, 429, tokenkeeper.CodeRateLimited, "60", false},
		"conflict":         {tokenkeeper.ErrVersionConflict, 409, tokenkeeper.CodeConflict, "", false},
		"not found":        {tokenkeeper.ErrNotFound, 404, tokenkeeper.CodeAccountNotFound, "", false},
		"wrapped code":     {fmt.Errorf("refresh: %w", tokenkeeper.Errorf(tokenkeeper.CodeTokenExpired, "expired")), 409, tokenkeeper.CodeTokenExpired, "", false},
		"plain error":      {errors.New("disk on fire"), 500, tokenkeeper.CodeInternal, "", false},
		"unknown code":     {tokenkeeper.Errorf("SOMETHING_NEW", "new"), 500, tokenkeeper.CodeInternal, "", false},
		"payload too big":  {tokenkeeper.Errorf(tokenkeeper.CodePayloadTooLarge, "too big"), 400, tokenkeeper.CodeInvalidRequest, "", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			c := e.conn()
			e.keeper.accessToken = func(context.Context, string, time.Duration) (*tokenkeeper.Token, *tokenkeeper.Connection, error) {
				return nil, nil, tc.err
			}
			e.keeper.refresh = func(context.Context, string, tokenkeeper.Trigger, tokenkeeper.Secret) (*tokenkeeper.Connection, error) {
				return nil, tc.err
			}
			for _, target := range []string{
				"GET /v1/connections/" + c.ID + "/token",
				"GET /v1/users/" + c.UserID + "/providers/acme/token",
				"POST /v1/connections/" + c.ID + "/refresh",
			} {
				method, path, _ := strings.Cut(target, " ")
				res := e.do(method, path, e.admin, nil)
				wantError(t, res, tc.status, tc.code)
				detail := res.JSON(t)["error"].(map[string]any)
				if tc.retryAfter != "" {
					if res.Header.Get("Retry-After") != tc.retryAfter || fmt.Sprint(detail["retry_after"]) != tc.retryAfter {
						t.Errorf("%s: Retry-After %q, retry_after %v, want %s", target, res.Header.Get("Retry-After"), detail["retry_after"], tc.retryAfter)
					}
				} else if _, ok := detail["retry_after"]; ok {
					t.Errorf("%s: retry_after on %s", target, tc.code)
				}
				wantURL := "https://app.example/reconnect?connection=" + c.ID
				if got, _ := detail["reconnect_url"].(string); tc.reconnectURL != (got == wantURL) {
					t.Errorf("%s: reconnect_url = %q", target, got)
				}
				if tc.status == 500 && (detail["message"] != "internal error" || detail["connection_id"] != nil) {
					t.Errorf("%s: internal error shows %v", target, detail)
				}
				if tc.status < 500 && tc.status != 400 && detail["connection_id"] != c.ID {
					t.Errorf("%s: connection_id = %v", target, detail["connection_id"])
				}
			}
			if tc.status == 500 && strings.Count(e.logs.String(), "disk on fire") != 3*boolInt(name == "plain error") {
				t.Errorf("the cause is not logged once per request:\n%s", e.logs)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func anyStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}
