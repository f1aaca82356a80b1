// Package connect is tokenkeeper's account-linking flow (DESIGN.md §4):
// GET /v1/connect/{provider} sends a user's browser to the provider's
// authorization endpoint with a single-use, expiring state and PKCE (S256)
// where the provider takes it; GET /v1/oauth/callback checks the state,
// exchanges the code, learns the provider's account id where the catalog
// says how, stores the connection through the Keeper, and sends the browser
// back to the application, only to a URL on the allow-list. Reconnect links
// (Links) start the same flow for one connection without an API key. Worker
// retries revocations that failed at disconnect and purges expired states.
//
// The routes are registered in internal/httpapi/routes.go; Handler serves
// them. The state parameter, the code and the PKCE verifier never reach a
// log; the state is stored hashed and the verifier sealed.
package connect

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// CallbackPath is the path of the callback route, under the public URL.
const CallbackPath = "/v1/oauth/callback"

// DefaultStateTTL is how long a user has between starting and finishing a
// sign-in when Options.StateTTL is 0.
const DefaultStateTTL = 10 * time.Minute

// Bounds on the scopes parameter.
const (
	maxScopes   = 50
	maxScopeLen = 200
)

// Store is what the flow reads and writes: the connect records and
// connections (read only; they are written through the Keeper).
type Store interface {
	tokenkeeper.ConnectStore
	GetConnection(ctx context.Context, id string) (*tokenkeeper.Connection, error)
}

// ProviderClient talks to providers for the flow; *oauth.Client implements it.
type ProviderClient interface {
	AuthCodeURL(p *tokenkeeper.Provider, redirectURI, state, codeChallenge string, scopes []string) string
	Exchange(ctx context.Context, p *tokenkeeper.Provider, code, redirectURI, codeVerifier string) tokenkeeper.Outcome
	Account(ctx context.Context, p *tokenkeeper.Provider, accessToken tokenkeeper.Secret) (string, tokenkeeper.Outcome)
}

// Options configure a Handler. Store, Keeper, Catalog, Sealer, Client, Links
// and PublicURL are required.
type Options struct {
	Store   Store
	Keeper  tokenkeeper.Keeper
	Catalog tokenkeeper.Catalog
	Sealer  tokenkeeper.Sealer
	Client  ProviderClient
	Links   *Links
	// PublicURL is tokenkeeper's base URL as browsers reach it; the redirect
	// URI registered at providers is PublicURL + CallbackPath.
	PublicURL string
	// ReturnURLs are the URLs the flow may send a browser back to.
	ReturnURLs AllowList
	// StateTTL bounds a sign-in (default DefaultStateTTL).
	StateTTL time.Duration
	Clock    tokenkeeper.Clock
	Logger   *slog.Logger
	// UserHash turns a user id into the keyed hash written to logs.
	UserHash func(string) string
}

// Handler serves the connect flow's routes. It is safe for concurrent use.
type Handler struct {
	o           Options
	redirectURI string
	log         *slog.Logger
}

// New returns a Handler, or an error naming a missing option.
func New(o Options) (*Handler, error) {
	if o.Store == nil || o.Keeper == nil || o.Catalog == nil || o.Sealer == nil || o.Client == nil || o.Links == nil {
		return nil, errors.New("connect: Store, Keeper, Catalog, Sealer, Client and Links are required")
	}
	base, err := parseAbsolute(o.PublicURL)
	if err != nil || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("connect: public URL %q must be an absolute http(s) URL without query", o.PublicURL)
	}
	if o.StateTTL <= 0 {
		o.StateTTL = DefaultStateTTL
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.UserHash == nil {
		o.UserHash = func(string) string { return "" }
	}
	return &Handler{o: o, redirectURI: strings.TrimRight(o.PublicURL, "/") + CallbackPath, log: o.Logger}, nil
}

// RedirectURI returns the callback URL to register at providers.
func (h *Handler) RedirectURI() string { return h.redirectURI }

// flow is one sign-in about to start.
type flow struct {
	provider     *tokenkeeper.Provider
	userID       string
	accountID    string
	connectionID string
	linkID       string
	returnURL    string
	scopes       []string
}

// startView is the JSON body of Start's answer.
type startView struct {
	AuthorizationURL string    `json:"authorization_url"`
	ExpiresAt        time.Time `json:"expires_at"`
}

