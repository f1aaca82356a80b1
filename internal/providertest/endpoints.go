package providertest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// codeTTL is how long an authorization code can be exchanged.
const codeTTL = 10 * time.Minute

// authorize serves GET /authorize with immediate consent: it checks the
// client and the redirect URI (400 without redirecting when either is bad),
// then redirects (302) to redirect_uri with code and state, or with an error
// (unsupported_response_type, or invalid_request for a code_challenge_method
// other than S256). login_hint, when given, becomes the account id.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.opts.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !redirect.IsAbs() || redirect.Host == "" {
		http.Error(w, "redirect_uri must be an absolute URL", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	if state := q.Get("state"); state != "" {
		back.Set("state", state)
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case q.Get("response_type") != "code":
		back.Set("error", "unsupported_response_type")
	case challenge != "" && method != "S256":
		back.Set("error", "invalid_request")
		back.Set("error_description", "code_challenge_method must be S256")
	default:
		s.mu.Lock()
		account := q.Get("login_hint")
		if account == "" {
			s.accounts++
			account = "user-" + strconv.Itoa(s.accounts)
		}
		code := newToken("code_")
		s.codes[code] = &authCode{
			redirectURI: q.Get("redirect_uri"),
			challenge:   challenge,
			scopes:      strings.Fields(q.Get("scope")),
			account:     account,
			expires:     s.opts.Now().Add(codeTTL),
		}
		s.mu.Unlock()
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// revoke serves POST /revoke (RFC 7009): after client authentication, a
// known refresh or access token revokes its whole grant; unknown tokens are
// answered 200 too.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	params, ok := readParams(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid_request", "the request body cannot be read")
		return
	}
	s.mu.Lock()
	inj := s.nextInjectedLocked()
	s.mu.Unlock()
	if inj != nil && s.serveInjected(w, r, inj) {
		return
	}
	if !s.authenticate(w, r, params) {
		return
	}
	s.mu.Lock()
	s.revocations++
	s.mu.Unlock()
	token := params.Get("token")
	if token == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	s.mu.Lock()
	if e := s.refreshTokens[token]; e != nil {
		e.g.revoked = true
	} else if g := s.accessTokens[token]; g != nil {
		g.revoked = true
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// userinfo serves GET /userinfo: the current, unexpired access token of a
// live grant as a Bearer token gives {"id", "sub", "scope"}; anything else
// gets 401 invalid_token.
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	g := s.accessTokens[token]
	valid := ok && g != nil && !g.revoked && g.access == token && s.opts.Now().Before(g.accessExp)
	var account, scope string
	if valid {
		account, scope = g.account, strings.Join(g.scopes, " ")
	}
	s.mu.Unlock()
	if !valid {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid or expired")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": account, "sub": account, "scope": scope})
}
