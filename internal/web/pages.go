package web

import (
	"math"
	"net/http"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// providerCard is one provider on the overview.
type providerCard struct {
	tokenkeeper.ProviderOverview
	DisplayName string
	// Breaker is "closed", "half_open" or "open"; "" when not tracked.
	Breaker   string
	Rate24h   float64 // NaN without attempts
	Day, Week chart
}

type overviewData struct {
	Totals    tokenkeeper.ProviderOverview
	Rate24h   float64
	Providers []providerCard
	Outbox    *outboxCounts // nil when not configured
	Classes   []tokenkeeper.Class
}

type outboxCounts struct{ Pending, Dead int }

// overview shows every provider's connections by status, expiring tokens,
// breaker, and refresh charts over the last 24 hours and 7 days (UTC).
func (h *Handler) overview(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	now := h.cfg.Now().UTC()
	ovs, err := tokenkeeper.LoadOverview(ctx, h.cfg.Store, h.cfg.Stats, now)
	if err != nil {
		return err
	}
	hourStart := now.Truncate(time.Hour).Add(-23 * time.Hour)
	dayStart := now.Truncate(24 * time.Hour).Add(-6 * 24 * time.Hour)
	hourly, err := h.cfg.Stats.CountAttempts(ctx, hourStart, now, time.Hour)
	if err != nil {
		return err
	}
	daily, err := h.cfg.Stats.CountAttempts(ctx, dayStart, now, 24*time.Hour)
	if err != nil {
		return err
	}
	var breakers map[string]string
	if h.cfg.Breakers != nil {
		breakers = h.cfg.Breakers(now)
	}
	d := overviewData{Totals: tokenkeeper.OverviewTotals(ovs), Classes: chartClasses}
	d.Rate24h = rate(d.Totals)
	for _, o := range ovs {
		card := providerCard{ProviderOverview: o, DisplayName: h.displayName(o.Provider), Rate24h: rate(o)}
		if breakers != nil {
			card.Breaker = breakers[o.Provider]
			if card.Breaker == "" {
				card.Breaker = "closed"
			}
		}
		card.Day = buildChart("Refresh attempts per hour, last 24 hours, "+o.Provider, forProvider(hourly, o.Provider),
			hourStart, time.Hour, 24, 6, func(t time.Time) string { return t.Format("15:04") })
		card.Week = buildChart("Refresh attempts per day, last 7 days, "+o.Provider, forProvider(daily, o.Provider),
			dayStart, 24*time.Hour, 7, 1, func(t time.Time) string { return t.Format("Mon 02") })
		d.Providers = append(d.Providers, card)
	}
	if h.cfg.Outbox != nil {
		if d.Outbox, err = h.outboxCounts(r); err != nil {
			return err
		}
	}
	return h.render(w, r, "overview.html", "Overview", "overview", d)
}

func rate(o tokenkeeper.ProviderOverview) float64 {
	if r, ok := o.SuccessRate24h(); ok {
		return r
	}
	return math.NaN()
}

// displayName returns the catalog's display name of a provider, or its name.
func (h *Handler) displayName(name string) string {
	if h.cfg.Catalog != nil {
		if p, ok := h.cfg.Catalog.Provider(name); ok && p.DisplayName != "" {
			return p.DisplayName
		}
	}
	return name
}

// expiringWindows are the choices of the list's "expiring within" filter.
var expiringWindows = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour}

type listData struct {
	Status, Provider, User, Expiring string
	Providers                        []string
	Connections                      []*tokenkeeper.Connection
	Next                             string // cursor of the next page
	After                            string
}

