package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

var saveTests = map[string]func(*testing.T, OpenFunc){
	"EveryMutableField":        testSaveEveryMutableField,
	"StaleVersion":             testSaveStaleVersion,
	"UnknownConnection":        testSaveUnknown,
	"LeaseOwnerMismatch":       testSaveLeaseOwnerMismatch,
	"ReleasesLease":            testSaveReleasesLease,
	"WithoutOwnerKeepsLease":   testSaveWithoutOwnerKeepsLease,
	"ConcurrentWritersOneWins": testSaveConcurrent,
}

// change sets every field a save may change (all but the identity, the
// creation time and the lease) to new values.
func change(c *tokenkeeper.Connection, now time.Time) {
	c.Scopes = []string{"read"}
	c.Status = tokenkeeper.StatusNeedsReauth
	c.ExpiresAt = now.Add(2 * time.Hour)
	c.RefreshTokenExpiresAt = now.Add(90 * 24 * time.Hour)
	c.Lifetime = 2 * time.Hour
	c.ConsecutiveFailures = 3
	c.ConsecutiveTransientFailures = 1
	c.LastRefreshedAt = now.Add(-time.Hour)
	c.LastError = &tokenkeeper.LastError{
		Class: tokenkeeper.ClassRevoked, Code: "invalid_grant", HTTPStatus: 400,
		Message: "token revoked", At: now,
	}
	c.NextRefreshAt = time.Time{}
	c.Notice = tokenkeeper.EventNeedsReauth
	c.SealedAccessToken = OpaqueBytes(40)
	c.SealedRefreshToken = nil
	c.UpdatedAt = now
}

func attempt(id string, at time.Time, class tokenkeeper.Class) tokenkeeper.RefreshAttempt {
	a := tokenkeeper.RefreshAttempt{
		ConnectionID: id, At: at, Trigger: tokenkeeper.TriggerScheduler, Class: class,
		Duration: 1234 * time.Millisecond,
	}
	if class != tokenkeeper.ClassSuccess {
		a.Code, a.HTTPStatus = "invalid_grant", 400
	} else {
		a.Rotated = true
	}
	return a
}

func testSaveEveryMutableField(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := fullConnection(f.now) // every field set, so that every change shows
	if err := f.s.CreateConnection(t.Context(), c, nil); err != nil {
		t.Fatalf("CreateConnection: %v", err)
	}
	change(c, f.now.Add(time.Minute))
	at := attempt(c.ID, f.now.Add(time.Minute), tokenkeeper.ClassRevoked)
	ev := tokenkeeper.NewEvent(tokenkeeper.EventNeedsReauth, c, f.now.Add(time.Minute))
	if err := f.s.SaveConnection(t.Context(), tokenkeeper.Write{Connection: c, Attempts: []tokenkeeper.RefreshAttempt{at}, Events: []tokenkeeper.Event{ev}}); err != nil {
		t.Fatalf("SaveConnection: %v", err)
	}
	if c.Version != 2 {
		t.Errorf("Version after one save = %d, want 2", c.Version)
	}
	equal(t, "saved connection", c, f.get(c.ID))
	equal(t, "attempts", []tokenkeeper.RefreshAttempt{at}, f.attempts(c.ID))
	evs := f.events()
	if len(evs) != 1 {
		t.Fatalf("%d events stored, want 1", len(evs))
	}
	equal(t, "event", ev, evs[0].Event)

	// A second save from the updated struct succeeds again.
	c.Status = tokenkeeper.StatusConnected
	if err := f.s.SaveConnection(t.Context(), tokenkeeper.Write{Connection: c}); err != nil {
		t.Fatalf("second SaveConnection: %v", err)
	}
	if c.Version != 3 || f.get(c.ID).Version != 3 {
		t.Errorf("Version after two saves = %d (stored %d), want 3", c.Version, f.get(c.ID).Version)
	}
}

func testSaveStaleVersion(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := f.create()
	stale := c.Clone()
	c.ConsecutiveFailures = 1
	if err := f.s.SaveConnection(t.Context(), tokenkeeper.Write{Connection: c}); err != nil {
		t.Fatalf("SaveConnection: %v", err)
	}
	stored := f.get(c.ID)
	change(stale, f.now)
	err := f.s.SaveConnection(t.Context(), tokenkeeper.Write{
		Connection: stale,
		Attempts:   []tokenkeeper.RefreshAttempt{attempt(c.ID, f.now, tokenkeeper.ClassRevoked)},
		Events:     []tokenkeeper.Event{tokenkeeper.NewEvent(tokenkeeper.EventNeedsReauth, stale, f.now)},
	})
	if !errors.Is(err, tokenkeeper.ErrVersionConflict) {
		t.Fatalf("SaveConnection with a stale version = %v, want ErrVersionConflict", err)
	}
	if tokenkeeper.ErrorCode(err) != tokenkeeper.CodeConflict {
		t.Errorf("ErrorCode = %s, want %s", tokenkeeper.ErrorCode(err), tokenkeeper.CodeConflict)
	}
	if stale.Version != 1 {
		t.Errorf("a failed save changed the struct's Version to %d", stale.Version)
	}
	equal(t, "connection after a failed save", stored, f.get(c.ID))
	if n := len(f.attempts(c.ID)); n != 0 {
		t.Errorf("a failed save stored %d attempts", n)
	}
	if n := len(f.events()); n != 0 {
		t.Errorf("a failed save stored %d events", n)
	}
}

