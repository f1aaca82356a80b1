package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// The cases of key rotation over pending revocations: paging through them,
// and rewriting a sealed token only while no worker holds the row.

// listAllRevocations is listAllStates for pending revocations.
func listAllRevocations(t *testing.T, s ConnectStore, limit int) []*tokenkeeper.PendingRevocation {
	t.Helper()
	var all []*tokenkeeper.PendingRevocation
	after := ""
	for range 1000 {
		page, err := s.ListRevocations(t.Context(), after, limit)
		if err != nil {
			t.Fatalf("ListRevocations: %v", err)
		}
		if len(page) > max(limit, 1) {
			t.Fatalf("ListRevocations(limit %d) returned %d revocations", limit, len(page))
		}
		for _, r := range page {
			if r.ID <= after {
				t.Fatalf("ListRevocations after %q returned %q: not in id order", after, r.ID)
			}
			after = r.ID
		}
		all = append(all, page...)
		if len(page) < limit {
			return all
		}
	}
	t.Fatal("ListRevocations never reached the end")
	return nil
}

// revocationByID returns the stored revocation, read through ListRevocations.
func revocationByID(t *testing.T, s ConnectStore, id string) *tokenkeeper.PendingRevocation {
	t.Helper()
	for _, r := range listAllRevocations(t, s, 100) {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no revocation %s listed", id)
	return nil
}

// testListRevocations: every pending revocation comes back once, in id
// order, leased ones included, whatever the page size.
func testListRevocations(t *testing.T, s ConnectStore) {
	now := BaseTime()
	if got, err := s.ListRevocations(t.Context(), "", 10); err != nil || len(got) != 0 {
		t.Fatalf("ListRevocations on an empty store = %d, %v", len(got), err)
	}
	var want []*tokenkeeper.PendingRevocation
	for i := range 6 {
		r := NewRevocation("conn_x", now, now.Add(time.Duration(i-2)*time.Minute))
		if err := s.EnqueueRevocation(t.Context(), r); err != nil {
			t.Fatalf("EnqueueRevocation: %v", err)
		}
		want = append(want, r)
	}
	leased := claim(t, s, "w", now, 10) // the three due ones
	if len(leased) != 3 {
		t.Fatalf("claimed %d revocations, want 3", len(leased))
	}
	for _, l := range leased {
		for _, r := range want {
			if r.ID == l.ID {
				r.LeaseOwner, r.LeaseUntil = "w", now.Add(time.Minute)
			}
		}
	}
	slices.SortFunc(want, func(a, b *tokenkeeper.PendingRevocation) int { return strings.Compare(a.ID, b.ID) })
	for _, limit := range []int{1, 4, 6, 100} {
		equal(t, fmt.Sprintf("revocations listed %d at a time", limit), want, listAllRevocations(t, s, limit))
	}
	if got, err := s.ListRevocations(t.Context(), "", 0); err != nil || len(got) != len(want) {
		t.Errorf("ListRevocations(limit 0) = %d, %v; want all %d", len(got), err, len(want))
	}
}

// testResealRevocation: the token is replaced only while it is still the old
// value and no worker holds the row's lease (held up to and including its
// until); nothing else of the row changes.
func testResealRevocation(t *testing.T, s ConnectStore) {
	now := BaseTime()
	ctx := t.Context()
	r := NewRevocation("conn_x", now, now)
	if err := s.EnqueueRevocation(ctx, r); err != nil {
		t.Fatalf("EnqueueRevocation: %v", err)
	}
	newer := OpaqueBytes(51)
	stored, err := s.ResealRevocation(ctx, r.ID, r.SealedToken, newer, now)
	if err != nil || !bytes.Equal(stored, newer) {
		t.Fatalf("ResealRevocation of a free row = %d bytes, %v; want the new value", len(stored), err)
	}
	old := r.SealedToken
	r.SealedToken = newer
	equal(t, "resealed revocation", r, revocationByID(t, s, r.ID))
	if stored, err = s.ResealRevocation(ctx, r.ID, old, OpaqueBytes(52), now); err != nil || !bytes.Equal(stored, newer) {
		t.Errorf("ResealRevocation with a stale value = %d bytes, %v; want the stored value back", len(stored), err)
	}

	// A worker leases the row: it holds the token it read, which must stay
	// the stored one until it is done, up to and including the lease's end.
	got := claim(t, s, "w", now, 1)
	if len(got) != 1 || !bytes.Equal(got[0].SealedToken, newer) {
		t.Fatalf("claim after the reseal returned %d rows or an old token", len(got))
	}
	r.LeaseOwner, r.LeaseUntil = "w", now.Add(time.Minute)
	newest := OpaqueBytes(53)
	for _, at := range []time.Time{now, now.Add(time.Minute)} {
		if stored, err = s.ResealRevocation(ctx, r.ID, newer, newest, at); err != nil || !bytes.Equal(stored, newer) {
			t.Errorf("ResealRevocation of a leased row at %s = %d bytes, %v; want the old value back", at.Sub(now), len(stored), err)
		}
	}
	equal(t, "leased revocation after a refused reseal", r, revocationByID(t, s, r.ID))
	// The worker's retry releases the lease and keeps the token; then the
	// rewrite goes through.
	r.Attempts, r.LastCode, r.NextAttemptAt = 2, "http_503", now.Add(time.Hour)
	if err := s.RetryRevocation(ctx, r, "w"); err != nil {
		t.Fatalf("RetryRevocation: %v", err)
	}
	equal(t, "retried revocation", r, revocationByID(t, s, r.ID))
	if stored, err = s.ResealRevocation(ctx, r.ID, newer, newest, now); err != nil || !bytes.Equal(stored, newest) {
		t.Fatalf("ResealRevocation after the retry = %d bytes, %v", len(stored), err)
	}
	r.SealedToken = newest
	equal(t, "revocation resealed after the retry", r, revocationByID(t, s, r.ID))

	// An expired lease no longer protects the row.
	late := NewRevocation("conn_y", now, now)
	if err := s.EnqueueRevocation(ctx, late); err != nil {
		t.Fatalf("EnqueueRevocation: %v", err)
	}
	if got := claim(t, s, "gone", now, 1); len(got) != 1 || got[0].ID != late.ID {
		t.Fatalf("claim of the second revocation: %d rows", len(got))
	}
	after := now.Add(time.Minute + time.Millisecond)
	replacement := OpaqueBytes(54)
	if stored, err = s.ResealRevocation(ctx, late.ID, late.SealedToken, replacement, after); err != nil || !bytes.Equal(stored, replacement) {
		t.Errorf("ResealRevocation after the lease expired = %d bytes, %v; want the new value", len(stored), err)
	}

	// Done: the row is gone.
	if got := claim(t, s, "w2", now.Add(2*time.Hour), 10); len(got) != 2 {
		t.Fatalf("claim of both revocations: %d rows", len(got))
	}
	if err := s.DeleteRevocation(ctx, r.ID, "w2"); err != nil {
		t.Fatalf("DeleteRevocation: %v", err)
	}
	if _, err := s.ResealRevocation(ctx, r.ID, newest, OpaqueBytes(55), now.Add(3*time.Hour)); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("ResealRevocation of a deleted revocation: %v, want ErrNotFound", err)
	}
	if _, err := s.ResealRevocation(ctx, late.ID, replacement, nil, now.Add(3*time.Hour)); err == nil {
		t.Error("ResealRevocation with an empty new value succeeded")
	}
}

