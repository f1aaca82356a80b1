package metrics

import (
	"context"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenkeeper/tokenkeeper"
)

// breakerValues maps a breaker state to the value of tokenkeeper_breaker_state.
var breakerValues = map[string]float64{"closed": 0, "half_open": 1, "open": 2}

// expiringWindows are the within label values of tokenkeeper_connections_expiring.
var expiringWindows = []struct {
	label string
	d     time.Duration
}{{"1h", time.Hour}, {"24h", 24 * time.Hour}}

// stateCollector reads the gauges from their sources at scrape time, so
// that every replica reports the shared database's state without a
// background loop.
type stateCollector struct {
	o Options

	connections *prometheus.Desc
	expiring    *prometheus.Desc
	lag         *prometheus.Desc
	breaker     *prometheus.Desc
	deliveries  *prometheus.Desc
	events      *prometheus.Desc
	up          *prometheus.Desc
}

func newStateCollector(o Options) *stateCollector {
	name := func(n string) string { return prometheus.BuildFQName(Namespace, "", n) }
	return &stateCollector{
		o: o,
		connections: prometheus.NewDesc(name("connections"),
			"Connections by provider and status (every status of a provider that has connections, zeros included).",
			[]string{"provider", "status"}, nil),
		expiring: prometheus.NewDesc(name("connections_expiring"),
			"Connected connections whose access token expires within the window (1h, 24h; already expired included), by provider.",
			[]string{"provider", "within"}, nil),
		lag: prometheus.NewDesc(name("scheduler_lag_seconds"),
			"How far the scheduler is behind: now minus the earliest next_refresh_at of an unleased connected connection, 0 when none is overdue.",
			nil, nil),
		breaker: prometheus.NewDesc(name("breaker_state"),
			"Circuit breaker state per provider in this process: 0 closed, 1 half-open, 2 open.",
			[]string{"provider"}, nil),
		deliveries: prometheus.NewDesc(name("outbox_deliveries"),
			"Notification deliveries by channel and status: pending (waiting to be sent, retries included), delivered, dead (given up; retry from the admin page).",
			[]string{"channel", "status"}, nil),
		events: prometheus.NewDesc(name("outbox_undispatched_events"),
			"Outbox events not yet turned into notifications and deliveries.", nil, nil),
		up: prometheus.NewDesc(name("stats_up"),
			"1 when every store query of this scrape succeeded, 0 when one failed (its metrics are then absent).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connections, c.expiring, c.lag, c.breaker, c.deliveries, c.events, c.up} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it queries every source once.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.o.CollectTimeout)
	defer cancel()
	now := c.o.Now()
	ok := true
	fail := func(what string, err error) {
		ok = false
		c.o.Logger.Warn("collect metrics", "metric", what, "error", err)
	}

	if counts, err := c.o.Store.CountConnections(ctx); err != nil {
		fail("connections", err)
	} else {
		c.collectConnections(ch, counts)
	}
	if c.o.Stats != nil {
		cutoffs := make([]time.Time, len(expiringWindows))
		for i, w := range expiringWindows {
			cutoffs[i] = now.Add(w.d)
		}
		if counts, err := c.o.Stats.CountExpiring(ctx, cutoffs); err != nil {
			fail("connections_expiring", err)
		} else {
			for _, e := range counts {
				for i, w := range expiringWindows {
					if e.Before.Equal(cutoffs[i]) {
						ch <- prometheus.MustNewConstMetric(c.expiring, prometheus.GaugeValue, float64(e.Count), e.Provider, w.label)
					}
				}
			}
		}
	}
	if next, found, err := c.o.Store.NextDue(ctx); err != nil {
		fail("scheduler_lag_seconds", err)
	} else {
		lag := 0.0
		if found && next.Before(now) {
			lag = now.Sub(next).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, lag)
	}
	if c.o.Breakers != nil {
		for provider, state := range c.o.Breakers(now) {
			if v, known := breakerValues[state]; known {
				ch <- prometheus.MustNewConstMetric(c.breaker, prometheus.GaugeValue, v, provider)
			}
		}
	}
	if c.o.Deliveries != nil {
		if counts, err := c.o.Deliveries(ctx); err != nil {
			fail("outbox_deliveries", err)
		} else {
			c.collectDeliveries(ch, counts)
		}
	}
	if c.o.Undispatched != nil {
		if n, err := c.o.Undispatched(ctx); err != nil {
			fail("outbox_undispatched_events", err)
		} else {
			ch <- prometheus.MustNewConstMetric(c.events, prometheus.GaugeValue, float64(n))
		}
	}
	up := 0.0
	if ok {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
}

// collectConnections emits every status for each provider that has
// connections, so that a status appearing for the first time is an increase
// from 0 rather than a new series (alerts on needs_reauth growth need that).
func (c *stateCollector) collectConnections(ch chan<- prometheus.Metric, counts []tokenkeeper.StatusCount) {
	byProvider := map[string]map[tokenkeeper.Status]int{}
	for _, sc := range counts {
		if byProvider[sc.Provider] == nil {
			byProvider[sc.Provider] = map[tokenkeeper.Status]int{}
		}
		byProvider[sc.Provider][sc.Status] += sc.Count
	}
	providers := make([]string, 0, len(byProvider))
	for p := range byProvider {
		providers = append(providers, p)
	}
	sort.Strings(providers)
	for _, p := range providers {
		for _, st := range tokenkeeper.Statuses {
			ch <- prometheus.MustNewConstMetric(c.connections, prometheus.GaugeValue, float64(byProvider[p][st]), p, string(st))
		}
	}
}

// deliveryStatuses are the statuses reported for every channel.
var deliveryStatuses = []tokenkeeper.DeliveryStatus{tokenkeeper.DeliveryPending, tokenkeeper.DeliveryDelivered, tokenkeeper.DeliveryDead}

// collectDeliveries emits every status of each channel that has deliveries,
// zeros included.
func (c *stateCollector) collectDeliveries(ch chan<- prometheus.Metric, counts []tokenkeeper.DeliveryCount) {
	byChannel := map[tokenkeeper.Channel]map[tokenkeeper.DeliveryStatus]int{}
	for _, dc := range counts {
		if byChannel[dc.Channel] == nil {
			byChannel[dc.Channel] = map[tokenkeeper.DeliveryStatus]int{}
		}
		byChannel[dc.Channel][dc.Status] += dc.Count
	}
	for channel, m := range byChannel {
		for _, st := range deliveryStatuses {
			ch <- prometheus.MustNewConstMetric(c.deliveries, prometheus.GaugeValue, float64(m[st]), string(channel), string(st))
		}
	}
}
