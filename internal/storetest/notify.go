package storetest

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// NotificationTestStore is a store with the notification tables.
type NotificationTestStore interface {
	tokenkeeper.Store
	tokenkeeper.NotificationStore
}

// RunNotifications runs the conformance suite of tokenkeeper.NotificationStore.
// Every subtest calls open for a fresh, migrated, empty store of its own and
// runs in parallel with the others.
func RunNotifications(t *testing.T, open func(t *testing.T) NotificationTestStore) {
	tests := map[string]func(*testing.T, *notifyFixture){
		"ClaimEventsInOrder":          testClaimEventsInOrder,
		"ClaimEventsConcurrently":     testClaimEventsConcurrently,
		"DispatchEvent":               testDispatchEvent,
		"DispatchNeedsLease":          testDispatchNeedsLease,
		"DispatchIdempotent":          testDispatchIdempotent,
		"DeliveryRoundTrip":           testDeliveryRoundTrip,
		"ClaimDeliveriesDue":          testClaimDeliveriesDue,
		"ClaimDeliveriesConcurrently": testClaimDeliveriesConcurrently,
		"FinishDelivery":              testFinishDelivery,
		"FinishNeedsLease":            testFinishNeedsLease,
		"ListDeliveries":              testListDeliveries,
		"RetryDelivery":               testRetryDelivery,
		"Counts":                      testNotifyCounts,
		"ListNotifications":           testListNotifications,
		"MarkNotificationRead":        testMarkNotificationRead,
		"Digests":                     testDigests,
	}
	for _, name := range slices.Sorted(maps.Keys(tests)) {
		test := tests[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			test(t, &notifyFixture{t: t, s: s, now: BaseTime()})
		})
	}
}

// notifyFixture is a store, the base time and helpers.
type notifyFixture struct {
	t   *testing.T
	s   NotificationTestStore
	now time.Time
}

// events stores a new connection with one event of each given type, written
// in that order, and returns the events.
func (f *notifyFixture) events(types ...tokenkeeper.EventType) []tokenkeeper.Event {
	f.t.Helper()
	c := NewConnection(f.now)
	var evs []tokenkeeper.Event
	for i, typ := range types {
		evs = append(evs, tokenkeeper.NewEvent(typ, c, f.now.Add(time.Duration(i)*time.Millisecond)))
	}
	if err := f.s.CreateConnection(f.t.Context(), c, evs); err != nil {
		f.t.Fatalf("CreateConnection: %v", err)
	}
	return evs
}