func testSaveUnknown(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := NewConnection(f.now)
	c.Version = 1
	err := f.s.SaveConnection(t.Context(), tokenkeeper.Write{Connection: c})
	if !errors.Is(err, tokenkeeper.ErrVersionConflict) {
		t.Fatalf("SaveConnection of an unknown connection = %v, want ErrVersionConflict", err)
	}
	if _, err := f.s.GetConnection(t.Context(), c.ID); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("SaveConnection created a connection: GetConnection = %v", err)
	}
}

func testSaveLeaseOwnerMismatch(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := f.create()
	// No lease at all: a write that depends on one fails.
	err := f.s.SaveConnection(t.Context(), tokenkeeper.Write{Connection: c.Clone(), LeaseOwner: "a"})
	if !errors.Is(err, tokenkeeper.ErrVersionConflict) {
		t.Fatalf("SaveConnection with an unheld lease = %v, want ErrVersionConflict", err)
	}
	if _, err := f.s.AcquireLease(t.Context(), c.ID, "a", f.now, f.now.Add(time.Minute)); err != nil {
		t.Fatalf("AcquireLease: %v", err)
	}
	before := f.get(c.ID)
	w := c.Clone()
	change(w, f.now)
	err = f.s.SaveConnection(t.Context(), tokenkeeper.Write{
		Connection: w, LeaseOwner: "b",
		Events: []tokenkeeper.Event{tokenkeeper.NewEvent(tokenkeeper.EventNeedsReauth, w, f.now)},
	})
	if !errors.Is(err, tokenkeeper.ErrVersionConflict) {
		t.Fatalf("SaveConnection by a non-holder = %v, want ErrVersionConflict", err)
	}
	equal(t, "connection after a refused save", before, f.get(c.ID))
	if n := len(f.events()); n != 0 {
		t.Errorf("a refused save stored %d events", n)
	}
}

func testSaveReleasesLease(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := f.create()
	leased, err := f.s.AcquireLease(t.Context(), c.ID, "a", f.now, f.now.Add(time.Minute))
	if err != nil {
		t.Fatalf("AcquireLease: %v", err)
	}
	leased.ConsecutiveFailures = 0
	leased.NextRefreshAt = f.now.Add(time.Hour)
	if err := f.s.SaveConnection(t.Context(), tokenkeeper.Write{Connection: leased, LeaseOwner: "a"}); err != nil {
		t.Fatalf("SaveConnection by the holder: %v", err)
	}
	got := f.get(c.ID)
	if got.LeaseOwner != "" || !got.LeaseUntil.IsZero() {
		t.Errorf("lease after the holder's save = %q until %s, want released", got.LeaseOwner, fmtTime(got.LeaseUntil))
	}
	if got.Version != 2 || leased.Version != 2 {
		t.Errorf("Version = %d (struct %d), want 2", got.Version, leased.Version)
	}
	if _, err := f.s.AcquireLease(t.Context(), c.ID, "b", f.now, f.now.Add(time.Minute)); err != nil {
		t.Errorf("AcquireLease by another owner after the release: %v", err)
	}
}

// A write that does not depend on the lease leaves it alone, even when the
// writer read the connection before the lease was taken (a lease does not
// change the version).
func testSaveWithoutOwnerKeepsLease(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := f.create()
	until := f.now.Add(time.Minute)
	if _, err := f.s.AcquireLease(t.Context(), c.ID, "a", f.now, until); err != nil {
		t.Fatalf("AcquireLease: %v", err)
	}
	c.Status = tokenkeeper.StatusDisconnected
	if err := f.s.SaveConnection(t.Context(), tokenkeeper.Write{Connection: c}); err != nil {
		t.Fatalf("SaveConnection without a lease owner: %v", err)
	}
	got := f.get(c.ID)
	if got.LeaseOwner != "a" || !got.LeaseUntil.Equal(until) {
		t.Errorf("lease after a save without owner = %q until %s, want a until %s",
			got.LeaseOwner, fmtTime(got.LeaseUntil), fmtTime(until))
	}
	if got.Status != tokenkeeper.StatusDisconnected {
		t.Errorf("Status = %s, want disconnected", got.Status)
	}
}

func testSaveConcurrent(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := f.create()
	const writers = 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		w := c.Clone()
		w.ConsecutiveFailures = i + 1
		wg.Go(func() {
			errs[i] = f.s.SaveConnection(t.Context(), tokenkeeper.Write{
				Connection: w, Attempts: []tokenkeeper.RefreshAttempt{attempt(c.ID, f.now, tokenkeeper.ClassPermanent)},
			})
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, tokenkeeper.ErrVersionConflict):
			t.Errorf("writer %d: %v, want nil or ErrVersionConflict", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d writers of the same version succeeded, want exactly 1", won)
	}
	if got := f.get(c.ID); got.Version != 2 {
		t.Errorf("stored Version = %d, want 2", got.Version)
	}
	if n := len(f.attempts(c.ID)); n != 1 {
		t.Errorf("%d attempts stored, want only the winner's 1", n)
	}
}
