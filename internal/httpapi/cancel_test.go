package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// TestClientClosedRequest: a request whose client goes away while the
// keeper works is recorded as 499 CLIENT_CLOSED_REQUEST at debug level, not
// as a 500 with "context canceled"; a cancellation inside the service while
// the client still waits remains a 500.
func TestClientClosedRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		clientLeaves bool
		status       int
		level        string
	}{
		{"the client leaves", true, statusClientClosed, "DEBUG"},
		{"the client waits", false, http.StatusInternalServerError, "INFO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var recorded []int
			e := setup(t, func(c *Config) {
				c.OnResponse = func(_ string, status int, _ time.Duration) { recorded = append(recorded, status) }
			})
			c := e.conn()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			e.keeper.accessToken = func(context.Context, string, time.Duration) (*tokenkeeper.Token, *tokenkeeper.Connection, error) {
				if tc.clientLeaves {
					cancel()
					<-ctx.Done()
					return nil, nil, ctx.Err()
				}
				return nil, nil, fmt.Errorf("read connection: %w", context.Canceled)
			}
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:8080/v1/connections/"+c.ID+"/token", nil)
			req.Header.Set("Authorization", "Bearer "+e.reader)
			rec := httptest.NewRecorder()
			e.srv.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if len(recorded) != 1 || recorded[0] != tc.status {
				t.Fatalf("OnResponse saw %v, want [%d]", recorded, tc.status)
			}
			var line struct {
				Level  string `json:"level"`
				Status int    `json:"status"`
			}
			for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
				if strings.Contains(l, `"msg":"http request"`) {
					if err := json.Unmarshal([]byte(l), &line); err != nil {
						t.Fatal(err)
					}
				}
			}
			if line.Status != tc.status || line.Level != tc.level {
				t.Fatalf("request logged at %s with status %d, want %s and %d: %s", line.Level, line.Status, tc.level, tc.status, e.logs.String())
			}
		})
	}
}
