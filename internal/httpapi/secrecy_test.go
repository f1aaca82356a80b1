package httpapi

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// TestSecretsStayOut links a connection and uses every route with errors
// and successes, then checks that the access and refresh tokens appear only
// in token responses, the e-mail address and API key in no response, and
// none of them, nor a query string or user id, in the logs.
func TestSecretsStayOut(t *testing.T) {
	t.Parallel()
	const (
		access   = "ya29.ACCESS-TOKEN-VALUE"
		refresh  = "1//REFRESH-TOKEN-VALUE"
		rejected = "ya29.OLD-ACCESS-VALUE"
		email    = "secret.person@example.com"
		userID   = "user-private-42"
	)
	e := setup(t)
	var conn *tokenkeeper.Connection
	e.keeper.link = func(ctx context.Context, r tokenkeeper.LinkRequest) (*tokenkeeper.Connection, bool, error) {
		conn = e.conn(func(c *tokenkeeper.Connection) {
			c.UserID = r.UserID
			c.SealedAccessToken = []byte(r.AccessToken.Reveal()) // as if unsealed: must still never show
			c.SealedRefreshToken = []byte(r.RefreshToken.Reveal())
		})
		return conn, true, nil
	}
	e.keeper.accessToken = func(ctx context.Context, id string, _ time.Duration) (*tokenkeeper.Token, *tokenkeeper.Connection, error) {
		if strings.Contains(id, "fail") {
			return nil, nil, &tokenkeeper.Error{Code: tokenkeeper.CodeTokenRefreshError, Message: "provider unavailable"}
		}
		return &tokenkeeper.Token{AccessToken: access, RefreshToken: refresh, ExpiresAt: baseTime.Add(time.Hour)}, conn, nil
	}
	e.keeper.refresh = func(ctx context.Context, id string, trigger tokenkeeper.Trigger, r tokenkeeper.Secret) (*tokenkeeper.Connection, error) {
		if r.Reveal() != rejected {
			t.Errorf("rejected token %q not passed on", r.Reveal())
		}
		panic("refresh exploded") // recovered as 500
	}
	e.keeper.disconnect = func(ctx context.Context, id string) (*tokenkeeper.Connection, error) {
		return conn, nil
	}
	steps := []struct {
		method, target, key string
		body                any
		token               bool // the response carries the access token
	}{
		{"POST", "/v1/connections", e.writer, map[string]any{"user_id": userID, "provider": "acme", "access_token": access, "refresh_token": refresh, "user_email": email, "expires_in": 60}, false},
		{"POST", "/v1/connections", e.writer, map[string]any{"user_id": userID, "provider": "nope", "access_token": access, "refresh_token": refresh, "user_email": email}, false},
		{"POST", "/v1/connections", e.writer, map[string]any{"user_id": userID, "provider": "acme", "access_token": 12345, "user_email": email}, false},
		{"POST", "/v1/connections", e.writer, `{"user_id":"` + userID + `","access_token":"` + access + `","bogus":1}`, false},
		{"POST", "/v1/connections", e.writer, map[string]any{"user_id": userID, "provider": "acme", "access_token": access, "user_email": "Secret Person <" + email + ">"}, false},
		{"GET", "/v1/connections?user_id=" + userID, e.reader, nil, false},
		{"GET", "/v1/connections/{id}", e.reader, nil, false},
		{"GET", "/v1/connections/{id}/token?min_validity=5m", e.reader, nil, true},
		{"GET", "/v1/users/" + userID + "/providers/acme/token", e.reader, nil, true},
		{"GET", "/v1/connections/conn_fail/token", e.reader, nil, false},
		{"POST", "/v1/connections/{id}/refresh", e.writer, map[string]any{"rejected_access_token": rejected}, false},
		{"DELETE", "/v1/connections/{id}", e.writer, nil, false},
		{"GET", "/v1/connections/{id}/token", e.writer, nil, false}, // 403
	}
	for _, s := range steps {
		target := s.target
		if conn != nil {
			target = strings.ReplaceAll(target, "{id}", conn.ID)
		}
		res := e.do(s.method, target, s.key, s.body)
		body := string(res.Body)
		for _, secret := range []string{refresh, rejected, email, e.reader, e.writer, e.admin} {
			if strings.Contains(body, secret) {
				t.Errorf("%s %s: response shows %q: %s", s.method, target, secret, body)
			}
		}
		if strings.Contains(body, access) != s.token {
			t.Errorf("%s %s: access token in response = %v, want %v: %s", s.method, target, !s.token, s.token, body)
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"route":"GET /v1/connections/{id}/token"`) || !strings.Contains(logs, "refresh exploded") {
		t.Fatalf("the logs miss the request lines:\n%s", logs)
	}
	for _, secret := range []string{access, refresh, rejected, email, e.reader, e.writer, e.admin, userID, "min_validity", "Bearer"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs show %q:\n%s", secret, logs)
		}
	}
}

// TestLogLevels: one line per request, Debug below 500 and Info from 500,
// with route pattern, status and key id.
func TestLogLevels(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var buf syncBuffer
	e.cfg.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e.keeper.disconnect = func(context.Context, string) (*tokenkeeper.Connection, error) {
		return nil, context.DeadlineExceeded
	}
	e.srv = New(e.cfg)
	e.do("GET", "/v1/connections", e.reader, nil)           // 200: Debug
	e.do("GET", "/v1/connections/conn_none", e.reader, nil) // 404: Debug
	wantError(t, e.do("DELETE", "/v1/connections/conn_x", e.admin, nil), 500, tokenkeeper.CodeInternal)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines at Info, want 1:\n%s", len(lines), buf.String())
	}
	for _, want := range []string{"level=INFO", `route="DELETE /v1/connections/{id}"`, "status=500", "code=INTERNAL", "api_key_id=key_", "context deadline exceeded", "duration="} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line lacks %s: %s", want, lines[0])
		}
	}
}
