package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// inApp stores, through an event and its dispatch, a notification for user
// created at `at`, and returns it.
func (f *notifyFixture) inApp(user string, at time.Time, digest bool) *tokenkeeper.Notification {
	f.t.Helper()
	c := NewConnection(f.now, withUser(user))
	e := tokenkeeper.NewEvent(tokenkeeper.EventNeedsReauth, c, at)
	if err := f.s.CreateConnection(f.t.Context(), c, []tokenkeeper.Event{e}); err != nil {
		f.t.Fatalf("CreateConnection: %v", err)
	}
	if _, err := f.s.ClaimEvents(f.t.Context(), "d", at, at.Add(time.Minute), 100); err != nil {
		f.t.Fatalf("ClaimEvents: %v", err)
	}
	n := &tokenkeeper.Notification{
		ID: tokenkeeper.NewID("ntf_"), EventID: e.ID, UserID: user, ConnectionID: c.ID, Provider: c.Provider,
		Type: e.Type, Message: "Reconnect Acme to keep it working.", CreatedAt: at, DigestPending: digest,
	}
	err := f.s.DispatchEvent(f.t.Context(), tokenkeeper.Dispatch{EventID: e.ID, Owner: "d", At: at, Notifications: []*tokenkeeper.Notification{n}})
	if err != nil {
		f.t.Fatalf("DispatchEvent: %v", err)
	}
	return n
}

// listAll reads every page of a user's notifications with the page size.
func (f *notifyFixture) listAll(user string, unread bool, size int) []*tokenkeeper.Notification {
	f.t.Helper()
	var out []*tokenkeeper.Notification
	cursor := ""
	for range 100 {
		page, next, err := f.s.ListNotifications(f.t.Context(), tokenkeeper.NotificationFilter{UserID: user, UnreadOnly: unread, After: cursor, Limit: size})
		if err != nil {
			f.t.Fatalf("ListNotifications: %v", err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		cursor = next
	}
	f.t.Fatal("ListNotifications never ended")
	return nil
}

func testListNotifications(t *testing.T, f *notifyFixture) {
	var mine []*tokenkeeper.Notification
	for i := range 5 {
		mine = append(mine, f.inApp("user_a", f.now.Add(time.Duration(i)*time.Second), false))
		f.inApp("user_b", f.now, false)
	}
	newest := []*tokenkeeper.Notification{mine[4], mine[3], mine[2], mine[1], mine[0]}
	equal(t, "notifications, newest first", newest, f.listAll("user_a", false, 2))
	equal(t, "one page", newest, f.listAll("user_a", false, 0))
	if got := f.listAll("user_nobody", false, 10); len(got) != 0 {
		t.Errorf("notifications of an unknown user: %d", len(got))
	}
	if _, err := f.s.MarkNotificationRead(t.Context(), mine[3].ID, f.now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	equal(t, "unread", []*tokenkeeper.Notification{mine[4], mine[2], mine[1], mine[0]}, f.listAll("user_a", true, 3))
	_, _, err := f.s.ListNotifications(t.Context(), tokenkeeper.NotificationFilter{UserID: "user_a", After: "nope"})
	if tokenkeeper.ErrorCode(err) != tokenkeeper.CodeInvalidRequest {
		t.Errorf("ListNotifications(bad cursor) = %v, want INVALID_REQUEST", err)
	}
}

func testMarkNotificationRead(t *testing.T, f *notifyFixture) {
	n := f.inApp("user_a", f.now, false)
	first := f.now.Add(time.Minute)
	got, err := f.s.MarkNotificationRead(t.Context(), n.ID, first)
	if err != nil {
		t.Fatalf("MarkNotificationRead: %v", err)
	}
	want := *n
	want.ReadAt = first
	equal(t, "read notification", &want, got)
	// Reading again keeps the first time.
	if got, err = f.s.MarkNotificationRead(t.Context(), n.ID, first.Add(time.Hour)); err != nil || !got.ReadAt.Equal(first) {
		t.Errorf("second MarkNotificationRead = %v, %v; want read at %s", got, err, fmtTime(first))
	}
	if _, err := f.s.MarkNotificationRead(t.Context(), "ntf_unknown", first); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("MarkNotificationRead(unknown) = %v, want ErrNotFound", err)
	}
}

func testDigests(t *testing.T, f *notifyFixture) {
	a1 := f.inApp("user_a", f.now.Add(2*time.Second), true)
	b1 := f.inApp("user_b", f.now, true)
	a0 := f.inApp("user_a", f.now.Add(time.Second), true)
	f.inApp("user_a", f.now, false)                       // not for a digest
	late := f.inApp("user_c", f.now.Add(time.Hour), true) // after the cut-off
	cut := f.now.Add(time.Minute)
	got, err := f.s.PendingDigests(t.Context(), cut, 10)
	if err != nil {
		t.Fatalf("PendingDigests: %v", err)
	}
	equal(t, "pending digests (by user, then time)", []*tokenkeeper.Notification{a0, a1, b1}, got)
	digest := func(user string) *tokenkeeper.Delivery {
		return f.delivery(cut, func(d *tokenkeeper.Delivery) {
			d.Key, d.Channel, d.UserID = "digest:"+user+":2026-01-01", tokenkeeper.ChannelEmail, user
		})
	}
	if ok, err := f.s.CreateDigest(t.Context(), digest("user_a"), []string{a0.ID, a1.ID}); !ok || err != nil {
		t.Fatalf("CreateDigest = %t, %v", ok, err)
	}
	// Today's digest of user_b exists already: nothing changes.
	f.enqueue(digest("user_b"))
	if ok, err := f.s.CreateDigest(t.Context(), digest("user_b"), []string{b1.ID}); ok || err != nil {
		t.Fatalf("CreateDigest with an existing key = %t, %v; want false, nil", ok, err)
	}
	got, err = f.s.PendingDigests(t.Context(), cut.Add(time.Hour+time.Millisecond), 10)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "pending after the digest", []*tokenkeeper.Notification{b1, late}, got)
	ds, _, err := f.s.ListDeliveries(t.Context(), tokenkeeper.DeliveryFilter{})
	if err != nil || len(ds) != 2 {
		t.Errorf("deliveries = %d, %v; want the two digests", len(ds), err)
	}
}
