package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

func TestLink(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var got []tokenkeeper.LinkRequest
	e.keeper.link = func(ctx context.Context, r tokenkeeper.LinkRequest) (*tokenkeeper.Connection, bool, error) {
		got = append(got, r)
		c, err := e.store.FindConnection(ctx, r.UserID, r.Provider, r.AccountID)
		if err == nil {
			return c, false, nil
		}
		return e.conn(func(c *tokenkeeper.Connection) {
			c.UserID, c.Provider, c.AccountID, c.Scopes = r.UserID, r.Provider, r.AccountID, r.Scopes
		}), true, nil
	}
	body := map[string]any{
		"user_id":                  "user-1",
		"provider":                 "acme",
		"account_id":               "acct-1",
		"access_token":             "at-secret",
		"refresh_token":            "rt-secret",
		"expires_in":               3600,
		"refresh_token_expires_at": "2026-09-01T00:00:00+02:00",
		"scopes":                   []string{"read", "write"},
		"user_email":               "ann@example.com",
	}
	res := e.do("POST", "/v1/connections", e.writer, body)
	if res.Status != http.StatusCreated {
		t.Fatalf("first link: %d %s", res.Status, res.Body)
	}
	v := res.JSON(t)
	if res.Header.Get("Location") != "/v1/connections/"+v["id"].(string) {
		t.Errorf("Location = %q for id %v", res.Header.Get("Location"), v["id"])
	}
	if v["user_id"] != "user-1" || v["provider"] != "acme" || v["account_id"] != "acct-1" || v["status"] != "connected" {
		t.Errorf("connection = %s", res.Body)
	}
	r := got[0]
	want := tokenkeeper.LinkRequest{
		UserID: "user-1", Provider: "acme", AccountID: "acct-1", Scopes: []string{"read", "write"},
		AccessToken: "at-secret", RefreshToken: "rt-secret", ExpiresIn: time.Hour,
		RefreshTokenExpiresAt: time.Date(2026, 8, 31, 22, 0, 0, 0, time.UTC), UserEmail: "ann@example.com",
	}
	if r.UserID != want.UserID || r.Provider != want.Provider || r.AccountID != want.AccountID ||
		!slices.Equal(r.Scopes, want.Scopes) || r.AccessToken != want.AccessToken || r.RefreshToken != want.RefreshToken ||
		r.ExpiresIn != want.ExpiresIn || !r.ExpiresAt.IsZero() || !r.RefreshTokenExpiresAt.Equal(want.RefreshTokenExpiresAt) ||
		r.UserEmail != want.UserEmail {
		t.Errorf("LinkRequest = %#v\nwant %#v", r, want)
	}

	// The same (user, provider, account) again is a re-link: 200.
	delete(body, "expires_in")
	body["expires_at"] = "2026-03-01T14:00:00Z"
	res = e.do("POST", "/v1/connections", e.admin, body)
	if res.Status != http.StatusOK || res.JSON(t)["id"] != v["id"] {
		t.Fatalf("re-link: %d %s", res.Status, res.Body)
	}
	if !got[1].ExpiresAt.Equal(baseTime.Add(2*time.Hour)) || got[1].ExpiresIn != 0 {
		t.Errorf("re-link expiry = %v / %v", got[1].ExpiresAt, got[1].ExpiresIn)
	}
}

// TestLinkMinimal: only user_id, provider and access_token are required.
func TestLinkMinimal(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.keeper.link = func(ctx context.Context, r tokenkeeper.LinkRequest) (*tokenkeeper.Connection, bool, error) {
		if r.AccountID != "" || !r.ExpiresAt.IsZero() || r.ExpiresIn != 0 || r.RefreshToken != "" {
			t.Errorf("LinkRequest = %#v", r)
		}
		return e.conn(func(c *tokenkeeper.Connection) {
			c.AccountID, c.Scopes, c.ExpiresAt, c.NextRefreshAt, c.LastRefreshedAt, c.SealedRefreshToken = "", nil, time.Time{}, time.Time{}, time.Time{}, nil
		}), true, nil
	}
	res := e.do("POST", "/v1/connections", e.writer, `{"user_id":"u","provider":"globex","access_token":"a"}`)
	if res.Status != http.StatusCreated {
		t.Fatalf("link: %d %s", res.Status, res.Body)
	}
	v := res.JSON(t)
	for _, field := range []string{"expires_at", "next_refresh_at", "last_refreshed_at", "refresh_token_expires_at", "last_error"} {
		if v[field] != nil {
			t.Errorf("%s = %v, want null", field, v[field])
		}
	}
	if v["has_refresh_token"] != false || fmt.Sprint(v["scopes"]) != "[]" {
		t.Errorf("connection = %s", res.Body)
	}
}

