package providertest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/tokenkeeper/tokenkeeper"
)

// maxRequestBody bounds the request bodies the server reads.
const maxRequestBody = 64 << 10

// tokenResponse is the token endpoint's success body.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// token serves POST /token: the refresh_token and authorization_code grants.
// Refresh requests are counted before anything else, injected responses come
// next, then client authentication.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	params, ok := readParams(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid_request", "the request body cannot be read")
		return
	}
	grantType := params.Get("grant_type")
	s.mu.Lock()
	if grantType == "refresh_token" {
		s.refreshes++
		s.refreshesOf[params.Get("refresh_token")]++
	}
	inj := s.nextInjectedLocked()
	s.mu.Unlock()
	if inj != nil && s.serveInjected(w, r, inj) {
		return
	}
	if !s.authenticate(w, r, params) {
		return
	}
	switch grantType {
	case "refresh_token":
		s.refresh(w, params.Get("refresh_token"))
	case "authorization_code":
		s.exchange(w, params)
	default:
		writeError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be refresh_token or authorization_code")
	}
}

// refresh runs the refresh_token grant.
func (s *Server) refresh(w http.ResponseWriter, rt string) {
	s.mu.Lock()
	e := s.refreshTokens[rt]
	if e != nil && e.used {
		s.reuses++
	}
	switch {
	case e == nil || e.g.revoked:
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "invalid_grant", "grant revoked")
		return
	case e.used && s.opts.ReuseDetection:
		e.g.revoked = true
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "invalid_grant", "grant revoked: refresh token reuse detected")
		return
	case e.used:
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "invalid_grant", "invalid refresh token: it was rotated")
		return
	}
	g := e.g
	s.issueAccessLocked(g)
	resp := tokenResponse{AccessToken: g.access, TokenType: "Bearer", ExpiresIn: int64(s.opts.AccessTokenTTL.Seconds()), Scope: strings.Join(g.scopes, " ")}
	if s.opts.Rotate {
		e.used = true
		g.refresh = newToken("rt_")
		s.refreshTokens[g.refresh] = &refreshEntry{g: g}
		resp.RefreshToken = g.refresh
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

// exchange runs the authorization_code grant with PKCE verification. A code
// works once; presenting it again revokes the grant it produced.
func (s *Server) exchange(w http.ResponseWriter, params url.Values) {
	s.mu.Lock()
	c := s.codes[params.Get("code")]
	var problem string
	switch {
	case c == nil || s.opts.Now().After(c.expires):
		problem = "authorization code is invalid or expired"
	case c.used:
		problem = "authorization code was already used"
		if c.g != nil {
			c.g.revoked = true
		}
	case c.redirectURI != params.Get("redirect_uri"):
		problem = "redirect_uri does not match the authorization request"
	case c.challenge == "" && params.Get("code_verifier") != "":
		problem = "code_verifier sent for a code issued without code_challenge"
	case c.challenge != "" && challengeOf(params.Get("code_verifier")) != c.challenge:
		problem = "PKCE verification failed"
	}
	if problem != "" {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "invalid_grant", problem)
		return
	}
	c.used = true
	c.g = s.newGrantLocked(c.scopes, c.account)
	resp := tokenResponse{AccessToken: c.g.access, TokenType: "Bearer", ExpiresIn: int64(s.opts.AccessTokenTTL.Seconds()), RefreshToken: c.g.refresh, Scope: strings.Join(c.scopes, " ")}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

// authenticate enforces the configured client authentication style and
// answers 401 invalid_client when it fails.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, params url.Values) bool {
	ok := false
	_, bodySecret := params["client_secret"]
	switch s.opts.AuthMethod {
	case tokenkeeper.AuthBasic:
		user, pass, hasBasic := r.BasicAuth()
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		cid := params.Get("client_id")
		ok = hasBasic && !bodySecret && err1 == nil && err2 == nil &&
			id == s.opts.ClientID && secret == s.opts.ClientSecret && (cid == "" || cid == s.opts.ClientID)
	default:
		ok = r.Header.Get("Authorization") == "" &&
			params.Get("client_id") == s.opts.ClientID && params.Get("client_secret") == s.opts.ClientSecret
	}
	if !ok {
		if s.opts.AuthMethod == tokenkeeper.AuthBasic {
			w.Header().Set("WWW-Authenticate", `Basic realm="providertest"`)
		}
		writeError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
	}
	return ok
}

// readParams reads the query, a form body or a JSON object body of strings.
func readParams(r *http.Request) (url.Values, bool) {
	r.Body = http.MaxBytesReader(nil, r.Body, maxRequestBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		if r.ParseForm() != nil {
			return nil, false
		}
		return r.Form, true
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, false
	}
	var m map[string]string
	if json.Unmarshal(raw, &m) != nil {
		return nil, false
	}
	v := r.URL.Query()
	for k, s := range m {
		v.Set(k, s)
	}
	return v, true
}

// challengeOf returns the S256 code challenge of verifier.
func challengeOf(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// writeJSON writes v as a JSON answer that no cache may keep.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // only structs and maps of strings are written
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError writes an RFC 6749 §5.2 error answer.
func writeError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}
