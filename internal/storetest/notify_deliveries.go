package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// claimDeliveries claims deliveries at now for a minute and returns them.
func (f *notifyFixture) claimDeliveries(owner string, now time.Time, limit int) []*tokenkeeper.Delivery {
	f.t.Helper()
	ds, err := f.s.ClaimDeliveries(f.t.Context(), owner, now, now.Add(time.Minute), limit)
	if err != nil {
		f.t.Fatalf("ClaimDeliveries(%s): %v", owner, err)
	}
	return ds
}

// getDelivery reads a delivery that must exist.
func (f *notifyFixture) getDelivery(id string) *tokenkeeper.Delivery {
	f.t.Helper()
	d, err := f.s.GetDelivery(f.t.Context(), id)
	if err != nil {
		f.t.Fatalf("GetDelivery(%s): %v", id, err)
	}
	return d
}

func testDeliveryRoundTrip(t *testing.T, f *notifyFixture) {
	d := f.delivery(f.now.Add(time.Second+123*time.Millisecond), func(d *tokenkeeper.Delivery) {
		d.Channel, d.Target, d.UserID, d.EventID = tokenkeeper.ChannelChat, "discord", "user_1", "evt_1"
		d.Attempts, d.LastError = 2, "receiver answered 500"
		d.RetriedAt = f.now.Add(time.Millisecond)
		d.Payload = []byte{0, 1, 2, 0xff, '{', '}'}
	})
	f.enqueue(d)
	equal(t, "delivery", d, f.getDelivery(d.ID))
	if _, err := f.s.GetDelivery(t.Context(), "dlv_unknown"); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("GetDelivery(unknown) = %v, want ErrNotFound", err)
	}
	if !d.Since().Equal(d.RetriedAt) {
		t.Errorf("Since = %s, want the retry time %s", fmtTime(d.Since()), fmtTime(d.RetriedAt))
	}
}

func testClaimDeliveriesDue(t *testing.T, f *notifyFixture) {
	late := f.delivery(f.now.Add(2 * time.Second))
	early := f.delivery(f.now.Add(time.Second))
	future := f.delivery(f.now.Add(time.Hour))
	done := f.delivery(f.now, func(d *tokenkeeper.Delivery) { d.Status = tokenkeeper.DeliveryDelivered })
	dead := f.delivery(f.now, func(d *tokenkeeper.Delivery) { d.Status = tokenkeeper.DeliveryDead })
	f.enqueue(late, early, future, done, dead)
	at := f.now.Add(2 * time.Second)
	got := f.claimDeliveries("a", at, 10)
	equal(t, "claimed (earliest due first)", []string{early.ID, late.ID}, deliveryIDs(got))
	if got[0].LeaseOwner != "a" || !got[0].LeaseUntil.Equal(at.Add(time.Minute)) {
		t.Errorf("claimed lease = %q until %s", got[0].LeaseOwner, fmtTime(got[0].LeaseUntil))
	}
	if again := f.claimDeliveries("b", at.Add(time.Minute), 10); len(again) != 0 {
		t.Errorf("leased deliveries claimed again before the lease ended: %v", deliveryIDs(again))
	}
	equal(t, "claimed after expiry", []string{early.ID, late.ID}, deliveryIDs(f.claimDeliveries("b", at.Add(time.Minute+time.Millisecond), 2)))
	if none := f.claimDeliveries("c", at, 0); len(none) != 0 {
		t.Errorf("limit 0 claimed %v", deliveryIDs(none))
	}
}

func testClaimDeliveriesConcurrently(t *testing.T, f *notifyFixture) {
	var all []*tokenkeeper.Delivery
	for range 30 {
		all = append(all, f.delivery(f.now))
	}
	f.enqueue(all...)
	seen := claimConcurrently(t, []string{"w0", "w1", "w2", "w3"}, func(owner string) ([]string, error) {
		ds, err := f.s.ClaimDeliveries(t.Context(), owner, f.now, f.now.Add(time.Minute), 4)
		return deliveryIDs(ds), err
	})
	equal(t, "claimed deliveries", slices.Sorted(slices.Values(deliveryIDs(all))), slices.Sorted(maps.Keys(seen)))
}

