package storetest

import (
	"testing"
	"time"
)

var namedLeaseTests = map[string]func(*testing.T, OpenFunc){
	"Lifecycle":      testNamedLeaseLifecycle,
	"Independent":    testNamedLeaseIndependent,
	"ReleaseByOwner": testNamedLeaseRelease,
}

// acquireNamed calls AcquireNamedLease and fails the test on an error.
func (f *fixture) acquireNamed(name, owner string, now, until time.Time) bool {
	f.t.Helper()
	ok, err := f.s.AcquireNamedLease(f.t.Context(), name, owner, now, until)
	if err != nil {
		f.t.Fatalf("AcquireNamedLease(%s, %s): %v", name, owner, err)
	}
	return ok
}

func testNamedLeaseLifecycle(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	const name = "sweep:acme"
	t0 := f.now
	steps := []struct {
		step  string
		owner string
		now   time.Time
		until time.Time
		holds bool
	}{
		{"free", "a", t0, t0.Add(time.Minute), true},
		{"held by other", "b", t0.Add(time.Second), t0.Add(2 * time.Minute), false},
		{"held at its expiry instant", "b", t0.Add(time.Minute), t0.Add(2 * time.Minute), false},
		{"re-entrant extends", "a", t0.Add(30 * time.Second), t0.Add(3 * time.Minute), true},
		{"held within the extension", "b", t0.Add(2 * time.Minute), t0.Add(4 * time.Minute), false},
		{"expired taken over", "b", t0.Add(3*time.Minute + time.Millisecond), t0.Add(5 * time.Minute), true},
		{"previous holder kept out", "a", t0.Add(4 * time.Minute), t0.Add(6 * time.Minute), false},
	}
	for _, s := range steps {
		if got := f.acquireNamed(name, s.owner, s.now, s.until); got != s.holds {
			t.Errorf("%s: AcquireNamedLease(%s) = %t, want %t", s.step, s.owner, got, s.holds)
		}
	}
}

func testNamedLeaseIndependent(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	until := f.now.Add(time.Minute)
	if !f.acquireNamed("sweep:acme", "a", f.now, until) {
		t.Fatal("first lease not acquired")
	}
	if !f.acquireNamed("keys:rotate", "b", f.now, until) {
		t.Error("a lease of another name was refused")
	}
}

func testNamedLeaseRelease(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	const name = "keys:rotate"
	until := f.now.Add(time.Hour)
	f.acquireNamed(name, "a", f.now, until)
	if err := f.s.ReleaseNamedLease(t.Context(), name, "b"); err != nil {
		t.Fatalf("ReleaseNamedLease by a non-holder: %v", err)
	}
	if f.acquireNamed(name, "b", f.now, until) {
		t.Fatal("a non-holder's release freed the lease")
	}
	if err := f.s.ReleaseNamedLease(t.Context(), name, "a"); err != nil {
		t.Fatalf("ReleaseNamedLease: %v", err)
	}
	if !f.acquireNamed(name, "b", f.now, until) {
		t.Error("the lease is still held after its owner released it")
	}
	if err := f.s.ReleaseNamedLease(t.Context(), "never-taken", "a"); err != nil {
		t.Errorf("ReleaseNamedLease of an unknown name = %v, want nil", err)
	}
}