// testResealRevocationRacesClaim: rewrites racing a worker's claims never
// change a token after a worker read it: a row whose rewrite succeeded was
// claimed with the new token, and a row claimed with the old token was not
// rewritten.
func testResealRevocationRacesClaim(t *testing.T, s ConnectStore) {
	now := BaseTime()
	const n = 24
	rows := make(map[string]*tokenkeeper.PendingRevocation, n)
	newer := make(map[string][]byte, n)
	for range n {
		r := NewRevocation("conn_x", now, now)
		if err := s.EnqueueRevocation(t.Context(), r); err != nil {
			t.Fatalf("EnqueueRevocation: %v", err)
		}
		rows[r.ID], newer[r.ID] = r, OpaqueBytes(51)
	}
	var claimed []*tokenkeeper.PendingRevocation
	resealed := map[string]bool{}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range n {
			rs, err := s.ClaimRevocations(t.Context(), "w", now, now.Add(time.Minute), 1)
			if err != nil {
				t.Errorf("ClaimRevocations: %v", err)
				return
			}
			claimed = append(claimed, rs...)
		}
	}()
	go func() {
		defer wg.Done()
		for id, r := range rows {
			stored, err := s.ResealRevocation(t.Context(), id, r.SealedToken, newer[id], now)
			if err != nil {
				t.Errorf("ResealRevocation: %v", err)
				return
			}
			resealed[id] = bytes.Equal(stored, newer[id])
		}
	}()
	wg.Wait()
	if len(claimed) != n {
		t.Fatalf("claimed %d revocations, want %d", len(claimed), n)
	}
	for _, c := range claimed {
		want := rows[c.ID].SealedToken
		if resealed[c.ID] {
			want = newer[c.ID]
		}
		if !bytes.Equal(c.SealedToken, want) {
			t.Errorf("revocation %s: resealed=%v but the worker read the other token", c.ID, resealed[c.ID])
		}
		if got := revocationByID(t, s, c.ID); !bytes.Equal(got.SealedToken, want) {
			t.Errorf("revocation %s: the stored token changed after the worker read it", c.ID)
		}
	}
}
