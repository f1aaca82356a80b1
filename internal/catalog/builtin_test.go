package catalog

import (
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// builtinNames are the 19 providers the embedded catalog must have.
var builtinNames = []string{
	"atlassian", "discord", "dropbox", "github", "github-app", "google", "hubspot",
	"instagram", "linkedin", "microsoft", "notion", "reddit", "salesforce", "slack",
	"spotify", "tiktok", "twitch", "x", "zoom",
}

func builtin(t *testing.T) *Catalog {
	t.Helper()
	c, err := Builtin()
	if err != nil {
		t.Fatalf("Builtin: %v", err)
	}
	return c
}

func TestBuiltinHasEveryProvider(t *testing.T) {
	t.Parallel()
	c := builtin(t)
	if got := c.Names(); !slices.Equal(got, builtinNames) {
		t.Fatalf("names = %v, want %v", got, builtinNames)
	}
	var sorted []string
	for _, p := range c.Providers() {
		sorted = append(sorted, p.Name)
	}
	if !slices.Equal(sorted, builtinNames) {
		t.Errorf("Providers() order = %v, want sorted %v", sorted, builtinNames)
	}
}

func TestBuiltinProvidersAreComplete(t *testing.T) {
	t.Parallel()
	c := builtin(t)
	for _, p := range c.Providers() {
		t.Run(p.Name, func(t *testing.T) {
			t.Parallel()
			if err := c.Validate(p.Name); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if p.Custom {
				t.Error("builtin provider marked custom")
			}
			if p.DisplayName == "" || p.DisplayName == p.Name {
				t.Errorf("display_name = %q, want a real name", p.DisplayName)
			}
			if p.AuthMethod != tokenkeeper.AuthBasic && p.AuthMethod != tokenkeeper.AuthPost {
				t.Errorf("auth_method = %q", p.AuthMethod)
			}
			for _, u := range []string{p.AuthURL, p.TokenURL} {
				pu, err := url.Parse(u)
				if err != nil || pu.Scheme != "https" || pu.Host == "" {
					t.Errorf("URL %q is not an absolute https URL", u)
				}
			}
			for _, u := range []string{p.RevokeURL, p.AccountURL, p.Refresh.URL} {
				if u != "" && !strings.HasPrefix(u, "https://") {
					t.Errorf("URL %q is not https", u)
				}
			}
			if p.ClientID != "" || !p.ClientSecret.IsZero() || c.Configured(p.Name) {
				t.Error("builtin provider carries credentials")
			}
			if p.RefreshSupported && p.AccessTokenLifetime == 0 && p.Name != "twitch" {
				t.Error("no access_token_lifetime fallback") // Twitch's varies; expires_in always applies
			}
		})
	}
}

func TestBuiltinFacts(t *testing.T) {
	t.Parallel()
	c := builtin(t)
	tests := []struct {
		name  string
		check func(p *tokenkeeper.Provider) bool
	}{
		{"github", func(p *tokenkeeper.Provider) bool {
			return !p.RefreshSupported && p.Refresh.ErrorIn200 && p.Refresh.Headers["Accept"] == "application/json"
		}},
		{"github-app", func(p *tokenkeeper.Provider) bool {
			return p.RefreshSupported && p.Rotates && p.AccessTokenLifetime == 8*time.Hour &&
				p.RefreshTokenLifetime == 15811200*time.Second && !p.RefreshTokenAbsolute
		}},
		{"reddit", func(p *tokenkeeper.Provider) bool {
			return p.Refresh.Headers["User-Agent"] != "" && p.AuthParams["duration"] == "permanent" &&
				p.AuthMethod == tokenkeeper.AuthBasic
		}},
		{"tiktok", func(p *tokenkeeper.Provider) bool {
			return p.Refresh.ClientIDParam == "client_key" && p.ScopeSeparator == "," && p.Rotates
		}},
		{"notion", func(p *tokenkeeper.Provider) bool {
			return p.Refresh.Body == "json" && p.AuthMethod == tokenkeeper.AuthBasic && p.Rotates
		}},
		{"instagram", func(p *tokenkeeper.Provider) bool {
			q := p.Refresh
			return q.Method == "GET" && q.URL == "https://graph.instagram.com/refresh_access_token" &&
				q.GrantType == "ig_refresh_token" && q.TokenParam == "access_token" && q.RefreshWithAccessToken
		}},
		{"salesforce", func(p *tokenkeeper.Provider) bool {
			return p.Refresh.NoExpiresIn && p.AccessTokenLifetime == 2*time.Hour
		}},
		{"linkedin", func(p *tokenkeeper.Provider) bool {
			return p.RefreshBefore == 240*time.Hour && p.AccessTokenLifetime == 60*24*time.Hour &&
				p.RefreshTokenLifetime == 365*24*time.Hour && p.RefreshTokenAbsolute && p.PKCE == tokenkeeper.PKCENo
		}},
		{"google", func(p *tokenkeeper.Provider) bool {
			return p.AuthParams["access_type"] == "offline" && p.AuthParams["prompt"] == "consent" &&
				p.AccountIDField == "sub" && p.Keepalive > 0 && p.Keepalive < 180*24*time.Hour
		}},
		{"spotify", func(p *tokenkeeper.Provider) bool {
			return p.AuthMethod == tokenkeeper.AuthBasic && p.RefreshTokenAbsolute &&
				p.RefreshTokenLifetime >= 180*24*time.Hour && p.AccountURL == "https://api.spotify.com/v1/me"
		}},
		{"discord", func(p *tokenkeeper.Provider) bool {
			return p.AccountURL == "https://discord.com/api/users/@me" && p.AccountIDField == "id" && p.RevokeURL != ""
		}},
		{"microsoft", func(p *tokenkeeper.Provider) bool {
			return slices.Contains(p.Scopes, "offline_access") && strings.Contains(p.TokenURL, "/common/")
		}},
		{"slack", func(p *tokenkeeper.Provider) bool { return p.Rotates && p.ScopeSeparator == "," }},
		{"x", func(p *tokenkeeper.Provider) bool {
			return slices.Contains(p.Scopes, "offline.access") && p.PKCE == tokenkeeper.PKCERequired
		}},
		{"atlassian", func(p *tokenkeeper.Provider) bool {
			return p.Rotates && p.RotationGrace == 10*time.Minute && slices.Contains(p.Scopes, "offline_access")
		}},
		{"dropbox", func(p *tokenkeeper.Provider) bool { return p.AuthParams["token_access_type"] == "offline" }},
		{"hubspot", func(p *tokenkeeper.Provider) bool { return !strings.Contains(p.TokenURL, "/v1/") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, ok := c.Provider(tt.name)
			if !ok {
				t.Fatal("missing")
			}
			if !tt.check(p) {
				t.Errorf("facts do not hold: %+v", *p)
			}
		})
	}
}

// TestDocsListEveryProvider keeps docs/providers.md in step with the catalog.
func TestDocsListEveryProvider(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/providers.md")
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	for _, name := range builtinNames {
		if !strings.Contains(string(doc), "| `"+name+"` |") {
			t.Errorf("docs/providers.md has no table row for %s", name)
		}
	}
}
