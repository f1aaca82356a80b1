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
	"TakeoverInterrupts": testTakeoverMarksInterrupted,
	"ClaimTakeover":      testClaimTakeoverMarksInterrupted,
	"MarkInterrupted":    testMarkRefreshInterrupted,
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

// interrupted reads a connection's RefreshInterrupted.
func (f *fixture) interrupted(id string) bool {
	f.t.Helper()
	return f.get(id).RefreshInterrupted
}

func testTakeoverMarksInterrupted(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := f.create()
	until := f.now.Add(30 * time.Second)
	if got := f.acquire(c.ID, "a", f.now, until); got.RefreshInterrupted {
		t.Fatal("a free lease marked the refresh interrupted")
	}
	if got := f.acquire(c.ID, "a", f.now.Add(time.Second), until.Add(time.Second)); got.RefreshInterrupted {
		t.Fatal("re-acquiring one's own lease marked the refresh interrupted")
	}
	// a never releases; b takes the expired lease over.
	later := until.Add(2 * time.Second)
	got := f.acquire(c.ID, "b", later, later.Add(time.Minute))
	if !got.RefreshInterrupted || !f.interrupted(c.ID) {
		t.Fatalf("taking over an unreleased lease: RefreshInterrupted = %v (stored %v), want true", got.RefreshInterrupted, f.interrupted(c.ID))
	}
	// It survives b re-acquiring, and b releasing without a save.
	if got := f.acquire(c.ID, "b", later, later.Add(2*time.Minute)); !got.RefreshInterrupted {
		t.Fatal("re-acquiring cleared RefreshInterrupted")
	}
	if err := f.s.ReleaseLease(t.Context(), c.ID, "b"); err != nil {
		t.Fatal(err)
	}
	if !f.interrupted(c.ID) {
		t.Fatal("ReleaseLease cleared RefreshInterrupted")
	}
	// A lease taken after a release is not a takeover, and keeps the mark.
	got = f.acquire(c.ID, "c", later, later.Add(time.Minute))
	if !got.RefreshInterrupted {
		t.Fatal("a free lease cleared RefreshInterrupted")
	}
	// The holder's save writes what the connection says.
	got.RefreshInterrupted = false
	if err := f.s.SaveConnection(t.Context(), tokenkeeper.Write{Connection: got, LeaseOwner: "c"}); err != nil {
		t.Fatal(err)
	}
	if f.interrupted(c.ID) {
		t.Fatal("a save with RefreshInterrupted false left it set")
	}
	n := f.get(c.ID)
	n.RefreshInterrupted = true
	if err := f.s.SaveConnection(t.Context(), tokenkeeper.Write{Connection: n}); err != nil {
		t.Fatal(err)
	}
	if !f.interrupted(c.ID) {
		t.Fatal("a save with RefreshInterrupted true did not store it")
	}
	created := f.create(func(c *tokenkeeper.Connection) { c.RefreshInterrupted = true })
	if !f.interrupted(created.ID) {
		t.Fatal("CreateConnection dropped RefreshInterrupted")
	}
}

func testClaimTakeoverMarksInterrupted(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	due := withNext(f.now.Add(-time.Minute))
	fresh := f.create(due)
	released := f.create(due)
	f.acquire(released.ID, "a", f.now.Add(-time.Hour), f.now.Add(-time.Minute))
	if err := f.s.ReleaseLease(t.Context(), released.ID, "a"); err != nil {
		t.Fatal(err)
	}
	crashed := f.create(due)
	f.acquire(crashed.ID, "a", f.now.Add(-time.Hour), f.now.Add(-time.Second))
	mine := f.create(due)
	f.acquire(mine.ID, "me", f.now.Add(-time.Hour), f.now.Add(-time.Second))

	got := map[string]bool{}
	for _, c := range f.claim("me", f.now, f.now.Add(time.Minute), 10) {
		got[c.ID] = c.RefreshInterrupted
	}
	want := map[string]bool{fresh.ID: false, released.ID: false, crashed.ID: true, mine.ID: false}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Fatalf("%s was not claimed", id)
		}
		if g != w || f.interrupted(id) != w {
			t.Errorf("%s: RefreshInterrupted = %v (stored %v), want %v", id, g, f.interrupted(id), w)
		}
	}
}

func testMarkRefreshInterrupted(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := f.create()
	until := f.now.Add(30 * time.Second)
	f.acquire(c.ID, "a", f.now, until)
	// Only the lease holder marks.
	if err := f.s.MarkRefreshInterrupted(t.Context(), c.ID, "b"); err != nil {
		t.Fatal(err)
	}
	if f.interrupted(c.ID) {
		t.Fatal("a non-holder marked the connection")
	}
	if err := f.s.MarkRefreshInterrupted(t.Context(), c.ID, "a"); err != nil {
		t.Fatal(err)
	}
	got := f.get(c.ID)
	if !got.RefreshInterrupted || got.Version != c.Version || got.LeaseOwner != "a" || !got.LeaseUntil.Equal(until) {
		t.Fatalf("after the holder's mark: interrupted %v, version %d, lease %q until %s; want true, %d, a until %s",
			got.RefreshInterrupted, got.Version, got.LeaseOwner, fmtTime(got.LeaseUntil), c.Version, fmtTime(until))
	}
	if err := f.s.MarkRefreshInterrupted(t.Context(), tokenkeeper.NewID("conn_"), "a"); err != nil {
		t.Fatalf("MarkRefreshInterrupted(unknown) = %v, want nil", err)
	}
}
