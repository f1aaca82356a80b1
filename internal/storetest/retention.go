package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// retentionStore is what the retention tests need of a store: the history
// purge, and the notification and statistics tables it purges.
type retentionStore interface {
	tokenkeeper.Store
	tokenkeeper.HistoryStore
	tokenkeeper.NotificationStore
	tokenkeeper.StatsStore
}

// retentionTests check tokenkeeper.HistoryStore. Run runs them: every store
// purges its history.
var retentionTests = map[string]func(*testing.T, OpenFunc){
	"Attempts":      testPurgeAttempts,
	"RollUpFirst":   testPurgeRollsUpFirst,
	"Events":        testPurgeEvents,
	"Deliveries":    testPurgeDeliveries,
	"Notifications": testPurgeNotifications,
	"Batches":       testPurgeBatches,
	"Concurrent":    testPurgeConcurrent,
	"Empty":         testPurgeEmpty,
	"Canceled":      testPurgeCanceled,
}

// retentionFixture is a store with notifications and statistics, its
// fixtures, and the purge cutoff of the tests: 30 days before the base
// time, a whole UTC hour.
type retentionFixture struct {
	*fixture
	n      *notifyFixture
	s      retentionStore
	before time.Time
}

func newRetentionFixture(t *testing.T, open OpenFunc) *retentionFixture {
	t.Helper()
	f := setup(t, open)
	s, ok := f.s.(retentionStore)
	if !ok {
		t.Fatalf("%T does not implement tokenkeeper.HistoryStore, NotificationStore and StatsStore", f.s)
	}
	return &retentionFixture{
		fixture: f,
		n:       &notifyFixture{t: t, s: s, now: f.now},
		s:       s,
		before:  f.now.Add(-30 * 24 * time.Hour),
	}
}

// purge runs PurgeHistory and fails the test on an error.
func (f *retentionFixture) purge(before time.Time, batch int) tokenkeeper.PurgeCounts {
	f.t.Helper()
	c, err := f.s.PurgeHistory(f.t.Context(), before, batch)
	if err != nil {
		f.t.Fatalf("PurgeHistory(%s, %d): %v (deleted %+v)", before, batch, err, c)
	}
	return c
}

// addAttempts appends one attempt of class for connection id at each time.
func (f *retentionFixture) addAttempts(id string, class tokenkeeper.Class, at ...time.Time) {
	f.t.Helper()
	as := make([]tokenkeeper.RefreshAttempt, len(at))
	for i, t := range at {
		as[i] = tokenkeeper.RefreshAttempt{ConnectionID: id, At: t, Trigger: tokenkeeper.TriggerScheduler,
			Class: class, Duration: 120 * time.Millisecond}
	}
	if err := f.s.AddAttempts(f.t.Context(), as); err != nil {
		f.t.Fatalf("AddAttempts: %v", err)
	}
}

