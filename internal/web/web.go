// Package web is tokenkeeper's admin page: server-rendered HTML
// (html/template, embedded CSS and JavaScript, charts drawn by the server
// as inline SVG; no build step) mounted under /admin/ by `serve`.
//
// An operator logs in with an API key carrying the admin scope; the page
// then keeps an HMAC-signed session cookie (HttpOnly, SameSite=Strict,
// Secure behind https) and checks a per-session CSRF token on every form.
// Pages: an overview per provider, connection lists filtered by status,
// provider and user, a connection page with its refresh history and
// notifications and the actions refresh now, copy a reconnect link and
// disconnect, and the notification outbox with a retry button. No page ever
// shows a token or an e-mail address: the page reads connections, whose
// tokens are sealed, and never opens them.
package web

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// Prefix is the path the admin page is served under.
const Prefix = "/admin/"

// DefaultSessionTTL is how long a login lasts when Config.SessionTTL is 0.
const DefaultSessionTTL = 12 * time.Hour

// Outbox is what the admin page needs of the notifications:
// tokenkeeper.NotificationStore implements it. The page shows deliveries'
// metadata and in-app messages, never a delivery's payload.
type Outbox interface {
	// ListDeliveries returns deliveries matching f, oldest first, and the
	// cursor of the next page ("" at the end).
	ListDeliveries(ctx context.Context, f tokenkeeper.DeliveryFilter) ([]*tokenkeeper.Delivery, string, error)
	// RetryDelivery makes a dead delivery pending again, due at now. It
	// returns ErrNotFound for an unknown id and ErrDeliveryNotDead for a
	// delivery that is not dead.
	RetryDelivery(ctx context.Context, id string, now time.Time) (*tokenkeeper.Delivery, error)
	// CountDeliveries returns the number of deliveries by channel and status.
	CountDeliveries(ctx context.Context) ([]tokenkeeper.DeliveryCount, error)
	// ListNotifications returns a user's in-app notifications, newest first.
	ListNotifications(ctx context.Context, f tokenkeeper.NotificationFilter) ([]*tokenkeeper.Notification, string, error)
}

// ReconnectLinker returns the link at which the user of a connection
// reconnects it (the connect flow).
type ReconnectLinker func(c *tokenkeeper.Connection) (string, error)

// Config holds the admin page's dependencies and settings.
type Config struct {
	// Store reads connections, refresh history and API keys. Required.
	Store tokenkeeper.Store
	// Stats answers the overview's aggregates. Required.
	Stats tokenkeeper.StatsStore
	// Keeper refreshes and disconnects connections. Required.
	Keeper tokenkeeper.Keeper
	// Catalog lists the providers for the filters; nil lists the providers
	// that have connections.
	Catalog tokenkeeper.Catalog
	// SessionKeys sign session cookies and CSRF tokens: the first signs,
	// every one verifies, so sessions survive a key rotation. Each at least
	// 32 bytes (vault.Ring.DeriveAll("tokenkeeper/admin-sessions")). Required.
	SessionKeys [][]byte
	// SessionTTL is how long a login lasts; 0 means DefaultSessionTTL.
	SessionTTL time.Duration
	// SecureCookies sets the Secure attribute (the public URL is https).
	SecureCookies bool
	// Breakers returns each provider's circuit breaker state ("closed",
	// "half_open", "open"); nil shows no breaker.
	Breakers func(now time.Time) map[string]string
	// Outbox lists and retries notification deliveries; nil shows the
	// outbox as not configured.
	Outbox Outbox
	// Reconnect returns reconnect links; nil hides that button.
	Reconnect ReconnectLinker
	// Now tells the time; nil means time.Now.
	Now func() time.Time
	// Logger receives logins, actions and errors; nil discards.
	Logger *slog.Logger
}

// Handler serves the admin page under Prefix. It is safe for concurrent use.
type Handler struct {
	cfg   Config
	pages map[string]*template.Template
	mux   *http.ServeMux
	h     http.Handler
}

// New returns the admin page for cfg, or an error when a required
// dependency is missing or a session key is shorter than 32 bytes.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Stats == nil || cfg.Keeper == nil {
		return nil, errors.New("web: Config.Store, Config.Stats and Config.Keeper are required")
	}
	if len(cfg.SessionKeys) == 0 {
		return nil, errors.New("web: Config.SessionKeys is required")
	}
	for _, k := range cfg.SessionKeys {
		if len(k) < 32 {
			return nil, errors.New("web: every session key must be at least 32 bytes")
		}
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, pages: pages, mux: http.NewServeMux()}
	h.routes()
	h.h = secureHeaders(http.NewCrossOriginProtection().Handler(h.mux))
	return h, nil
}

// ServeHTTP serves one request under Prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.h.ServeHTTP(w, r) }

// routes registers every route of the admin page. Pages that need a login
// are wrapped in h.authed; POST routes in h.form, which also checks the
// CSRF token.
func (h *Handler) routes() {
	m := h.mux
	m.Handle("GET /admin/assets/{file}", http.HandlerFunc(h.asset))
	m.HandleFunc("GET /admin/login", h.loginPage)
	m.HandleFunc("POST /admin/login", h.login)
	m.Handle("POST /admin/logout", h.form(h.logout))

	m.Handle("GET /admin/{$}", h.authed(h.overview))
	m.Handle("GET /admin/connections", h.authed(h.connections))
	m.Handle("GET /admin/connections/{id}", h.authed(h.connection))
	m.Handle("POST /admin/connections/{id}/refresh", h.form(h.refresh))
	m.Handle("POST /admin/connections/{id}/disconnect", h.form(h.disconnect))
	m.Handle("POST /admin/connections/{id}/reconnect-link", h.form(h.reconnectLink))
	m.Handle("GET /admin/outbox", h.authed(h.outbox))
	m.Handle("POST /admin/outbox/{id}/retry", h.form(h.retry))
	m.HandleFunc("/admin/", h.notFound)
}

// secureHeaders sets the headers every admin response carries: a strict
// content security policy (scripts and styles from the page's own assets
// only), no framing, no referrer, no caching.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
