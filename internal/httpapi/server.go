// Package httpapi is tokenkeeper's HTTP API (DESIGN.md §4): JSON routes over
// the Keeper and the Store, API key authentication with scopes, one error
// shape, and one log line per request. Every route is registered in routes.go.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// DefaultMaxBodyBytes is the request body limit when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// DefaultSweepWorkers is the refreshes in flight in one sweep when
// Config.SweepWorkers is 0.
const DefaultSweepWorkers = 8

// touchInterval is how often at most the last use of one API key is recorded.
const touchInterval = time.Minute

// Config holds the HTTP API's dependencies and settings.
type Config struct {
	// Keeper links, reads, refreshes and disconnects connections. Required.
	Keeper tokenkeeper.Keeper
	// Store reads connections and API keys. Required.
	Store tokenkeeper.Store
	// Catalog says which providers exist. Required.
	Catalog tokenkeeper.Catalog
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// Now tells the time; nil means time.Now.
	Now func() time.Time
	// MaxBodyBytes limits request bodies; 0 means DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// Ready reports whether the service can serve (GET /readyz). Nil means:
	// the store answers Ping and its migrations are current.
	Ready func(ctx context.Context) error
	// Version is reported by GET /healthz.
	Version string
	// ReconnectURL, when set, returns where the user of a connection
	// reconnects; NEEDS_REAUTH errors carry it as reconnect_url.
	ReconnectURL func(c *tokenkeeper.Connection) string
	// Sweeper runs POST /v1/sweeps; nil answers that route 503 UNAVAILABLE.
	Sweeper tokenkeeper.Sweeper
	// SweepWorkers is the most refreshes in flight in one sweep; 0 means
	// DefaultSweepWorkers.
	SweepWorkers int

	// RateLimit is the requests per second each API key may send; a key over
	// it gets 429 RATE_LIMITED with Retry-After. 0 means no limit.
	RateLimit float64
	// Burst is how many requests a key may send at once above RateLimit's
	// pace (the token bucket's size); at least 1.
	Burst int
	// AddrRateLimit is the requests per second one client address (an IPv4
	// address, an IPv6 /64) may send without a valid API key; past it, and
	// before any key is checked, requests get 429 RATE_LIMITED, except those
	// whose key authenticated recently. 0 means no limit.
	AddrRateLimit float64
	// AddrBurst is the bucket size of AddrRateLimit; at least 1.
	AddrBurst int
	// MaxInFlight is the most requests served at once; one more is answered
	// 503 UNAVAILABLE with Retry-After at once, never queued. GET /healthz is
	// exempt. 0 means no limit.
	MaxInFlight int
	// APIKeyCacheTTL is how long an API key that authenticated is reused
	// without reading the store again. It bounds how long a key revoked by
	// another process (tokenkeeper apikeys revoke, another replica) is still
	// accepted by this one. Unknown, malformed and revoked keys are never
	// cached. 0 (or less) turns the cache off: every request reads the store.
	APIKeyCacheTTL time.Duration

	// OnResponse, when set, is called once per request after it is served,
	// with the route pattern ("" when no route matched), the status and the
	// duration (metrics). It must not block.
	OnResponse func(route string, status int, d time.Duration)

	// Connect serves the connect flow's routes; nil leaves them out.
	Connect Connector

	// Notifications serves the notification routes; nil means Store when it
	// implements tokenkeeper.NotificationStore (else they answer 503).
	Notifications tokenkeeper.NotificationStore
	// Sealer seals the e-mail addresses of PUT /v1/users/{user_id}/preferences;
	// nil refuses addresses with 503.
	Sealer tokenkeeper.Sealer
}

// Connector serves the connect flow (internal/connect implements it).
type Connector interface {
	// Start answers GET /v1/connect/{provider} from an application whose API
	// key has the connections:write scope; a returned error is answered in
	// the JSON error shape.
	Start(w http.ResponseWriter, r *http.Request) error
	// Reconnect answers GET /v1/connect/{provider}?link=… from a browser.
	Reconnect(w http.ResponseWriter, r *http.Request)
	// Callback answers GET /v1/oauth/callback from a browser.
	Callback(w http.ResponseWriter, r *http.Request)
}

// Server is the HTTP API. It is safe for concurrent use.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	handler http.Handler

	keyLimits  *keyedLimiter // per API key id; nil: no limit
	addrLimits *keyedLimiter // per client address, requests without a valid key; nil: no limit
	known      knownKeys     // hashes of keys that authenticated recently
	keys       *keyCache     // authenticated keys by hash; nil: no cache
	inFlight   atomic.Int64

	mu         sync.Mutex
	touched    map[string]time.Time // API key id → last TouchAPIKey
	shedLogged time.Time            // last "shedding load" warning
}

// New returns the HTTP API for cfg, with defaults filled in. It panics when
// Keeper, Store or Catalog is nil: that is a wiring mistake, not a runtime
// condition.
func New(cfg Config) *Server {
	if cfg.Keeper == nil || cfg.Store == nil || cfg.Catalog == nil {
		panic("httpapi: Config.Keeper, Config.Store and Config.Catalog are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.SweepWorkers <= 0 {
		cfg.SweepWorkers = DefaultSweepWorkers
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), touched: make(map[string]time.Time)}
	if s.cfg.Ready == nil {
		s.cfg.Ready = s.storeReady
	}
	s.keyLimits = newKeyedLimiter(cfg.RateLimit, cfg.Burst, maxLimiterEntries)
	s.addrLimits = newKeyedLimiter(cfg.AddrRateLimit, cfg.AddrBurst, maxLimiterEntries)
	s.keys = newKeyCache(cfg.APIKeyCacheTTL, maxKeyCacheEntries)
	s.routes(s.mux)
	s.handler = s.observe(s.limitInFlight(http.HandlerFunc(s.dispatch)))
	return s
}

// NewServer returns the HTTP API for cfg as an http.Handler (see New).
func NewServer(cfg Config) http.Handler { return New(cfg) }

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Handler returns the server as an http.Handler.
func (s *Server) Handler() http.Handler { return s }

// dispatch routes r through the mux, answering unknown routes and unclean
// paths (404) and wrong methods (405) with the JSON error shape instead of
// the mux's text or redirect.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if !cleanPath(r.URL.EscapedPath()) {
		s.writeError(w, r, &tokenkeeper.Error{Code: codeRouteNotFound, Message: "no such route"})
		return
	}
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	probe := &probeWriter{header: make(http.Header)}
	h.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		s.writeError(w, r, &tokenkeeper.Error{Code: codeMethodNotAllowed, Message: fmt.Sprintf("method %s is not allowed here", r.Method)})
		return
	}
	s.writeError(w, r, &tokenkeeper.Error{Code: codeRouteNotFound, Message: "no such route"})
}

// cleanPath reports whether p is a clean absolute path, one that the mux
// would not redirect: no "//", "/./" or "/../" (ids are checked apart).
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// probeWriter records what the mux would answer to an unmatched request.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header         { return p.header }
func (p *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *probeWriter) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

// storeReady is the default readiness check: the database answers and its
// migrations are current.
func (s *Server) storeReady(ctx context.Context) error {
	if err := s.cfg.Store.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	current, latest, err := s.cfg.Store.MigrationStatus(ctx)
	if err != nil {
		return fmt.Errorf("read migration status: %w", err)
	}
	if current < latest {
		return tokenkeeper.Errorf(tokenkeeper.CodeUnavailable, "database migrations pending (%d of %d applied)", current, latest)
	}
	return nil
}
