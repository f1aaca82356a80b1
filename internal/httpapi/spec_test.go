package httpapi

import (
	"net/http"
	"testing"
)

// TestCheckResponse shows that the validation every test runs on every
// response can fail: each response here departs from the document.
func TestCheckResponse(t *testing.T) {
	t.Parallel()
	jsonHeader := func(extra ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}, "X-Content-Type-Options": {"nosniff"}}
		for i := 0; i < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return h
	}
	conn := `{"id":"c","user_id":"u","provider":"acme","account_id":"a","scopes":[],"status":"connected","has_refresh_token":true,` +
		`"expires_at":null,"refresh_token_expires_at":null,"consecutive_failures":0,"consecutive_transient_failures":0,` +
		`"last_refreshed_at":null,"last_error":null,"next_refresh_at":null,"version":1,"created_at":null,"updated_at":null}`
	tests := map[string]struct {
		method, target string
		res            response
		ok             bool
	}{
		"valid connection":      {"GET", "/v1/connections/c", response{200, jsonHeader(), []byte(conn)}, true},
		"extra field":           {"GET", "/v1/connections/c", response{200, jsonHeader(), []byte(conn[:len(conn)-1] + `,"access_token":"x"}`)}, false},
		"missing field":         {"GET", "/v1/connections/c", response{200, jsonHeader(), []byte(`{"id":"c"}`)}, false},
		"bad status value":      {"GET", "/v1/connections/c", response{200, jsonHeader(), []byte(`{"status":"fine"}`)}, false},
		"undocumented status":   {"GET", "/v1/connections/c", response{418, jsonHeader(), []byte(`{"error":{"code":"INTERNAL","message":"x"}}`)}, false},
		"unknown error code":    {"GET", "/v1/connections/c", response{404, jsonHeader(), []byte(`{"error":{"code":"GONE","message":"x"}}`)}, false},
		"text content type":     {"GET", "/healthz", response{200, http.Header{"Content-Type": {"text/plain"}, "X-Content-Type-Options": {"nosniff"}}, []byte(`{"status":"ok"}`)}, false},
		"no nosniff":            {"GET", "/healthz", response{200, http.Header{"Content-Type": {"application/json"}}, []byte(`{"status":"ok"}`)}, false},
		"unknown route 200":     {"GET", "/v1/other", response{200, jsonHeader(), []byte(`{}`)}, false},
		"unknown route 404":     {"GET", "/v1/other", response{404, jsonHeader(), []byte(`{"error":{"code":"NOT_FOUND","message":"no such route"}}`)}, true},
		"unknown route no body": {"GET", "/v1/other", response{404, jsonHeader(), []byte(`404 page not found`)}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := checkResponse(newRequest(tc.method, tc.target, "", ""), &tc.res)
			if (err == nil) != tc.ok {
				t.Errorf("checkResponse = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