func testFinishDelivery(t *testing.T, f *notifyFixture) {
	ok, retry, dead := f.delivery(f.now), f.delivery(f.now), f.delivery(f.now)
	f.enqueue(ok, retry, dead)
	f.claimDeliveries("a", f.now, 10)
	at := f.now.Add(time.Second)
	next := f.now.Add(time.Minute)
	results := map[*tokenkeeper.Delivery]tokenkeeper.DeliveryResult{
		ok:    {At: at, Status: tokenkeeper.DeliveryDelivered},
		retry: {At: at, Status: tokenkeeper.DeliveryPending, NextAttemptAt: next, Error: "receiver answered 503"},
		dead:  {At: at, Status: tokenkeeper.DeliveryDead, Error: "gave up after 24h0m0s"},
	}
	for d, r := range results {
		if err := f.s.FinishDelivery(t.Context(), d.ID, "a", r); err != nil {
			t.Fatalf("FinishDelivery(%s): %v", r.Status, err)
		}
		want := *d
		want.Attempts, want.Status, want.LastError, want.UpdatedAt = 1, r.Status, r.Error, at
		want.NextAttemptAt = r.NextAttemptAt
		if r.Status == tokenkeeper.DeliveryDelivered {
			want.DeliveredAt = at
		}
		equal(t, string(r.Status)+" delivery", &want, f.getDelivery(d.ID))
	}
	// Only the retry is claimed again, and only when it is due.
	if got := f.claimDeliveries("b", next.Add(-time.Millisecond), 10); len(got) != 0 {
		t.Errorf("claimed before the retry time: %v", deliveryIDs(got))
	}
	equal(t, "claimed at the retry time", []string{retry.ID}, deliveryIDs(f.claimDeliveries("b", next, 10)))
	// Success after a failure keeps the failure's message.
	if err := f.s.FinishDelivery(t.Context(), retry.ID, "b", tokenkeeper.DeliveryResult{At: next, Status: tokenkeeper.DeliveryDelivered}); err != nil {
		t.Fatal(err)
	}
	got := f.getDelivery(retry.ID)
	if got.Attempts != 2 || got.Status != tokenkeeper.DeliveryDelivered || got.LastError != "receiver answered 503" || !got.DeliveredAt.Equal(next) {
		t.Errorf("after a retry: attempts %d status %s error %q delivered %s", got.Attempts, got.Status, got.LastError, fmtTime(got.DeliveredAt))
	}
	if err := f.s.FinishDelivery(t.Context(), retry.ID, "b", tokenkeeper.DeliveryResult{At: next, Status: "lost"}); err == nil {
		t.Error("FinishDelivery with an unknown status succeeded")
	}
}

func testFinishNeedsLease(t *testing.T, f *notifyFixture) {
	d := f.delivery(f.now)
	f.enqueue(d)
	r := tokenkeeper.DeliveryResult{At: f.now, Status: tokenkeeper.DeliveryDelivered}
	if err := f.s.FinishDelivery(t.Context(), d.ID, "a", r); !errors.Is(err, tokenkeeper.ErrLeaseHeld) {
		t.Errorf("FinishDelivery unclaimed = %v, want ErrLeaseHeld", err)
	}
	f.claimDeliveries("a", f.now, 1)
	// a's lease expired and b took it over: a's late result is refused.
	f.claimDeliveries("b", f.now.Add(2*time.Minute), 1)
	if err := f.s.FinishDelivery(t.Context(), d.ID, "a", r); !errors.Is(err, tokenkeeper.ErrLeaseHeld) {
		t.Errorf("FinishDelivery by a former holder = %v, want ErrLeaseHeld", err)
	}
	if got := f.getDelivery(d.ID); got.Attempts != 0 || got.Status != tokenkeeper.DeliveryPending || got.LeaseOwner != "b" {
		t.Errorf("refused finish wrote: attempts %d status %s lease %q", got.Attempts, got.Status, got.LeaseOwner)
	}
	if err := f.s.FinishDelivery(t.Context(), "dlv_unknown", "a", r); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("FinishDelivery(unknown) = %v, want ErrNotFound", err)
	}
}

