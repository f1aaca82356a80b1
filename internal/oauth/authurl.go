package oauth

import (
	"net/url"
	"sort"
	"strings"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper"
)

// reservedAuthParams are the authorization request parameters tokenkeeper
// sets itself; Provider.AuthParams cannot override them.
var reservedAuthParams = map[string]bool{
	"response_type": true, "client_id": true, "redirect_uri": true, "state": true,
	"scope": true, "code_challenge": true, "code_challenge_method": true,
}

// oauthConfig returns p as an x/oauth2 configuration with an explicit
// AuthStyle: never AuthStyleAutoDetect, which retries with the other style.
func oauthConfig(p *tokenkeeper.Provider, redirectURI string) *oauth2.Config {
	style := oauth2.AuthStyleInParams
	if p.AuthMethod == tokenkeeper.AuthBasic {
		style = oauth2.AuthStyleInHeader
	}
	return &oauth2.Config{
		ClientID:    p.ClientID,
		RedirectURL: redirectURI,
		Endpoint:    oauth2.Endpoint{AuthURL: p.AuthURL, TokenURL: p.TokenURL, AuthStyle: style},
	}
}

// AuthCodeURL returns the URL of p's authorization endpoint that starts the
// authorization-code flow: response_type=code, the client id (under
// RefreshQuirks.ClientIDParam when set), redirectURI, state, the scopes (or
// p.Scopes when scopes is empty) joined with p.ScopeSeparator (default a
// space), p.AuthParams, and code_challenge with code_challenge_method=S256
// when codeChallenge is not empty (pass "" for providers with PKCE "no").
// It returns "" when p is nil.
func (c *Client) AuthCodeURL(p *tokenkeeper.Provider, redirectURI, state, codeChallenge string, scopes []string) string {
	if p == nil {
		return ""
	}
	var opts []oauth2.AuthCodeOption
	keys := make([]string, 0, len(p.AuthParams))
	for k := range p.AuthParams {
		if !reservedAuthParams[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		opts = append(opts, oauth2.SetAuthURLParam(k, p.AuthParams[k]))
	}
	if len(scopes) == 0 {
		scopes = p.Scopes
	}
	if len(scopes) > 0 {
		sep := p.ScopeSeparator
		if sep == "" {
			sep = " "
		}
		opts = append(opts, oauth2.SetAuthURLParam("scope", strings.Join(scopes, sep)))
	}
	if codeChallenge != "" {
		opts = append(opts, oauth2.SetAuthURLParam("code_challenge", codeChallenge), oauth2.SetAuthURLParam("code_challenge_method", "S256"))
	}
	u := oauthConfig(p, redirectURI).AuthCodeURL(state, opts...)
	if name := p.Refresh.ClientIDParam; name != "" && name != "client_id" {
		if parsed, err := url.Parse(u); err == nil {
			q := parsed.Query()
			q.Del("client_id")
			q.Set(name, p.ClientID)
			parsed.RawQuery = q.Encode()
			u = parsed.String()
		}
	}
	return u
}

// NewVerifier returns a new PKCE code verifier (RFC 7636): 32 random bytes,
// base64url-encoded.
func NewVerifier() string { return oauth2.GenerateVerifier() }

// Challenge returns the S256 code challenge of verifier.
func Challenge(verifier string) string { return oauth2.S256ChallengeFromVerifier(verifier) }
