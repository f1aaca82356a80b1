package main

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/metrics"
	"github.com/tokenkeeper/tokenkeeper/internal/web"
)

// adminSessionPurpose names the key, derived from the vault's key ring,
// that signs the admin page's session cookies and CSRF tokens.
const adminSessionPurpose = "tokenkeeper/admin-sessions"

// observeAttempt is the refresher's OnAttempt hook: it counts the attempt
// in the metrics once serve has made them (other commands have none).
func (a *app) observeAttempt(provider string, at tokenkeeper.RefreshAttempt) {
	if a.metrics != nil {
		a.metrics.ObserveAttempt(provider, at)
	}
}

// newMetrics returns serve's metrics: the store's counts, the gate's
// breakers and, when the store keeps notifications, the outbox.
func (a *app) newMetrics() (*metrics.Metrics, error) {
	o := metrics.Options{Store: a.store, Logger: a.log.With("component", "metrics")}
	if st, ok := a.store.(tokenkeeper.StatsStore); ok {
		o.Stats = st
	}
	if a.gate != nil {
		o.Breakers = a.gate.BreakerStates
	}
	if ns, ok := a.store.(tokenkeeper.NotificationStore); ok {
		o.Deliveries, o.Undispatched = ns.CountDeliveries, ns.CountUndispatchedEvents
	}
	return metrics.New(o)
}

// withObservability puts GET /metrics (unless metrics is false) and the
// admin page under /admin/ (unless admin is false) in front of the API
// handler, which serves every other path. reconnect makes the admin page's
// reconnect links.
func (a *app) withObservability(api http.Handler, reconnect web.ReconnectLinker) (http.Handler, error) {
	var admin http.Handler
	if a.cfg.Admin {
		stats, ok := a.store.(tokenkeeper.StatsStore)
		if !ok {
			return nil, fmt.Errorf("the %s store answers no statistics for the admin page", a.cfg.databaseKind())
		}
		cfg := web.Config{
			Store: a.store, Stats: stats, Keeper: a.keeper, Catalog: a.catalog,
			SessionKeys: a.ring.DeriveAll(adminSessionPurpose), SessionTTL: a.cfg.AdminSessionTTL,
			SecureCookies: strings.HasPrefix(a.cfg.PublicURL, "https://"),
			Breakers:      a.gate.BreakerStates, Reconnect: reconnect,
			Logger: a.log.With("component", "admin"),
		}
		if ns, ok := a.store.(tokenkeeper.NotificationStore); ok {
			cfg.Outbox = ns
		}
		h, err := web.New(cfg)
		if err != nil {
			return nil, err
		}
		admin = h
	}
	var metricsHandler http.Handler
	if a.cfg.Metrics {
		metricsHandler = a.metrics.Handler()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/metrics" && metricsHandler != nil:
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Allow", "GET, HEAD")
				http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
				return
			}
			metricsHandler.ServeHTTP(w, r)
		case p == "/admin" && admin != nil:
			http.Redirect(w, r, web.Prefix, http.StatusMovedPermanently)
		case strings.HasPrefix(p, web.Prefix) && admin != nil:
			admin.ServeHTTP(w, r)
		default:
			api.ServeHTTP(w, r)
		}
	}), nil
}