func testListDeliveries(t *testing.T, f *notifyFixture) {
	var pending, dead []*tokenkeeper.Delivery
	for i := range 5 {
		pending = append(pending, f.delivery(f.now))
		dead = append(dead, f.delivery(f.now, func(d *tokenkeeper.Delivery) {
			d.Status, d.LastError = tokenkeeper.DeliveryDead, fmt.Sprintf("error %d", i)
		}))
		f.enqueue(pending[i], dead[i])
	}
	var got []*tokenkeeper.Delivery
	cursor, pages := "", 0
	for {
		page, next, err := f.s.ListDeliveries(t.Context(), tokenkeeper.DeliveryFilter{Status: tokenkeeper.DeliveryDead, After: cursor, Limit: 2})
		if err != nil {
			t.Fatalf("ListDeliveries: %v", err)
		}
		got, pages = append(got, page...), pages+1
		if next == "" {
			break
		}
		cursor = next
	}
	equal(t, "dead deliveries, oldest first", dead, got)
	if pages != 3 {
		t.Errorf("%d pages of 2 for 5 deliveries, want 3", pages)
	}
	all, next, err := f.s.ListDeliveries(t.Context(), tokenkeeper.DeliveryFilter{})
	if err != nil || len(all) != 10 || next != "" {
		t.Errorf("ListDeliveries(all) = %d, %q, %v; want 10, \"\", nil", len(all), next, err)
	}
	for _, bad := range []string{"x", "-1", "0"} {
		_, _, err := f.s.ListDeliveries(t.Context(), tokenkeeper.DeliveryFilter{After: bad})
		if tokenkeeper.ErrorCode(err) != tokenkeeper.CodeInvalidRequest {
			t.Errorf("ListDeliveries(cursor %q) = %v, want INVALID_REQUEST", bad, err)
		}
	}
}

func testRetryDelivery(t *testing.T, f *notifyFixture) {
	dead := f.delivery(f.now, func(d *tokenkeeper.Delivery) {
		d.Status, d.Attempts, d.LastError = tokenkeeper.DeliveryDead, 7, "receiver answered 500"
	})
	pending := f.delivery(f.now)
	f.enqueue(dead, pending)
	at := f.now.Add(time.Hour)
	got, err := f.s.RetryDelivery(t.Context(), dead.ID, at)
	if err != nil {
		t.Fatalf("RetryDelivery: %v", err)
	}
	want := *dead
	want.Status, want.Attempts, want.NextAttemptAt, want.RetriedAt, want.UpdatedAt = tokenkeeper.DeliveryPending, 0, at, at, at
	equal(t, "retried delivery", &want, got)
	if !got.Since().Equal(at) {
		t.Errorf("Since = %s, want the retry time", fmtTime(got.Since()))
	}
	equal(t, "claimed (earliest due first)", []string{pending.ID, dead.ID}, deliveryIDs(f.claimDeliveries("a", at, 10)))
	if _, err := f.s.RetryDelivery(t.Context(), pending.ID, at); !errors.Is(err, tokenkeeper.ErrDeliveryNotDead) {
		t.Errorf("RetryDelivery(pending) = %v, want ErrDeliveryNotDead", err)
	}
	if _, err := f.s.RetryDelivery(t.Context(), "dlv_unknown", at); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("RetryDelivery(unknown) = %v, want ErrNotFound", err)
	}
}

func testNotifyCounts(t *testing.T, f *notifyFixture) {
	f.events(tokenkeeper.EventConnected, tokenkeeper.EventNeedsReauth)
	f.enqueue(
		f.delivery(f.now),
		f.delivery(f.now),
		f.delivery(f.now, func(d *tokenkeeper.Delivery) { d.Status = tokenkeeper.DeliveryDead }),
		f.delivery(f.now, func(d *tokenkeeper.Delivery) { d.Channel = tokenkeeper.ChannelEmail }),
	)
	got, err := f.s.CountDeliveries(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "counts", []tokenkeeper.DeliveryCount{
		{Channel: tokenkeeper.ChannelEmail, Status: tokenkeeper.DeliveryPending, Count: 1},
		{Channel: tokenkeeper.ChannelWebhook, Status: tokenkeeper.DeliveryDead, Count: 1},
		{Channel: tokenkeeper.ChannelWebhook, Status: tokenkeeper.DeliveryPending, Count: 2},
	}, got)
	if n, err := f.s.CountUndispatchedEvents(t.Context()); err != nil || n != 2 {
		t.Errorf("CountUndispatchedEvents = %d, %v; want 2", n, err)
	}
}