func TestGetConnection(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.conn(func(c *tokenkeeper.Connection) {
		c.Status = tokenkeeper.StatusNeedsReauth
		c.ConsecutiveFailures = 3
		c.ConsecutiveTransientFailures = 1
		c.RefreshTokenExpiresAt = baseTime.Add(90 * 24 * time.Hour)
		c.LastError = &tokenkeeper.LastError{Class: tokenkeeper.ClassRevoked, Code: "invalid_grant", HTTPStatus: 400, Message: "Token has been revoked", At: baseTime}
	})
	for _, key := range []string{e.reader, e.writer, e.admin} {
		res := e.do("GET", "/v1/connections/"+c.ID, key, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("get: %d %s", res.Status, res.Body)
		}
		v := res.JSON(t)
		le := v["last_error"].(map[string]any)
		if v["id"] != c.ID || v["status"] != "needs_reauth" || v["consecutive_failures"] != 3.0 ||
			v["consecutive_transient_failures"] != 1.0 || v["version"] != float64(c.Version) ||
			v["expires_at"] != "2026-03-01T13:00:00Z" || v["refresh_token_expires_at"] != "2026-05-30T12:00:00Z" ||
			v["has_refresh_token"] != true || le["class"] != "revoked" || le["http_status"] != 400.0 || le["at"] != "2026-03-01T12:00:00Z" {
			t.Errorf("connection = %s", res.Body)
		}
	}
	wantError(t, e.do("GET", "/v1/connections/conn_missing", e.reader, nil), http.StatusNotFound, tokenkeeper.CodeAccountNotFound)
}

func TestListConnections(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var ids []string
	for i := range 5 {
		c := e.conn(func(c *tokenkeeper.Connection) {
			c.UserID = "user-a"
			c.ExpiresAt = baseTime.Add(time.Duration(i+1) * 10 * time.Minute)
			if i == 4 {
				c.UserID, c.Provider, c.Status = "user-b", "globex", tokenkeeper.StatusExpired
			}
		})
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)

	list := func(query string) (got []string, next any) {
		t.Helper()
		res := e.do("GET", "/v1/connections"+query, e.reader, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("list %s: %d %s", query, res.Status, res.Body)
		}
		v := res.JSON(t)
		for _, c := range v["connections"].([]any) {
			got = append(got, c.(map[string]any)["id"].(string))
		}
		return got, v["next_cursor"]
	}
	// Pages of 2 cover all five in id order.
	var all []string
	query := "?limit=2"
	for range 3 {
		page, next := list(query)
		all = append(all, page...)
		if next == nil {
			break
		}
		query = "?limit=2&cursor=" + next.(string)
	}
	if !slices.Equal(all, ids) {
		t.Errorf("pages = %v, want %v", all, ids)
	}
	filters := map[string]int{
		"":                                  5,
		"?user_id=user-a":                   4,
		"?provider=globex":                  1,
		"?status=expired":                   1,
		"?status=connected&user_id=user-b":  0,
		"?expiring_within=20m":              2,
		"?expiring_within=1800":             3,
		"?expiring_within=1h&provider=acme": 4,
		"?limit=1000":                       5,
	}
	for q, n := range filters {
		if got, _ := list(q); len(got) != n {
			t.Errorf("list%s = %d connections, want %d", q, len(got), n)
		}
	}
	if _, next := list(""); next != nil {
		t.Errorf("next_cursor of the last page = %v, want null", next)
	}
}

func TestDisconnect(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.conn()
	e.keeper.disconnect = func(ctx context.Context, id string) (*tokenkeeper.Connection, error) {
		if id != c.ID {
			return nil, tokenkeeper.ErrNotFound
		}
		d := c.Clone()
		d.Status, d.SealedAccessToken, d.SealedRefreshToken, d.NextRefreshAt = tokenkeeper.StatusDisconnected, nil, nil, time.Time{}
		return d, nil
	}
	res := e.do("DELETE", "/v1/connections/"+c.ID, e.writer, nil)
	if v := res.JSON(t); res.Status != http.StatusOK || v["status"] != "disconnected" || v["has_refresh_token"] != false {
		t.Fatalf("disconnect: %d %s", res.Status, res.Body)
	}
	wantError(t, e.do("DELETE", "/v1/connections/conn_other", e.writer, nil), http.StatusNotFound, tokenkeeper.CodeAccountNotFound)
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.conn()
	type call struct {
		id       string
		trigger  tokenkeeper.Trigger
		rejected tokenkeeper.Secret
	}
	var calls []call
	e.keeper.refresh = func(ctx context.Context, id string, trigger tokenkeeper.Trigger, rejected tokenkeeper.Secret) (*tokenkeeper.Connection, error) {
		calls = append(calls, call{id, trigger, rejected})
		return c, nil
	}
	bodies := map[string]struct {
		body any
		want call
	}{
		"no body":        {nil, call{c.ID, tokenkeeper.TriggerManual, ""}},
		"empty object":   {`{}`, call{c.ID, tokenkeeper.TriggerManual, ""}},
		"rejected token": {`{"rejected_access_token":"at-old"}`, call{c.ID, tokenkeeper.TriggerRejected, "at-old"}},
	}
	for name, tc := range bodies {
		calls = nil
		res := e.do("POST", "/v1/connections/"+c.ID+"/refresh", e.writer, tc.body)
		if res.Status != http.StatusOK || res.JSON(t)["id"] != c.ID {
			t.Fatalf("%s: %d %s", name, res.Status, res.Body)
		}
		if len(calls) != 1 || calls[0] != tc.want {
			t.Errorf("%s: keeper calls %+v, want %+v", name, calls, tc.want)
		}
	}
	wantError(t, e.do("POST", "/v1/connections/"+c.ID+"/refresh", e.writer, `{"rejected":"x"}`), 400, tokenkeeper.CodeInvalidRequest)
}
