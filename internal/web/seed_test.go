package web

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

// The scripted provider answers of each failure class.
var (
	answerTransient = providertest.Response{Status: 503, Body: `{"error":"temporarily_unavailable"}`}
	answerPermanent = providertest.Response{Status: 400, Body: `{"error":"invalid_grant","error_description":"grant refused"}`}
	answerRevoked   = providertest.Response{Status: 400, Body: `{"error":"invalid_grant","error_description":"Token has been revoked"}`}
	answerConfig    = providertest.Response{Status: 401, Body: `{"error":"invalid_client"}`}
)

// refreshWith refreshes a connection once, the provider answering r (a
// zero Response: a real refresh), and records the new access token.
func (f *fixture) refreshWith(c *tokenkeeper.Connection, r providertest.Response) {
	f.t.Helper()
	srv := f.acme
	if c.Provider == "globex" {
		srv = f.globex
	}
	if r.Status != 0 {
		srv.Script(r)
	}
	_, _ = f.keeper.Refresh(context.Background(), c.ID, tokenkeeper.TriggerManual, "")
	if r.Status == 0 {
		tok, _, err := f.keeper.AccessToken(context.Background(), c.ID, 0)
		if err != nil {
			f.t.Fatalf("AccessToken after a refresh: %v", err)
		}
		f.secrets = append(f.secrets, tok.AccessToken.Reveal())
	}
}

// seeded names the connections and deliveries seed creates.
type seeded struct {
	healthy, transient, reauth, broken, globexReauth *tokenkeeper.Connection
	dead                                             []*tokenkeeper.Delivery
}

// seed builds a small, realistic installation: healthy connections at two
// providers, one with a transient failure, two needing reauthorization,
// one in error, a week of refresh history and a few deliveries.
func (f *fixture) seed() seeded {
	f.t.Helper()
	var s seeded
	for i := range 5 {
		c := f.link(fmt.Sprintf("user-%02d", i), "acme")
		if i == 0 {
			s.healthy = c
		}
	}
	for i := range 3 {
		f.link(fmt.Sprintf("user-%02d", 10+i), "globex")
	}
	f.refreshWith(s.healthy, providertest.Response{})
	s.transient = f.link("user-20", "acme")
	f.refreshWith(s.transient, answerTransient)
	s.reauth = f.link("user-21", "acme")
	f.refreshWith(s.reauth, answerRevoked)
	s.broken = f.link("user-22", "acme")
	f.refreshWith(s.broken, answerConfig)
	s.globexReauth = f.link("user-23", "globex")
	f.refreshWith(s.globexReauth, answerPermanent)
	f.refreshWith(s.globexReauth, answerPermanent)
	f.refreshWith(s.globexReauth, answerPermanent)
	f.history(s)
	s.dead = f.notifications()
	return s
}

// notifications does what the notifier would with the events of seed: an
// in-app notification for each needs_reauth or warning event, a webhook
// delivery for each event; then two deliveries die and one is delivered.
// It returns the dead ones.
func (f *fixture) notifications() []*tokenkeeper.Delivery {
	f.t.Helper()
	ctx := context.Background()
	now := time.Now()
	evs, err := f.store.ClaimEvents(ctx, "test", now, now.Add(time.Minute), 100)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, e := range evs {
		d := tokenkeeper.Dispatch{EventID: e.ID, Owner: "test", At: now}
		switch e.Type {
		case tokenkeeper.EventNeedsReauth, tokenkeeper.EventRefreshWarning:
			d.Notifications = append(d.Notifications, &tokenkeeper.Notification{
				ID: tokenkeeper.NewID("ntf_"), EventID: e.ID, UserID: e.UserID, ConnectionID: e.ConnectionID, Provider: e.Provider,
				Type: e.Type, Message: "Your " + e.Provider + " connection needs your attention.", CreatedAt: now, DigestPending: false,
			})
		}
		d.Deliveries = append(d.Deliveries, &tokenkeeper.Delivery{
			ID: tokenkeeper.NewID("dlv_"), Key: e.ID + ":webhook", EventID: e.ID, Channel: tokenkeeper.ChannelWebhook,
			Payload: []byte(`{}`), Status: tokenkeeper.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
		})
		if err := f.store.DispatchEvent(ctx, d); err != nil {
			f.t.Fatal(err)
		}
	}
	ds, err := f.store.ClaimDeliveries(ctx, "test", now, now.Add(time.Minute), 3)
	if err != nil || len(ds) < 3 {
		f.t.Fatalf("ClaimDeliveries = %d, %v", len(ds), err)
	}
	results := []tokenkeeper.DeliveryResult{
		{At: now, Status: tokenkeeper.DeliveryDead, Error: "webhook answered HTTP 500"},
		{At: now, Status: tokenkeeper.DeliveryDead, Error: "webhook timed out"},
		{At: now, Status: tokenkeeper.DeliveryDelivered},
	}
	for i, r := range results {
		if err := f.store.FinishDelivery(ctx, ds[i].ID, "test", r); err != nil {
			f.t.Fatal(err)
		}
	}
	return ds[:2]
}

// history adds a week of refresh attempts to the healthy connections, so
// the charts have something to draw: mostly successes, a transient burst
// one afternoon, a few permanent failures.
func (f *fixture) history(s seeded) {
	f.t.Helper()
	rnd := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UTC()
	var rows []tokenkeeper.RefreshAttempt
	for _, c := range []*tokenkeeper.Connection{s.healthy, s.transient, s.globexReauth} {
		for h := 1; h < 7*24; h++ {
			at := now.Add(-time.Duration(h)*time.Hour + time.Duration(rnd.IntN(3600))*time.Second)
			n := 1 + rnd.IntN(3)
			for range n {
				class := tokenkeeper.ClassSuccess
				switch r := rnd.Float64(); {
				case h >= 30 && h < 34 && c.Provider == "acme":
					class = tokenkeeper.ClassTransient
				case r < 0.04:
					class = tokenkeeper.ClassTransient
				case r < 0.06 && c.Provider == "globex":
					class = tokenkeeper.ClassPermanent
				}
				a := tokenkeeper.RefreshAttempt{ConnectionID: c.ID, At: at, Trigger: tokenkeeper.TriggerScheduler, Class: class, Duration: time.Duration(80+rnd.IntN(300)) * time.Millisecond}
				if class != tokenkeeper.ClassSuccess {
					a.Code, a.HTTPStatus = "http_503", 503
				}
				rows = append(rows, a)
			}
		}
	}
	if err := f.store.AddAttempts(context.Background(), rows); err != nil {
		f.t.Fatalf("AddAttempts: %v", err)
	}
}