// attemptTimes returns the times of a connection's stored attempts, oldest first.
func (f *retentionFixture) attemptTimes(id string) []time.Time {
	f.t.Helper()
	var out []time.Time
	for _, a := range f.attempts(id) {
		out = append(out, a.At)
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// dispatchedEvents stores a connection with one event per time in
// occurred, claims them and dispatches each at its occurrence plus a
// minute, with one read in-app notification created then. It returns the
// events.
func (f *retentionFixture) dispatchedEvents(occurred ...time.Time) []tokenkeeper.Event {
	f.t.Helper()
	c := NewConnection(f.now)
	evs := make([]tokenkeeper.Event, len(occurred))
	for i, at := range occurred {
		evs[i] = tokenkeeper.NewEvent(tokenkeeper.EventRefreshWarning, c, at)
	}
	if err := f.s.CreateConnection(f.t.Context(), c, evs); err != nil {
		f.t.Fatalf("CreateConnection: %v", err)
	}
	if _, err := f.s.ClaimEvents(f.t.Context(), "dispatcher", f.now, f.now.Add(time.Minute), len(evs)+100); err != nil {
		f.t.Fatalf("ClaimEvents: %v", err)
	}
	for _, e := range evs {
		at := e.OccurredAt.Add(time.Minute)
		n := &tokenkeeper.Notification{ID: tokenkeeper.NewID("ntf_"), EventID: e.ID, UserID: c.UserID, ConnectionID: c.ID,
			Provider: c.Provider, Type: e.Type, Message: "Acme failed to refresh.", CreatedAt: at, ReadAt: at}
		err := f.s.DispatchEvent(f.t.Context(), tokenkeeper.Dispatch{EventID: e.ID, Owner: "dispatcher", At: at,
			Notifications: []*tokenkeeper.Notification{n}})
		if err != nil {
			f.t.Fatalf("DispatchEvent: %v", err)
		}
	}
	return evs
}

// eventIDs returns the ids of every stored event, in order.
func (f *retentionFixture) eventIDs() []string {
	f.t.Helper()
	var ids []string
	for _, e := range f.events() {
		ids = append(ids, e.ID)
	}
	return ids
}

// deliveryIDs returns the ids of every stored delivery, sorted.
func (f *retentionFixture) deliveryIDs() []string {
	f.t.Helper()
	ds, _, err := f.s.ListDeliveries(f.t.Context(), tokenkeeper.DeliveryFilter{Limit: 1000})
	if err != nil {
		f.t.Fatalf("ListDeliveries: %v", err)
	}
	return slices.Sorted(slices.Values(deliveryIDs(ds)))
}

// testPurgeAttempts: attempts go by whole UTC hours, those of the hours
// that ended at or before the cutoff; those of the hour the cutoff falls
// in stay, however old, and so do newer ones.
func testPurgeAttempts(t *testing.T, open OpenFunc) {
	f := newRetentionFixture(t, open)
	c := f.create()
	old := []time.Time{f.before.Add(-50 * time.Hour), f.before.Add(-2 * time.Hour), f.before.Add(-time.Millisecond)}
	kept := []time.Time{f.before, f.before.Add(20 * time.Minute), f.now.Add(-time.Hour)}
	f.addAttempts(c.ID, tokenkeeper.ClassSuccess, append(slices.Clone(old), kept...)...)

	got := f.purge(f.before.Add(30*time.Minute), 0)
	equal(t, "purged", tokenkeeper.PurgeCounts{Attempts: 3}, got)
	equal(t, "attempts kept", kept, f.attemptTimes(c.ID))

	// Once the hour has ended, its attempts go too.
	got = f.purge(f.before.Add(time.Hour), 0)
	equal(t, "purged an hour later", tokenkeeper.PurgeCounts{Attempts: 2}, got)
	equal(t, "attempts kept an hour later", kept[2:], f.attemptTimes(c.ID))
}

// testPurgeRollsUpFirst: no attempt is deleted before its hour is rolled
// up: the hourly counts of the purged hours are the same as before the
// purge, whether or not they had been rolled up before, and none is
// counted twice.
func testPurgeRollsUpFirst(t *testing.T, open OpenFunc) {
	f := newRetentionFixture(t, open)
	acme, globex := f.create(), f.create(withProvider("globex"))
	h1, h2 := f.before.Add(-50*time.Hour), f.before.Add(-2*time.Hour)
	f.addAttempts(acme.ID, tokenkeeper.ClassSuccess, h1.Add(5*time.Minute), h1.Add(59*time.Minute))
	f.addAttempts(acme.ID, tokenkeeper.ClassTransient, h1.Add(30*time.Minute))
	f.addAttempts(acme.ID, tokenkeeper.ClassPermanent, h2)
	f.addAttempts(globex.ID, tokenkeeper.ClassSuccess, h2.Add(time.Minute))
	// h2 (and the hours around it) are rolled up already; h1 is not.
	if _, err := f.s.CountAttempts(t.Context(), h2.Add(-time.Hour), f.before, time.Hour); err != nil {
		t.Fatalf("CountAttempts: %v", err)
	}

	equal(t, "purged", tokenkeeper.PurgeCounts{Attempts: 5}, f.purge(f.before, 0))
	if a, g := f.attempts(acme.ID), f.attempts(globex.ID); len(a)+len(g) != 0 {
		t.Errorf("attempts left: %v %v", a, g)
	}
	got, err := f.s.CountAttempts(t.Context(), f.before.Add(-3*24*time.Hour), f.before, time.Hour)
	if err != nil {
		t.Fatalf("CountAttempts: %v", err)
	}
	want := []tokenkeeper.AttemptCount{
		{Provider: "acme", Bucket: h1, Class: tokenkeeper.ClassSuccess, Count: 2},
		{Provider: "acme", Bucket: h1, Class: tokenkeeper.ClassTransient, Count: 1},
		{Provider: "acme", Bucket: h2, Class: tokenkeeper.ClassPermanent, Count: 1},
		{Provider: "globex", Bucket: h2, Class: tokenkeeper.ClassSuccess, Count: 1},
	}
	equal(t, "hourly counts after the purge", want, got)
}

// testPurgeEvents: dispatched events that occurred before the cutoff go;
// undispatched ones stay however old, and recent ones stay.
func testPurgeEvents(t *testing.T, open OpenFunc) {
	f := newRetentionFixture(t, open)
	c := NewConnection(f.now)
	oldDispatched := tokenkeeper.NewEvent(tokenkeeper.EventNeedsReauth, c, f.before.Add(-2*time.Hour))
	oldLeased := tokenkeeper.NewEvent(tokenkeeper.EventRecovered, c, f.before.Add(-time.Hour))
	oldWaiting := tokenkeeper.NewEvent(tokenkeeper.EventConnected, c, f.before.Add(-time.Hour))
	recent := tokenkeeper.NewEvent(tokenkeeper.EventRefreshWarning, c, f.before.Add(time.Millisecond))
	if err := f.s.CreateConnection(t.Context(), c, []tokenkeeper.Event{oldDispatched, oldLeased, recent}); err != nil {
		t.Fatalf("CreateConnection: %v", err)
	}
	if _, err := f.s.ClaimEvents(t.Context(), "dispatcher", f.now, f.now.Add(time.Minute), 10); err != nil {
		t.Fatalf("ClaimEvents: %v", err)
	}
	for _, e := range []tokenkeeper.Event{oldDispatched, recent} {
		if err := f.s.DispatchEvent(t.Context(), tokenkeeper.Dispatch{EventID: e.ID, Owner: "dispatcher", At: e.OccurredAt}); err != nil {
			t.Fatalf("DispatchEvent: %v", err)
		}
	}
	// An event never claimed at all.
	c.UpdatedAt = f.now
	if err := f.s.SaveConnection(t.Context(), tokenkeeper.Write{Connection: c, Events: []tokenkeeper.Event{oldWaiting}}); err != nil {
		t.Fatalf("SaveConnection: %v", err)
	}

	equal(t, "purged", tokenkeeper.PurgeCounts{Events: 1}, f.purge(f.before, 0))
	equal(t, "events kept", []string{oldLeased.ID, recent.ID, oldWaiting.ID}, f.eventIDs())
	if n, err := f.s.CountUndispatchedEvents(t.Context()); err != nil || n != 2 {
		t.Errorf("CountUndispatchedEvents = %d, %v; want 2", n, err)
	}
}

// testPurgeDeliveries: delivered and dead deliveries last updated before
// the cutoff go; pending ones stay however old, and so do recent finished
// ones and a dead one retried since.
func testPurgeDeliveries(t *testing.T, open OpenFunc) {
	f := newRetentionFixture(t, open)
	old := f.before.Add(-time.Hour)
	at := func(status tokenkeeper.DeliveryStatus, updated time.Time) *tokenkeeper.Delivery {
		return f.n.delivery(old, func(d *tokenkeeper.Delivery) {
			d.Status, d.CreatedAt, d.UpdatedAt = status, old.Add(-time.Hour), updated
			if status == tokenkeeper.DeliveryDelivered {
				d.DeliveredAt = updated
			}
		})
	}
	oldDelivered := at(tokenkeeper.DeliveryDelivered, old)
	oldDead := at(tokenkeeper.DeliveryDead, old)
	oldPending := at(tokenkeeper.DeliveryPending, old)
	justDelivered := at(tokenkeeper.DeliveryDelivered, f.before)
	retried := at(tokenkeeper.DeliveryDead, old)
	sent := at(tokenkeeper.DeliveryPending, old)
	f.n.enqueue(oldDelivered, oldDead, oldPending, justDelivered, retried, sent)
	if _, err := f.s.RetryDelivery(t.Context(), retried.ID, f.now); err != nil {
		t.Fatalf("RetryDelivery: %v", err)
	}
	// sent is delivered through a claim, as the notifier does it.
	claimed, err := f.s.ClaimDeliveries(t.Context(), "worker", old, old.Add(time.Minute), 10)
	if err != nil {
		t.Fatalf("ClaimDeliveries: %v", err)
	}
	for _, d := range claimed {
		r := tokenkeeper.DeliveryResult{At: old, Status: tokenkeeper.DeliveryPending, NextAttemptAt: f.now, Error: "HTTP 503"}
		if d.ID == sent.ID {
			r = tokenkeeper.DeliveryResult{At: old, Status: tokenkeeper.DeliveryDelivered}
		}
		if err := f.s.FinishDelivery(t.Context(), d.ID, "worker", r); err != nil {
			t.Fatalf("FinishDelivery: %v", err)
		}
	}

	equal(t, "purged", tokenkeeper.PurgeCounts{Deliveries: 3}, f.purge(f.before, 0))
	equal(t, "deliveries kept", slices.Sorted(slices.Values([]string{oldPending.ID, justDelivered.ID, retried.ID})), f.deliveryIDs())
}

// testPurgeNotifications: in-app notifications created before the cutoff
// go, read or not, unless they wait for a digest e-mail; once the digest is
// made, they go too.
func testPurgeNotifications(t *testing.T, open OpenFunc) {
	f := newRetentionFixture(t, open)
	old := f.before.Add(-time.Hour)
	oldRead := f.n.inApp("user_a", old, false)
	if _, err := f.s.MarkNotificationRead(t.Context(), oldRead.ID, old.Add(time.Minute)); err != nil {
		t.Fatalf("MarkNotificationRead: %v", err)
	}
	f.n.inApp("user_a", old.Add(time.Second), false) // unread
	digest := f.n.inApp("user_a", old.Add(2*time.Second), true)
	recent := f.n.inApp("user_a", f.before, false)

	// The events of the old notifications were dispatched before the cutoff too.
	equal(t, "purged", tokenkeeper.PurgeCounts{Events: 3, Notifications: 2}, f.purge(f.before, 0))
	ids := func() []string {
		var out []string
		for _, n := range f.n.listAll("user_a", false, 100) {
			out = append(out, n.ID)
		}
		return out
	}
	equal(t, "notifications kept", []string{recent.ID, digest.ID}, ids())

	d := f.n.delivery(f.now, func(d *tokenkeeper.Delivery) {
		d.Key, d.Channel, d.UserID = "digest:user_a:2025-12-01", tokenkeeper.ChannelEmail, "user_a"
	})
	if ok, err := f.s.CreateDigest(t.Context(), d, []string{digest.ID}); !ok || err != nil {
		t.Fatalf("CreateDigest = %t, %v", ok, err)
	}
	equal(t, "purged after the digest", tokenkeeper.PurgeCounts{Notifications: 1}, f.purge(f.before, 0))
	equal(t, "notifications kept after the digest", []string{recent.ID}, ids())
	equal(t, "deliveries kept (the pending digest)", []string{d.ID}, f.deliveryIDs())
}

// testPurgeBatches: with batches smaller than the rows to delete, the purge
// loops until every old row is gone, row counts exact, whether or not they
// are a multiple of the batch.
func testPurgeBatches(t *testing.T, open OpenFunc) {
	f := newRetentionFixture(t, open)
	c := f.create()
	var old []time.Time
	for i := range 23 {
		old = append(old, f.before.Add(-time.Duration(i%3)*5*time.Hour-time.Duration(i+1)*time.Minute))
	}
	f.addAttempts(c.ID, tokenkeeper.ClassSuccess, old...)
	f.addAttempts(c.ID, tokenkeeper.ClassTransient, f.before)
	var occurred []time.Time
	for i := range 9 {
		occurred = append(occurred, f.before.Add(-time.Duration(i+2)*time.Minute))
	}
	evs := f.dispatchedEvents(occurred...)
	keptEvent := f.dispatchedEvents(f.before)
	var ds []*tokenkeeper.Delivery
	for i := range 8 {
		ds = append(ds, f.n.delivery(f.before, func(d *tokenkeeper.Delivery) {
			d.Status, d.UpdatedAt = tokenkeeper.DeliveryDelivered, f.before.Add(-time.Duration(i+1)*time.Hour)
		}))
	}
	keptDelivery := f.n.delivery(f.before, func(d *tokenkeeper.Delivery) { d.Status = tokenkeeper.DeliveryDead; d.UpdatedAt = f.before })
	f.n.enqueue(append(ds, keptDelivery)...)

	got := f.purge(f.before, 4)
	equal(t, "purged", tokenkeeper.PurgeCounts{Attempts: 23, Events: 9, Deliveries: 8, Notifications: 9}, got)
	equal(t, "attempts kept", []time.Time{f.before}, f.attemptTimes(c.ID))
	equal(t, "events kept", []string{keptEvent[0].ID}, f.eventIDs())
	equal(t, "deliveries kept", []string{keptDelivery.ID}, f.deliveryIDs())
	if ns := f.n.listAll(evs[0].UserID, false, 100); len(ns) != 0 {
		t.Errorf("notifications of purged events left: %d", len(ns))
	}
	equal(t, "purged again", tokenkeeper.PurgeCounts{}, f.purge(f.before, 1))
}

// testPurgeConcurrent: purges that overlap (a replica whose lease expired
// mid-purge) delete every old row once between them, without an error,
// and roll every hour up once.
func testPurgeConcurrent(t *testing.T, open OpenFunc) {
	f := newRetentionFixture(t, open)
	c := f.create()
	var old []time.Time
	for i := range 60 {
		old = append(old, f.before.Add(-time.Duration(i)*17*time.Minute-time.Minute))
	}
	f.addAttempts(c.ID, tokenkeeper.ClassSuccess, old...)
	var ds []*tokenkeeper.Delivery
	for i := range 30 {
		ds = append(ds, f.n.delivery(f.before, func(d *tokenkeeper.Delivery) {
			d.Status, d.UpdatedAt = tokenkeeper.DeliveryDead, f.before.Add(-time.Duration(i+1)*time.Minute)
		}))
	}
	f.n.enqueue(ds...)
	var wg sync.WaitGroup
	counts := make([]tokenkeeper.PurgeCounts, 3)
	errs := make([]error, len(counts))
	for i := range counts {
		wg.Go(func() { counts[i], errs[i] = f.s.PurgeHistory(t.Context(), f.before, 4) })
	}
	wg.Wait()
	var sum tokenkeeper.PurgeCounts
	for i, c := range counts {
		if errs[i] != nil {
			t.Errorf("purge %d: %v", i, errs[i])
		}
		sum.Attempts += c.Attempts
		sum.Deliveries += c.Deliveries
	}
	equal(t, "purged in all", tokenkeeper.PurgeCounts{Attempts: 60, Deliveries: 30}, sum)
	if n := len(f.attempts(c.ID)); n != 0 {
		t.Errorf("attempts left: %d", n)
	}
	got, err := f.s.CountAttempts(t.Context(), f.before.Add(-30*time.Hour), f.now, 24*time.Hour)
	if err != nil {
		t.Fatalf("CountAttempts: %v", err)
	}
	total := 0
	for _, a := range got {
		total += a.Count
	}
	if total != 60 {
		t.Errorf("attempts counted after the purges = %d, want 60 (%+v)", total, got)
	}
}

// testPurgeEmpty: a purge of an empty store deletes nothing and succeeds.
func testPurgeEmpty(t *testing.T, open OpenFunc) {
	f := newRetentionFixture(t, open)
	equal(t, "purged", tokenkeeper.PurgeCounts{}, f.purge(f.now, 0))
}

// testPurgeCanceled: a purge whose context has ended returns an error and
// deletes nothing.
func testPurgeCanceled(t *testing.T, open OpenFunc) {
	f := newRetentionFixture(t, open)
	c := f.create()
	f.addAttempts(c.ID, tokenkeeper.ClassSuccess, f.before.Add(-time.Hour))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	got, err := f.s.PurgeHistory(ctx, f.before, 0)
	if err == nil {
		t.Fatalf("PurgeHistory with an ended context = %+v, nil; want an error", got)
	}
	equal(t, "purged", tokenkeeper.PurgeCounts{}, got)
	if n := len(f.attempts(c.ID)); n != 1 {
		t.Errorf("attempts left = %d, want 1", n)
	}
}