// claimEvents claims events and returns their ids.
func (f *notifyFixture) claimEvents(owner string, now time.Time, limit int) []string {
	f.t.Helper()
	evs, err := f.s.ClaimEvents(f.t.Context(), owner, now, now.Add(time.Minute), limit)
	if err != nil {
		f.t.Fatalf("ClaimEvents(%s): %v", owner, err)
	}
	var ids []string
	for i, e := range evs {
		if i > 0 && e.Seq <= evs[i-1].Seq {
			f.t.Errorf("ClaimEvents returned seq %d after %d", e.Seq, evs[i-1].Seq)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// delivery returns a pending delivery due at due, with a unique key.
func (f *notifyFixture) delivery(due time.Time, mods ...func(*tokenkeeper.Delivery)) *tokenkeeper.Delivery {
	d := &tokenkeeper.Delivery{
		ID:            tokenkeeper.NewID("dlv_"),
		Key:           tokenkeeper.NewID("evt_") + ":webhook",
		Channel:       tokenkeeper.ChannelWebhook,
		Payload:       []byte(`{"id":"evt_x","type":"connection.needs_reauth"}`),
		Status:        tokenkeeper.DeliveryPending,
		NextAttemptAt: due,
		CreatedAt:     f.now,
		UpdatedAt:     f.now,
	}
	for _, mod := range mods {
		mod(d)
	}
	return d
}

// enqueue stores deliveries that must all be new.
func (f *notifyFixture) enqueue(ds ...*tokenkeeper.Delivery) {
	f.t.Helper()
	n, err := f.s.EnqueueDeliveries(f.t.Context(), ds)
	if err != nil || n != len(ds) {
		f.t.Fatalf("EnqueueDeliveries = %d, %v; want %d, nil", n, err, len(ds))
	}
}

// deliveryIDs returns the deliveries' ids.
func deliveryIDs(ds []*tokenkeeper.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func testClaimEventsInOrder(t *testing.T, f *notifyFixture) {
	evs := f.events(tokenkeeper.EventConnected, tokenkeeper.EventRefreshWarning, tokenkeeper.EventNeedsReauth)
	want := []string{evs[0].ID, evs[1].ID, evs[2].ID}
	equal(t, "claimed by a", want[:2], f.claimEvents("a", f.now, 2))
	equal(t, "claimed by b", want[2:], f.claimEvents("b", f.now, 10))
	if got := f.claimEvents("c", f.now.Add(time.Minute), 10); len(got) != 0 {
		t.Errorf("events leased until and including the lease's end were claimed again: %v", got)
	}
	// Expired leases are taken over.
	equal(t, "claimed after expiry", want, f.claimEvents("c", f.now.Add(time.Minute+time.Millisecond), 10))
	if got := f.claimEvents("d", f.now, 0); len(got) != 0 {
		t.Errorf("ClaimEvents with limit 0 returned %v", got)
	}
	got, err := f.s.ClaimEvents(t.Context(), "e", f.now.Add(time.Hour), f.now.Add(2*time.Hour), 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("ClaimEvents = %v, %v", got, err)
	}
	equal(t, "claimed event", evs[0].ID, got[0].Event.ID)
	equal(t, "claimed event type", evs[0].Type, got[0].Event.Type)
}

func testClaimEventsConcurrently(t *testing.T, f *notifyFixture) {
	var all []string
	for range 10 {
		for _, e := range f.events(tokenkeeper.EventConnected, tokenkeeper.EventDisconnected) {
			all = append(all, e.ID)
		}
	}
	seen := claimConcurrently(t, []string{"w0", "w1", "w2", "w3"}, func(owner string) ([]string, error) {
		evs, err := f.s.ClaimEvents(t.Context(), owner, f.now, f.now.Add(time.Minute), 3)
		ids := make([]string, len(evs))
		for i, e := range evs {
			ids[i] = e.ID
		}
		return ids, err
	})
	equal(t, "claimed events", slices.Sorted(slices.Values(all)), slices.Sorted(maps.Keys(seen)))
}

// dispatch returns a Dispatch of event e by owner with one notification and
// two deliveries (webhook and e-mail).
func (f *notifyFixture) dispatch(e tokenkeeper.Event, owner string) tokenkeeper.Dispatch {
	n := &tokenkeeper.Notification{
		ID: tokenkeeper.NewID("ntf_"), EventID: e.ID, UserID: e.UserID, ConnectionID: e.ConnectionID,
		Provider: e.Provider, Type: e.Type, Message: "Reconnect Acme.", CreatedAt: f.now,
	}
	return tokenkeeper.Dispatch{
		EventID: e.ID, Owner: owner, At: f.now,
		Notifications: []*tokenkeeper.Notification{n},
		Deliveries: []*tokenkeeper.Delivery{
			f.delivery(f.now, func(d *tokenkeeper.Delivery) { d.Key, d.EventID = e.ID+":webhook", e.ID }),
			f.delivery(f.now, func(d *tokenkeeper.Delivery) {
				d.Key, d.EventID, d.Channel, d.UserID = e.ID+":email", e.ID, tokenkeeper.ChannelEmail, e.UserID
			}),
		},
	}
}

func testDispatchEvent(t *testing.T, f *notifyFixture) {
	evs := f.events(tokenkeeper.EventNeedsReauth, tokenkeeper.EventRecovered)
	f.claimEvents("a", f.now, 10)
	d := f.dispatch(evs[0], "a")
	if err := f.s.DispatchEvent(t.Context(), d); err != nil {
		t.Fatalf("DispatchEvent: %v", err)
	}
	if n, err := f.s.CountUndispatchedEvents(t.Context()); err != nil || n != 1 {
		t.Errorf("CountUndispatchedEvents = %d, %v; want 1", n, err)
	}
	// The dispatched event is never claimed again, even after its lease.
	equal(t, "claimable events", []string{evs[1].ID}, f.claimEvents("b", f.now.Add(time.Hour), 10))
	ns, _, err := f.s.ListNotifications(t.Context(), tokenkeeper.NotificationFilter{UserID: evs[0].UserID})
	if err != nil {
		t.Fatalf("ListNotifications: %v", err)
	}
	equal(t, "notifications", d.Notifications, ns)
	ds, _, err := f.s.ListDeliveries(t.Context(), tokenkeeper.DeliveryFilter{})
	if err != nil {
		t.Fatalf("ListDeliveries: %v", err)
	}
	equal(t, "deliveries", d.Deliveries, ds)
	// A second dispatch of a dispatched event is refused.
	if err := f.s.DispatchEvent(t.Context(), f.dispatch(evs[0], "a")); !errors.Is(err, tokenkeeper.ErrLeaseHeld) {
		t.Errorf("second DispatchEvent = %v, want ErrLeaseHeld", err)
	}
	if err := f.s.DispatchEvent(t.Context(), f.dispatch(tokenkeeper.Event{ID: "evt_unknown"}, "a")); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("DispatchEvent(unknown) = %v, want ErrNotFound", err)
	}
}

func testDispatchNeedsLease(t *testing.T, f *notifyFixture) {
	evs := f.events(tokenkeeper.EventNeedsReauth)
	// Unclaimed, then claimed by someone else: refused, nothing written.
	for _, owner := range []string{"", "b"} {
		if owner != "" {
			f.claimEvents(owner, f.now, 1)
		}
		if err := f.s.DispatchEvent(t.Context(), f.dispatch(evs[0], "a")); !errors.Is(err, tokenkeeper.ErrLeaseHeld) {
			t.Errorf("DispatchEvent without the lease (holder %q) = %v, want ErrLeaseHeld", owner, err)
		}
	}
	ds, _, err := f.s.ListDeliveries(t.Context(), tokenkeeper.DeliveryFilter{})
	if err != nil || len(ds) != 0 {
		t.Errorf("deliveries after refused dispatches = %d, %v; want none", len(ds), err)
	}
	if n, err := f.s.CountUndispatchedEvents(t.Context()); err != nil || n != 1 {
		t.Errorf("CountUndispatchedEvents = %d, %v; want 1", n, err)
	}
	if err := f.s.DispatchEvent(t.Context(), f.dispatch(evs[0], "b")); err != nil {
		t.Errorf("DispatchEvent by the holder: %v", err)
	}
}

func testDispatchIdempotent(t *testing.T, f *notifyFixture) {
	evs := f.events(tokenkeeper.EventNeedsReauth)
	f.claimEvents("a", f.now, 1)
	d := f.dispatch(evs[0], "a")
	// The webhook delivery was enqueued before (a dispatch that crashed after
	// enqueueing it, say): the dispatch keeps the existing row.
	existing := f.delivery(f.now.Add(time.Hour), func(x *tokenkeeper.Delivery) { x.Key, x.EventID = d.Deliveries[0].Key, evs[0].ID })
	f.enqueue(existing)
	if err := f.s.DispatchEvent(t.Context(), d); err != nil {
		t.Fatalf("DispatchEvent: %v", err)
	}
	ds, _, err := f.s.ListDeliveries(t.Context(), tokenkeeper.DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "deliveries", []*tokenkeeper.Delivery{existing, d.Deliveries[1]}, ds)
	if n, err := f.s.EnqueueDeliveries(t.Context(), d.Deliveries); err != nil || n != 0 {
		t.Errorf("EnqueueDeliveries of existing keys = %d, %v; want 0, nil", n, err)
	}
}
