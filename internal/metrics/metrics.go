// Package metrics exposes tokenkeeper's Prometheus metrics on a registry of
// its own (no global state): counters and histograms fed by hooks (every
// refresh attempt, every HTTP response) and gauges read from the store when
// Prometheus scrapes (connections by status, expiring soon, scheduler lag,
// breakers, the notification outbox).
//
// Labels are bounded: provider (from the catalog), outcome, class, status,
// route (the API's route patterns), within, channel and table (the four
// history tables). No metric carries a user id, a connection id, a token or
// an e-mail address.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tokenkeeper/tokenkeeper"
)

// Namespace prefixes every metric name.
const Namespace = "tokenkeeper"

// Options configure Metrics. Store is required; the other sources are
// optional and their metrics are absent without them.
type Options struct {
	// Store answers CountConnections and NextDue at scrape time.
	Store tokenkeeper.Store
	// Stats answers CountExpiring at scrape time.
	Stats tokenkeeper.StatsStore
	// Breakers returns each provider's circuit breaker state at now:
	// "closed", "half_open" or "open" (refresh.ProviderGate.BreakerStates).
	Breakers func(now time.Time) map[string]string
	// Deliveries counts notification deliveries by channel and status
	// (tokenkeeper.NotificationStore.CountDeliveries).
	Deliveries func(ctx context.Context) ([]tokenkeeper.DeliveryCount, error)
	// Undispatched counts outbox events the notifier has not yet turned
	// into notifications (NotificationStore.CountUndispatchedEvents).
	Undispatched func(ctx context.Context) (int, error)
	// Now tells the time; nil means time.Now.
	Now func() time.Time
	// Logger receives scrape errors; nil discards them.
	Logger *slog.Logger
	// CollectTimeout bounds the store queries of one scrape; 0 means 5 s.
	CollectTimeout time.Duration
	// NoRuntime leaves out the Go runtime and process collectors (tests).
	NoRuntime bool
}

// Metrics holds tokenkeeper's registry and the instruments that hooks feed.
// Its methods are safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	log      *slog.Logger
	attempts *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	http     *prometheus.CounterVec
	httpDur  *prometheus.HistogramVec
	purged   *prometheus.CounterVec
}

// The table label values of tokenkeeper_history_purged_rows_total.
var purgeTables = []string{"refresh_attempts", "events", "deliveries", "notifications"}

// New returns Metrics with every collector registered, or an error when
// Options.Store is nil.
func New(o Options) (*Metrics, error) {
	if o.Store == nil {
		return nil, tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "metrics: Options.Store is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CollectTimeout <= 0 {
		o.CollectTimeout = 5 * time.Second
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: o.Logger,
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "refresh_attempts_total",
			Help: "Refresh attempts at providers' token endpoints (one per request; in-line retries count), by provider, outcome (success, failure) and class.",
		}, []string{"provider", "outcome", "class"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "refresh_duration_seconds",
			Help:    "Duration of refresh attempts at providers' token endpoints, by provider.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"provider"}),
		http: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_responses_total",
			Help: "HTTP API responses by route pattern and status code.",
		}, []string{"route", "status"}),
		httpDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "HTTP API request durations by route pattern.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15},
		}, []string{"route"}),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "history_purged_rows_total",
			Help: "History rows deleted by this process's retention purges, by table (refresh_attempts, events, deliveries, notifications).",
		}, []string{"table"}),
	}
	for _, table := range purgeTables {
		m.purged.WithLabelValues(table) // every table reports from the start, at 0
	}
	m.reg.MustRegister(m.attempts, m.latency, m.http, m.httpDur, m.purged, newStateCollector(o))
	if !o.NoRuntime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m, nil
}

// ObserveAttempt records one refresh attempt of a connection of provider
// (the refresher's OnAttempt hook).
func (m *Metrics) ObserveAttempt(provider string, a tokenkeeper.RefreshAttempt) {
	outcome := "failure"
	if a.Class == tokenkeeper.ClassSuccess {
		outcome = "success"
	}
	m.attempts.WithLabelValues(provider, outcome, string(a.Class)).Inc()
	m.latency.WithLabelValues(provider).Observe(a.Duration.Seconds())
}

// ObserveResponse records one HTTP response (the API's OnResponse hook).
// route is the route pattern ("GET /v1/connections/{id}/token"), never the
// path; an empty route is recorded as "unmatched".
func (m *Metrics) ObserveResponse(route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.http.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.httpDur.WithLabelValues(route).Observe(d.Seconds())
}

// ObservePurge records the rows one history purge deleted (the retention
// service's OnPurge hook).
func (m *Metrics) ObservePurge(c tokenkeeper.PurgeCounts) {
	for i, n := range []int64{c.Attempts, c.Events, c.Deliveries, c.Notifications} {
		m.purged.WithLabelValues(purgeTables[i]).Add(float64(n))
	}
}

// Registry returns the registry, for tests and for embedding programs that
// add their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats. A store
// query that fails during a scrape is logged and its metrics are left out;
// the rest is still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            logAdapter{m.log},
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg,
		MaxRequestsInFlight: 4,
	})
}

// logAdapter turns promhttp's error log into slog warnings.
type logAdapter struct{ log *slog.Logger }

func (l logAdapter) Println(v ...any) {
	l.log.Warn("serve metrics", "error", slogText(v))
}

func slogText(v []any) string {
	s := ""
	for i, x := range v {
		if i > 0 {
			s += " "
		}
		if err, ok := x.(error); ok {
			s += err.Error()
			continue
		}
		if str, ok := x.(string); ok {
			s += str
		}
	}
	return s
}
