package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/tokenkeeper/tokenkeeper"
)

// spec is one token endpoint request before it is sent.
type spec struct {
	grant    string // for logs: "refresh_token", "authorization_code", "revoke"
	method   string // GET or POST
	endpoint string
	params   url.Values
	json     bool // body is a JSON object rather than a form
	auth     bool // add client credentials in p.AuthMethod's style
}

// configOutcome is the outcome of a request that cannot be sent as configured.
func configOutcome(code, msg string) *tokenkeeper.Outcome {
	return &tokenkeeper.Outcome{Class: tokenkeeper.ClassConfig, Code: code, Message: msg}
}

// refreshSpec builds a refresh request from p's quirks, or returns the outcome
// that explains why none can be sent.
func refreshSpec(p *tokenkeeper.Provider, refreshToken, accessToken tokenkeeper.Secret) (*spec, *tokenkeeper.Outcome) {
	q := p.Refresh
	sent := refreshToken
	if q.RefreshWithAccessToken {
		sent = accessToken
	}
	if sent.IsZero() {
		return nil, &tokenkeeper.Outcome{Class: tokenkeeper.ClassPermanent, Code: "no_refresh_token", Message: "there is no token to refresh with"}
	}
	endpoint := q.URL
	if endpoint == "" {
		endpoint = p.TokenURL
	}
	s := &spec{grant: "refresh_token", method: http.MethodPost, endpoint: endpoint, params: url.Values{}, auth: !q.RefreshWithAccessToken}
	switch strings.ToUpper(q.Method) {
	case "", http.MethodPost:
	case http.MethodGet:
		s.method = http.MethodGet
	default:
		return nil, configOutcome("invalid_refresh_method", "the provider's refresh method must be GET or POST")
	}
	switch strings.ToLower(q.Body) {
	case "", "form":
	case "json":
		s.json = true
	default:
		return nil, configOutcome("invalid_refresh_body", "the provider's refresh body must be form or json")
	}
	for k, v := range q.Params {
		s.params.Set(k, v)
	}
	grant := q.GrantType
	if grant == "" {
		grant = "refresh_token"
	}
	param := q.TokenParam
	if param == "" {
		param = "refresh_token"
	}
	s.params.Set("grant_type", grant)
	s.params.Set(param, sent.Reveal())
	return s, nil
}

// exchangeSpec builds an authorization_code request. Of the refresh quirks it
// honours Body, ClientIDParam, Headers, TokenPath and ErrorIn200.
func exchangeSpec(p *tokenkeeper.Provider, code, redirectURI, codeVerifier string) *spec {
	s := &spec{grant: "authorization_code", method: http.MethodPost, endpoint: p.TokenURL, params: url.Values{}, auth: true, json: strings.EqualFold(p.Refresh.Body, "json")}
	s.params.Set("grant_type", "authorization_code")
	s.params.Set("code", code)
	if redirectURI != "" {
		s.params.Set("redirect_uri", redirectURI)
	}
	if codeVerifier != "" {
		s.params.Set("code_verifier", codeVerifier)
	}
	return s
}

// revokeSpec builds an RFC 7009 revocation request (always a form POST).
func revokeSpec(p *tokenkeeper.Provider, token tokenkeeper.Secret, hint string) *spec {
	s := &spec{grant: "revoke", method: http.MethodPost, endpoint: p.RevokeURL, params: url.Values{}, auth: true}
	s.params.Set("token", token.Reveal())
	if hint != "" {
		s.params.Set("token_type_hint", hint)
	}
	return s
}

// newRequest turns s into an HTTP request for p, adding client credentials
// in p.AuthMethod's style, or returns a config outcome when p lacks them.
func (c *Client) newRequest(ctx context.Context, p *tokenkeeper.Provider, s *spec) (*http.Request, *tokenkeeper.Outcome) {
	u, err := url.Parse(s.endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, configOutcome("invalid_token_url", "the provider's endpoint URL is missing or not an absolute http(s) URL")
	}
	basic := false
	if s.auth {
		if p.ClientID == "" || p.ClientSecret.IsZero() {
			return nil, configOutcome("missing_client_credentials", "the provider's client id or client secret is not configured")
		}
		switch p.AuthMethod {
		case tokenkeeper.AuthBasic:
			basic = true
		case tokenkeeper.AuthPost:
			idParam := p.Refresh.ClientIDParam
			if idParam == "" {
				idParam = "client_id"
			}
			s.params.Set(idParam, p.ClientID)
			s.params.Set("client_secret", p.ClientSecret.Reveal())
		default:
			return nil, configOutcome("invalid_auth_method", "the provider's auth_method must be basic or post")
		}
	}
	var req *http.Request
	if s.method == http.MethodGet {
		q := u.Query()
		for k, vs := range s.params {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	} else {
		var body string
		ctype := "application/x-www-form-urlencoded"
		if s.json {
			ctype = "application/json"
			body = jsonObject(s.params)
		} else {
			body = s.params.Encode()
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", ctype)
		}
	}
	if err != nil {
		return nil, configOutcome("invalid_token_url", "the provider's endpoint URL cannot be requested")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	for k, v := range p.Refresh.Headers {
		req.Header.Set(k, v)
	}
	if basic {
		// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(p.ClientID), url.QueryEscape(p.ClientSecret.Reveal()))
	}
	return req, nil
}

// jsonObject encodes single-valued params as a JSON object of strings.
func jsonObject(params url.Values) string {
	m := make(map[string]string, len(params))
	for k, vs := range params {
		if len(vs) > 0 {
			m[k] = vs[0]
		}
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	return string(b)
}
