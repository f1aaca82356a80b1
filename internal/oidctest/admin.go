package oidctest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
)

// Stats are the server's counters since it started (GET /__stats).
type Stats struct {
	// TokenRequests counts every POST to the token endpoint.
	TokenRequests int `json:"token_requests"`
	// RefreshRequests counts refresh_token grants received, injected faults
	// and rejected ones included; ByClient keys are the client id the request
	// claimed.
	RefreshRequests         int            `json:"refresh_requests"`
	RefreshRequestsByClient map[string]int `json:"refresh_requests_by_client"`
	// RefreshSuccesses counts refresh_token grants answered 200.
	RefreshSuccesses         int            `json:"refresh_successes"`
	RefreshSuccessesByClient map[string]int `json:"refresh_successes_by_client"`
	// CodeExchanges counts authorization_code grants answered 200.
	CodeExchanges int `json:"code_exchanges"`
	// InvalidGrant and InvalidClient count token endpoint answers with that
	// error (StrictClientAuth rejections included).
	InvalidGrant  int `json:"invalid_grant"`
	InvalidClient int `json:"invalid_client"`
	// ReuseDetections counts replays of a consumed refresh token; each one
	// revoked its grant.
	ReuseDetections int `json:"reuse_detections"`
	// GraceUses counts refreshes accepted with a rotated refresh token inside
	// Options.RotationGrace.
	GraceUses int `json:"grace_uses"`
	// Revocations counts revocation requests answered 200 (RFC 7009 answers
	// 200 for unknown tokens too).
	Revocations int `json:"revocations"`
	// FaultsInjected counts requests answered by Fault.
	FaultsInjected int `json:"faults_injected"`
}

// Stats returns the server's counters.
func (s *Server) Stats(t testing.TB) Stats {
	t.Helper()
	var st Stats
	s.getJSON(t, "/__stats", &st)
	return st
}

// Fault makes the next count token endpoint requests answer status without
// reaching the server's logic, with a Retry-After header of retryAfter
// seconds when it is positive. A 429 carries {"error":"rate_limited"}, other
// 4xx {"error":"injected_failure"}, 5xx a text body. Count 0 clears a fault.
// The requests still count in Stats.RefreshRequests.
func (s *Server) Fault(t testing.TB, status, count, retryAfter int) {
	t.Helper()
	q := url.Values{"status": {strconv.Itoa(status)}, "count": {strconv.Itoa(count)}}
	if retryAfter > 0 {
		q.Set("retry_after", strconv.Itoa(retryAfter))
	}
	resp := s.post(t, "/__fault?"+q.Encode(), "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("oidctest: set fault: status %d", resp.StatusCode)
	}
}

// Active reports whether token (an access or refresh token) is alive, asking
// the introspection endpoint (RFC 7662) as clientID. Unlike a refresh, this
// does not consume a rotating client's refresh token.
func (s *Server) Active(t testing.TB, clientID, token string) bool {
	t.Helper()
	resp := s.post(t, s.IntrospectURL, clientID, url.Values{"token": {token}})
	defer resp.Body.Close()
	var body struct {
		Active bool `json:"active"`
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("oidctest: introspect as %s: status %d", clientID, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("oidctest: decode introspection: %v", err)
	}
	return body.Active
}

// Revoke revokes token as clientID at the revocation endpoint (RFC 7009),
// as a user removing the app at the provider would. Revoking a refresh token
// revokes its whole grant.
func (s *Server) Revoke(t testing.TB, clientID, token string) {
	t.Helper()
	resp := s.post(t, s.RevokeURL, clientID, url.Values{"token": {token}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("oidctest: revoke as %s: status %d", clientID, resp.StatusCode)
	}
}

// post sends form to target (a URL, or a path on the issuer), authenticated
// as clientID with its registered style unless clientID is empty. The
// caller closes the body.
func (s *Server) post(t testing.TB, target, clientID string, form url.Values) *http.Response {
	t.Helper()
	if strings.HasPrefix(target, "/") {
		target = s.Issuer + target
	}
	if form == nil {
		form = url.Values{}
	}
	basic := false
	if clientID != "" {
		mustClient(clientID)
		basic = authMethod(clientID) == tokenkeeper.AuthBasic
		if !basic {
			form.Set("client_id", clientID)
			form.Set("client_secret", ClientSecret(clientID).Reveal())
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("oidctest: build request: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(ClientSecret(clientID).Reveal()))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("oidctest: POST %s: %v", req.URL.Path, err)
	}
	return resp
}
