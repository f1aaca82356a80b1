package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

var leaseTests = map[string]func(*testing.T, OpenFunc){
	"AcquireFree":        testAcquireFree,
	"HeldByOther":        testAcquireHeldByOther,
	"ExpiredTakenOver":   testAcquireExpired,
	"ReentrantExtends":   testAcquireReentrant,
	"UnknownConnection":  testAcquireUnknown,
	"ReleaseOnlyByOwner": testReleaseOnlyByOwner,
}

// acquire takes a lease that must be free.
func (f *fixture) acquire(id, owner string, now, until time.Time) *tokenkeeper.Connection {
	f.t.Helper()
	c, err := f.s.AcquireLease(f.t.Context(), id, owner, now, until)
	if err != nil {
		f.t.Fatalf("AcquireLease(%s, %s): %v", id, owner, err)
	}
	return c
}

// leaseOf reads a connection's lease.
func (f *fixture) leaseOf(id string) (string, time.Time) {
	f.t.Helper()
	c := f.get(id)
	return c.LeaseOwner, c.LeaseUntil
}

func testAcquireFree(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := f.create()
	until := f.now.Add(30 * time.Second)
	got := f.acquire(c.ID, "a", f.now, until)
	want := c.Clone()
	want.LeaseOwner, want.LeaseUntil = "a", until
	equal(t, "leased connection", want, got)
	equal(t, "stored connection", want, f.get(c.ID))
	if got.Version != 1 {
		t.Errorf("Version = %d after a lease, want 1 (a lease is not a write)", got.Version)
	}
}

func testAcquireHeldByOther(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := f.create()
	until := f.now.Add(30 * time.Second)
	f.acquire(c.ID, "a", f.now, until)
	// Held until and including `until`.
	for _, now := range []time.Time{f.now, f.now.Add(10 * time.Second), until} {
		got, err := f.s.AcquireLease(t.Context(), c.ID, "b", now, now.Add(time.Minute))
		if !errors.Is(err, tokenkeeper.ErrLeaseHeld) {
			t.Fatalf("AcquireLease by b at %s = %v, want ErrLeaseHeld", fmtTime(now), err)
		}
		if tokenkeeper.ErrorCode(err) != tokenkeeper.CodeConflict {
			t.Errorf("ErrorCode = %s, want %s", tokenkeeper.ErrorCode(err), tokenkeeper.CodeConflict)
		}
		if got == nil {
			t.Fatal("AcquireLease returned ErrLeaseHeld without the connection")
		}
		if got.ID != c.ID || got.LeaseOwner != "a" || !got.LeaseUntil.Equal(until) {
			t.Errorf("connection with ErrLeaseHeld: id %s, lease %q until %s; want %s, a until %s",
				got.ID, got.LeaseOwner, fmtTime(got.LeaseUntil), c.ID, fmtTime(until))
		}
	}
	if owner, u := f.leaseOf(c.ID); owner != "a" || !u.Equal(until) {
		t.Errorf("stored lease = %q until %s, want a until %s", owner, fmtTime(u), fmtTime(until))
	}
}

func testAcquireExpired(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := f.create()
	until := f.now.Add(30 * time.Second)
	f.acquire(c.ID, "a", f.now, until)
	later := until.Add(time.Millisecond)
	got := f.acquire(c.ID, "b", later, later.Add(time.Minute))
	if got.LeaseOwner != "b" || !got.LeaseUntil.Equal(later.Add(time.Minute)) {
		t.Errorf("lease after takeover = %q until %s, want b", got.LeaseOwner, fmtTime(got.LeaseUntil))
	}
	if owner, _ := f.leaseOf(c.ID); owner != "b" {
		t.Errorf("stored owner = %q, want b", owner)
	}
	// The previous holder cannot write on its expired lease any more.
	err := f.s.SaveConnection(t.Context(), tokenkeeper.Write{Connection: c, LeaseOwner: "a"})
	if !errors.Is(err, tokenkeeper.ErrVersionConflict) {
		t.Errorf("SaveConnection by the expired holder = %v, want ErrVersionConflict", err)
	}
}

func testAcquireReentrant(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := f.create()
	f.acquire(c.ID, "a", f.now, f.now.Add(30*time.Second))
	extended := f.now.Add(2 * time.Minute)
	got := f.acquire(c.ID, "a", f.now.Add(10*time.Second), extended)
	if got.LeaseOwner != "a" || !got.LeaseUntil.Equal(extended) {
		t.Errorf("re-acquired lease = %q until %s, want a until %s", got.LeaseOwner, fmtTime(got.LeaseUntil), fmtTime(extended))
	}
	// b is kept out until the extended expiry, not the first one.
	if _, err := f.s.AcquireLease(t.Context(), c.ID, "b", f.now.Add(time.Minute), f.now.Add(3*time.Minute)); !errors.Is(err, tokenkeeper.ErrLeaseHeld) {
		t.Errorf("AcquireLease by b within the extension = %v, want ErrLeaseHeld", err)
	}
}

func testAcquireUnknown(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	f.create()
	_, err := f.s.AcquireLease(t.Context(), tokenkeeper.NewID("conn_"), "a", f.now, f.now.Add(time.Minute))
	if !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Fatalf("AcquireLease(unknown) = %v, want ErrNotFound", err)
	}
}

func testReleaseOnlyByOwner(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := f.create()
	until := f.now.Add(time.Minute)
	f.acquire(c.ID, "a", f.now, until)
	if err := f.s.ReleaseLease(t.Context(), c.ID, "b"); err != nil {
		t.Fatalf("ReleaseLease by a non-holder: %v, want nil", err)
	}
	if owner, u := f.leaseOf(c.ID); owner != "a" || !u.Equal(until) {
		t.Fatalf("lease after a non-holder's release = %q until %s, want a until %s", owner, fmtTime(u), fmtTime(until))
	}
	if err := f.s.ReleaseLease(t.Context(), c.ID, "a"); err != nil {
		t.Fatalf("ReleaseLease by the holder: %v", err)
	}
	if owner, u := f.leaseOf(c.ID); owner != "" || !u.IsZero() {
		t.Errorf("lease after release = %q until %s, want none", owner, fmtTime(u))
	}
	if got := f.get(c.ID); got.Version != 1 {
		t.Errorf("Version = %d after lease and release, want 1", got.Version)
	}
	f.acquire(c.ID, "b", f.now, until)
	if err := f.s.ReleaseLease(t.Context(), tokenkeeper.NewID("conn_"), "a"); err != nil {
		t.Errorf("ReleaseLease of an unknown connection = %v, want nil", err)
	}
}