// connections lists connections filtered by status, provider, user and
// expiry, 50 a page.
func (h *Handler) connections(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	d := listData{Provider: q.Get("provider"), User: q.Get("user"), Expiring: q.Get("expiring"), After: q.Get("after")}
	f := tokenkeeper.ConnectionFilter{Provider: d.Provider, UserID: d.User, After: d.After, Limit: 50}
	if st := tokenkeeper.Status(q.Get("status")); st.Valid() {
		d.Status, f.Status = string(st), st
	}
	if win, ok := expiringWindows[d.Expiring]; ok {
		f.ExpiringBefore = h.cfg.Now().Add(win)
	} else {
		d.Expiring = ""
	}
	cs, next, err := h.cfg.Store.ListConnections(r.Context(), f)
	if err != nil {
		return err
	}
	d.Connections, d.Next = cs, next
	if d.Providers, err = h.providerNames(r); err != nil {
		return err
	}
	return h.render(w, r, "connections.html", "Connections", "connections", d)
}

// providerNames lists the providers that have connections, for the
// provider filter.
func (h *Handler) providerNames(r *http.Request) ([]string, error) {
	counts, err := h.cfg.Store.CountConnections(r.Context())
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var names []string
	for _, c := range counts {
		if !seen[c.Provider] {
			seen[c.Provider] = true
			names = append(names, c.Provider)
		}
	}
	return names, nil
}

type connectionData struct {
	C           *tokenkeeper.Connection
	DisplayName string
	Attempts    []tokenkeeper.RefreshAttempt
	// Notifications are the in-app notifications about the connection;
	// OutboxConfigured is false when there is no outbox to ask.
	Notifications    []*tokenkeeper.Notification
	OutboxConfigured bool
	Breaker          string
	// RefreshNote explains why "refresh now" is disabled ("" when enabled).
	RefreshNote   string
	CanReconnect  bool
	CanDisconnect bool
	ReconnectURL  string // shown after a reconnect link was made without JavaScript
}

// connection shows one connection: status, counters, last error, expiry,
// schedule, refresh history and notifications, and its actions.
func (h *Handler) connection(w http.ResponseWriter, r *http.Request) error {
	d, err := h.connectionData(r)
	if err != nil {
		return err
	}
	return h.render(w, r, "connection.html", d.C.ID, "connections", d)
}

func (h *Handler) connectionData(r *http.Request) (*connectionData, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	if !tokenkeeper.ValidID(id) {
		return nil, tokenkeeper.ErrNotFound
	}
	c, err := h.cfg.Store.GetConnection(ctx, id)
	if err != nil {
		return nil, err
	}
	d := &connectionData{C: c, DisplayName: h.displayName(c.Provider), OutboxConfigured: h.cfg.Outbox != nil}
	if d.Attempts, err = h.cfg.Store.ListAttempts(ctx, id, 50); err != nil {
		return nil, err
	}
	if h.cfg.Outbox != nil {
		if d.Notifications, err = h.notifications(r, c); err != nil {
			return nil, err
		}
	}
	if h.cfg.Breakers != nil {
		d.Breaker = h.cfg.Breakers(h.cfg.Now())[c.Provider]
	}
	switch c.Status {
	case tokenkeeper.StatusNeedsReauth:
		d.RefreshNote = "Only the user can fix this connection: send them a reconnect link."
	case tokenkeeper.StatusExpired:
		d.RefreshNote = "There is no refresh token; the user must reconnect."
	case tokenkeeper.StatusDisconnected:
		d.RefreshNote = "The connection was disconnected."
	}
	d.CanReconnect = h.cfg.Reconnect != nil
	d.CanDisconnect = c.Status != tokenkeeper.StatusDisconnected
	return d, nil
}

// notifications returns the newest in-app notifications about c, from its
// user's latest 200.
func (h *Handler) notifications(r *http.Request, c *tokenkeeper.Connection) ([]*tokenkeeper.Notification, error) {
	ns, _, err := h.cfg.Outbox.ListNotifications(r.Context(), tokenkeeper.NotificationFilter{UserID: c.UserID, Limit: 200})
	if err != nil {
		return nil, err
	}
	var out []*tokenkeeper.Notification
	for _, n := range ns {
		if n.ConnectionID == c.ID && len(out) < 50 {
			out = append(out, n)
		}
	}
	return out, nil
}
