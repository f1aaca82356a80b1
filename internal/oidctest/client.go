package oidctest

import (
	"fmt"
	"strings"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper"
)

// The clients server.mjs registers. Each one's secret is ClientSecret(id).
const (
	RotatingBasic = "rotating-basic"
	RotatingPost  = "rotating-post"
	StaticBasic   = "static-basic"
	StaticPost    = "static-post"
)

// Clients lists every client id, rotating ones first.
func Clients() []string {
	return []string{RotatingBasic, RotatingPost, StaticBasic, StaticPost}
}

// ClientSecret returns the secret of the client clientID.
func ClientSecret(clientID string) tokenkeeper.Secret {
	return tokenkeeper.Secret(clientID + "-secret")
}

// DefaultScopes returns the scopes the server grants, and that Grant and
// Config ask for when given none: "read" and "write".
func DefaultScopes() []string { return []string{"read", "write"} }

// mustClient panics unless clientID is one of Clients: naming another client
// is a mistake in the test, not a condition to handle.
func mustClient(clientID string) {
	for _, c := range Clients() {
		if c == clientID {
			return
		}
	}
	panic(fmt.Sprintf("oidctest: unknown client %q (want one of %v)", clientID, Clients()))
}

// authMethod returns the client's registered authentication style.
func authMethod(clientID string) tokenkeeper.AuthMethod {
	if strings.HasSuffix(clientID, "-post") {
		return tokenkeeper.AuthPost
	}
	return tokenkeeper.AuthBasic
}

// rotates reports whether the client's refresh tokens rotate.
func rotates(clientID string) bool { return strings.HasPrefix(clientID, "rotating-") }

// Provider returns tokenkeeper's view of this server for clientID, under
// name: its endpoints, the client's id, secret and authentication style,
// PKCE required, refresh supported, Rotates for rotating-* clients (with the
// server's RotationGrace), the refresh token lifetime (absolute for static-*
// clients, whose token never changes), and the scopes "read" and "write".
// It panics when clientID is not one of Clients.
func (s *Server) Provider(name, clientID string) *tokenkeeper.Provider {
	mustClient(clientID)
	rtTTL := s.opts.RefreshTokenTTL
	if rtTTL == 0 {
		rtTTL = defaultRefreshTokenTTL
	}
	p := &tokenkeeper.Provider{
		Name:                 name,
		DisplayName:          "oidc-provider " + clientID,
		AuthURL:              s.AuthURL,
		TokenURL:             s.TokenURL,
		RevokeURL:            s.RevokeURL,
		AuthMethod:           authMethod(clientID),
		PKCE:                 tokenkeeper.PKCERequired,
		ClientID:             clientID,
		ClientSecret:         ClientSecret(clientID),
		Scopes:               DefaultScopes(),
		ScopeSeparator:       " ",
		RefreshSupported:     true,
		Rotates:              rotates(clientID),
		RefreshTokenLifetime: rtTTL,
		RefreshTokenAbsolute: !rotates(clientID),
		Custom:               true,
	}
	if p.Rotates {
		p.RotationGrace = s.opts.RotationGrace
	}
	return p
}

// Config returns an x/oauth2 configuration for clientID with its explicit
// authentication style (never auto-detected), redirectURI (empty: the first
// registered one) and scopes (none: DefaultScopes). It panics when clientID
// is not one of Clients.
func (s *Server) Config(clientID, redirectURI string, scopes ...string) *oauth2.Config {
	mustClient(clientID)
	if redirectURI == "" {
		redirectURI = s.opts.RedirectURIs[0]
	}
	if len(scopes) == 0 {
		scopes = DefaultScopes()
	}
	style := oauth2.AuthStyleInHeader
	if authMethod(clientID) == tokenkeeper.AuthPost {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: ClientSecret(clientID).Reveal(),
		Endpoint:     oauth2.Endpoint{AuthURL: s.AuthURL, TokenURL: s.TokenURL, AuthStyle: style},
		RedirectURL:  redirectURI,
		Scopes:       scopes,
	}
}