// Start answers an application's GET /v1/connect/{provider}?user_id=…
// [&return_url=…][&account_id=…][&scopes=…]; the caller has been
// authenticated with the connections:write scope. It answers 302 to the
// provider's authorization URL, with the same URL in a JSON body
// {authorization_url, expires_at}; errors are returned for the API's JSON
// error shape (INVALID_REQUEST, PROVIDER_UNKNOWN).
func (h *Handler) Start(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := flow{userID: q.Get("user_id"), accountID: q.Get("account_id")}
	var err error
	if f.provider, err = h.provider(r.PathValue("provider")); err != nil {
		return err
	}
	if !tokenkeeper.ValidID(f.userID) {
		return tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "user_id is required: 1-200 letters, digits or -_.:@+")
	}
	if f.accountID != "" && !tokenkeeper.ValidID(f.accountID) {
		return tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "account_id may contain only letters, digits or -_.:@+ (at most 200)")
	}
	if raw := q.Get("return_url"); raw != "" {
		u, ok := h.o.ReturnURLs.Allowed(raw)
		if !ok {
			return tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "return_url is not on the allow-list (setting return_urls)")
		}
		f.returnURL = u.String()
	}
	if f.scopes, err = parseScopes(q.Get("scopes")); err != nil {
		return err
	}
	authURL, exp, err := h.begin(r.Context(), f)
	if err != nil {
		return err
	}
	securityHeaders(w.Header())
	w.Header().Set("Location", authURL)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusFound)
	_ = jsonEncode(w, startView{AuthorizationURL: authURL, ExpiresAt: exp.UTC()}) // the status is sent; a failed write is the client's
	return nil
}

// provider returns the named provider when the flow can use it.
func (h *Handler) provider(name string) (*tokenkeeper.Provider, error) {
	if !tokenkeeper.ValidID(name) {
		return nil, tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "provider must be 1 to 200 letters, digits or -_.:@+")
	}
	p, ok := h.o.Catalog.Provider(name)
	if !ok {
		return nil, tokenkeeper.Errorf(tokenkeeper.CodeProviderUnknown, "unknown provider %q", name)
	}
	if p.AuthURL == "" || p.ClientID == "" || p.ClientSecret.IsZero() {
		return nil, tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "provider %q is not set up for the connect flow: it needs auth_url, client_id and client_secret", name)
	}
	return p, nil
}

// parseScopes reads the scopes parameter: names separated by spaces or commas.
func parseScopes(s string) ([]string, error) {
	scopes := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	if len(scopes) > maxScopes {
		return nil, tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "at most %d scopes may be asked for", maxScopes)
	}
	for _, sc := range scopes {
		if len(sc) > maxScopeLen || strings.ContainsFunc(sc, func(r rune) bool { return r < 0x21 || r == 0x7f || r == '"' || r == '\\' }) {
			return nil, tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "scopes must be printable names of at most %d bytes", maxScopeLen)
		}
	}
	return scopes, nil
}

// begin stores a new state for f and returns the provider's authorization
// URL and the state's expiry. Asked-for scopes are added to the provider's.
func (h *Handler) begin(ctx context.Context, f flow) (string, time.Time, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("generate state: %w", err)
	}
	state := base64.RawURLEncoding.EncodeToString(b[:])
	now := h.o.Clock.Now()
	scopes := union(f.provider.Scopes, f.scopes)
	st := &tokenkeeper.OAuthState{
		Hash: tokenkeeper.StateHash(state), Provider: f.provider.Name, UserID: f.userID, AccountID: f.accountID,
		ConnectionID: f.connectionID, LinkID: f.linkID, ReturnURL: f.returnURL, RedirectURI: h.redirectURI,
		Scopes: scopes, CreatedAt: now, ExpiresAt: now.Add(h.o.StateTTL),
	}
	var challenge string
	if f.provider.PKCE != tokenkeeper.PKCENo {
		verifier := newVerifier()
		sealed, err := h.o.Sealer.Seal([]byte(verifier), tokenkeeper.AdditionalData(st.RowID(), tokenkeeper.FieldPKCEVerifier))
		if err != nil {
			return "", time.Time{}, fmt.Errorf("seal the PKCE verifier: %w", err)
		}
		st.SealedVerifier, challenge = sealed, challengeOf(verifier)
	}
	if err := h.o.Store.CreateState(ctx, st); err != nil {
		return "", time.Time{}, err
	}
	h.log.LogAttrs(ctx, slog.LevelDebug, "connect flow started", slog.String("provider", f.provider.Name),
		slog.String("user", h.o.UserHash(f.userID)), slog.Bool("reconnect", f.connectionID != ""), slog.Bool("pkce", challenge != ""))
	return h.o.Client.AuthCodeURL(f.provider, h.redirectURI, state, challenge, scopes), st.ExpiresAt, nil
}

// union returns a followed by the elements of b not in a.
func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, s := range b {
		dup := false
		for _, have := range out {
			dup = dup || have == s
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out
}

// withQueryString parses raw (a URL stored by this package) and adds kv.
func withQueryString(raw string, kv ...string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	return withQuery(u, kv...), true
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
