package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// claim claims revocations due at now for owner for a minute.
func claim(t *testing.T, s ConnectStore, owner string, now time.Time, limit int) []*tokenkeeper.PendingRevocation {
	t.Helper()
	rs, err := s.ClaimRevocations(t.Context(), owner, now, now.Add(time.Minute), limit)
	if err != nil {
		t.Fatalf("ClaimRevocations: %v", err)
	}
	return rs
}

func countRevocations(t *testing.T, s ConnectStore) int {
	t.Helper()
	n, err := s.CountRevocations(t.Context())
	if err != nil {
		t.Fatalf("CountRevocations: %v", err)
	}
	return n
}

func testSaveRevoking(t *testing.T, s ConnectStore) {
	now := BaseTime()
	c := NewConnection(now)
	if err := s.CreateConnection(t.Context(), c, nil); err != nil {
		t.Fatalf("CreateConnection: %v", err)
	}
	c.Status, c.SealedAccessToken, c.SealedRefreshToken, c.NextRefreshAt = tokenkeeper.StatusDisconnected, nil, nil, time.Time{}
	ev := tokenkeeper.NewEvent(tokenkeeper.EventDisconnected, c, now)
	at := tokenkeeper.RefreshAttempt{ConnectionID: c.ID, At: now, Trigger: "revoke", Class: tokenkeeper.ClassTransient, Code: "timeout"}
	r := NewRevocation(c.ID, now, now.Add(time.Minute))
	err := s.SaveConnectionRevoking(t.Context(), tokenkeeper.Write{Connection: c, Attempts: []tokenkeeper.RefreshAttempt{at}, Events: []tokenkeeper.Event{ev}}, r)
	if err != nil {
		t.Fatalf("SaveConnectionRevoking: %v", err)
	}
	if c.Version != 2 {
		t.Errorf("Version = %d, want 2", c.Version)
	}
	got, err := s.GetConnection(t.Context(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "saved connection", c, got)
	if evs, _ := s.ListEvents(t.Context(), 0, 10); len(evs) != 1 || evs[0].ID != ev.ID {
		t.Errorf("events = %v, want the disconnect event", evs)
	}
	if as, _ := s.ListAttempts(t.Context(), c.ID, 10); len(as) != 1 {
		t.Errorf("%d attempts stored, want 1", len(as))
	}
	if rs := claim(t, s, "w", now, 10); len(rs) != 0 {
		t.Errorf("claimed %d revocations before they are due", len(rs))
	}
	rs := claim(t, s, "w", now.Add(time.Minute), 10)
	if len(rs) != 1 {
		t.Fatalf("claimed %d revocations, want 1", len(rs))
	}
	r.LeaseOwner, r.LeaseUntil = "w", now.Add(2*time.Minute)
	equal(t, "claimed revocation", r, rs[0])
}

func testSaveRevokingConflict(t *testing.T, s ConnectStore) {
	now := BaseTime()
	c := NewConnection(now)
	if err := s.CreateConnection(t.Context(), c, nil); err != nil {
		t.Fatalf("CreateConnection: %v", err)
	}
	stale := c.Clone()
	stale.Version = 7
	stale.Status = tokenkeeper.StatusDisconnected
	ev := tokenkeeper.NewEvent(tokenkeeper.EventDisconnected, stale, now)
	err := s.SaveConnectionRevoking(t.Context(), tokenkeeper.Write{Connection: stale, Events: []tokenkeeper.Event{ev}}, NewRevocation(c.ID, now, now))
	if !errors.Is(err, tokenkeeper.ErrVersionConflict) {
		t.Fatalf("SaveConnectionRevoking(stale) = %v, want ErrVersionConflict", err)
	}
	leased := c.Clone()
	err = s.SaveConnectionRevoking(t.Context(), tokenkeeper.Write{Connection: leased, LeaseOwner: "nobody"}, NewRevocation(c.ID, now, now))
	if !errors.Is(err, tokenkeeper.ErrVersionConflict) {
		t.Fatalf("SaveConnectionRevoking(lease not held) = %v, want ErrVersionConflict", err)
	}
	if n := countRevocations(t, s); n != 0 {
		t.Errorf("%d revocations stored by refused writes", n)
	}
	if evs, _ := s.ListEvents(t.Context(), 0, 10); len(evs) != 0 {
		t.Errorf("%d events stored by refused writes", len(evs))
	}
	got, _ := s.GetConnection(t.Context(), c.ID)
	equal(t, "connection after refused writes", c, got)
}

func testClaimDue(t *testing.T, s ConnectStore) {
	now := BaseTime()
	var want []string
	for i := range 4 {
		r := NewRevocation("conn_x", now, now.Add(time.Duration(i-2)*time.Minute)) // two past, one now, one later
		if err := s.EnqueueRevocation(t.Context(), r); err != nil {
			t.Fatalf("EnqueueRevocation: %v", err)
		}
		if i < 3 {
			want = append(want, r.ID)
		}
	}
	if n := countRevocations(t, s); n != 4 {
		t.Errorf("CountRevocations = %d, want 4", n)
	}
	if rs := claim(t, s, "w", now, 0); len(rs) != 0 {
		t.Errorf("limit 0 claimed %d", len(rs))
	}
	rs := claim(t, s, "w", now, 2)
	rs = append(rs, claim(t, s, "w", now, 10)...)
	var got []string
	for _, r := range rs {
		got = append(got, r.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("claimed %v, want the due ones in order %v", got, want)
	}
}

func testClaimLease(t *testing.T, s ConnectStore) {
	now := BaseTime()
	for range 20 {
		if err := s.EnqueueRevocation(t.Context(), NewRevocation("conn_x", now, now)); err != nil {
			t.Fatal(err)
		}
	}
	// Concurrent claimers never get the same row.
	seen := claimConcurrently(t, []string{"a", "b", "c", "d"}, func(owner string) ([]string, error) {
		rs, err := s.ClaimRevocations(t.Context(), owner, now, now.Add(time.Minute), 3)
		ids := make([]string, len(rs))
		for i, r := range rs {
			ids[i] = r.ID
		}
		return ids, err
	})
	if len(seen) != 20 {
		t.Errorf("%d of 20 revocations claimed", len(seen))
	}
	// Held leases are skipped until they expire.
	if rs := claim(t, s, "e", now.Add(time.Minute), 100); len(rs) != 0 {
		t.Errorf("claimed %d revocations whose lease is held", len(rs))
	}
	if rs := claim(t, s, "e", now.Add(time.Minute+time.Millisecond), 100); len(rs) != 20 {
		t.Errorf("claimed %d revocations with expired leases, want 20", len(rs))
	}
}

func testRetryDelete(t *testing.T, s ConnectStore) {
	now := BaseTime()
	r := NewRevocation("conn_x", now, now)
	if err := s.EnqueueRevocation(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	c := claim(t, s, "w", now, 1)[0]
	c.Attempts, c.LastCode, c.NextAttemptAt = 2, "http_503", now.Add(5*time.Minute)
	if err := s.RetryRevocation(t.Context(), c, "other"); !errors.Is(err, tokenkeeper.ErrVersionConflict) {
		t.Errorf("RetryRevocation by another owner = %v, want ErrVersionConflict", err)
	}
	if err := s.DeleteRevocation(t.Context(), c.ID, "other"); !errors.Is(err, tokenkeeper.ErrVersionConflict) {
		t.Errorf("DeleteRevocation by another owner = %v, want ErrVersionConflict", err)
	}
	if err := s.RetryRevocation(t.Context(), c, "w"); err != nil {
		t.Fatalf("RetryRevocation: %v", err)
	}
	if rs := claim(t, s, "w", now.Add(5*time.Minute-time.Millisecond), 1); len(rs) != 0 {
		t.Error("a retried revocation was claimed before its next attempt")
	}
	rs := claim(t, s, "w2", now.Add(5*time.Minute), 1)
	if len(rs) != 1 {
		t.Fatal("the retried revocation was not claimed when due")
	}
	want := *r
	want.Attempts, want.LastCode, want.NextAttemptAt = 2, "http_503", now.Add(5*time.Minute)
	want.LeaseOwner, want.LeaseUntil = "w2", now.Add(6*time.Minute)
	equal(t, "retried revocation", &want, rs[0])
	if err := s.DeleteRevocation(t.Context(), r.ID, "w2"); err != nil {
		t.Fatalf("DeleteRevocation: %v", err)
	}
	if n := countRevocations(t, s); n != 0 {
		t.Errorf("CountRevocations after delete = %d", n)
	}
}
