package storetest

import (
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// ConnectStore is a store with the connect flow's records: what RunConnect tests.
type ConnectStore interface {
	tokenkeeper.Store
	tokenkeeper.ConnectStore
}

// RunConnect runs the conformance suite of tokenkeeper.ConnectStore. open
// returns a fresh, migrated and empty store, as for Run.
func RunConnect(t *testing.T, open func(t *testing.T) ConnectStore) {
	tests := map[string]func(*testing.T, ConnectStore){
		"StateRoundTrip":          testStateRoundTrip,
		"StateSingleUse":          testStateSingleUse,
		"StateExpiredUnchanged":   testStateExpired,
		"StateUnknown":            testStateUnknown,
		"StateDuplicate":          testStateDuplicate,
		"StateConcurrentConsume":  testStateConcurrent,
		"KeySingleUse":            testKeySingleUse,
		"KeyConcurrentUse":        testKeyConcurrent,
		"Purge":                   testPurge,
		"SaveRevokingTogether":    testSaveRevoking,
		"SaveRevokingConflict":    testSaveRevokingConflict,
		"ClaimRevocationsDueOnly": testClaimDue,
		"ClaimRevocationsLease":   testClaimLease,
		"RetryAndDelete":          testRetryDelete,
		"ListStates":              testListStates,
		"ResealState":             testResealState,
		"ResealStatePurged":       testResealStatePurged,
		"ResealStateConcurrent":   testResealStateConcurrent,
		"ListRevocations":         testListRevocations,
		"ResealRevocation":        testResealRevocation,
		"ResealRevocationRace":    testResealRevocationRacesClaim,
	}
	for _, name := range slices.Sorted(maps.Keys(tests)) {
		test := tests[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			if n, err := s.CountRevocations(t.Context()); err != nil || n != 0 {
				t.Fatalf("CountRevocations on a new store = %d, %v", n, err)
			}
			test(t, s)
		})
	}
}

// NewState returns a state of provider "acme" created at now, expiring ten
// minutes later, with a random hash and every optional field set.
func NewState(now time.Time) *tokenkeeper.OAuthState {
	now = now.Truncate(time.Millisecond)
	return &tokenkeeper.OAuthState{
		Hash:           OpaqueBytes(32),
		Provider:       "acme",
		UserID:         tokenkeeper.NewID("user_"),
		AccountID:      "acct-1",
		ConnectionID:   tokenkeeper.NewID("conn_"),
		LinkID:         tokenkeeper.NewID("link_"),
		ReturnURL:      "https://app.example/done?x=1",
		RedirectURI:    "https://tk.example/v1/oauth/callback",
		Scopes:         []string{"read", "write"},
		SealedVerifier: OpaqueBytes(60),
		CreatedAt:      now,
		ExpiresAt:      now.Add(10 * time.Minute),
	}
}

// NewRevocation returns a pending revocation for connectionID, due at next.
func NewRevocation(connectionID string, created, next time.Time) *tokenkeeper.PendingRevocation {
	return &tokenkeeper.PendingRevocation{
		ID: tokenkeeper.NewID("rev_"), ConnectionID: connectionID, Provider: "acme",
		TokenTypeHint: "refresh_token", SealedToken: OpaqueBytes(50), Attempts: 1, LastCode: "timeout",
		CreatedAt: created.Truncate(time.Millisecond), NextAttemptAt: next.Truncate(time.Millisecond),
	}
}

func mustCreateState(t *testing.T, s ConnectStore, st *tokenkeeper.OAuthState) {
	t.Helper()
	if err := s.CreateState(t.Context(), st); err != nil {
		t.Fatalf("CreateState: %v", err)
	}
}

func pending(t *testing.T, s ConnectStore, now time.Time) int {
	t.Helper()
	n, err := s.PendingStates(t.Context(), now)
	if err != nil {
		t.Fatalf("PendingStates: %v", err)
	}
	return n
}

func testStateRoundTrip(t *testing.T, s ConnectStore) {
	now := BaseTime()
	st := NewState(now)
	mustCreateState(t, s, st)
	minimal := &tokenkeeper.OAuthState{Hash: OpaqueBytes(32), Provider: "acme", UserID: "u", RedirectURI: "http://x/cb",
		CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	mustCreateState(t, s, minimal)
	if n := pending(t, s, now); n != 2 {
		t.Errorf("PendingStates = %d, want 2", n)
	}
	at := now.Add(time.Minute)
	got, err := s.ConsumeState(t.Context(), st.Hash, at)
	if err != nil {
		t.Fatalf("ConsumeState: %v", err)
	}
	st.UsedAt = at
	equal(t, "consumed state", st, got)
	got, err = s.ConsumeState(t.Context(), minimal.Hash, now)
	if err != nil {
		t.Fatalf("ConsumeState(minimal): %v", err)
	}
	minimal.UsedAt = now
	equal(t, "consumed minimal state", minimal, got)
	if n := pending(t, s, now); n != 0 {
		t.Errorf("PendingStates after consuming both = %d, want 0", n)
	}
}

func testStateSingleUse(t *testing.T, s ConnectStore) {
	now := BaseTime()
	st := NewState(now)
	mustCreateState(t, s, st)
	if _, err := s.ConsumeState(t.Context(), st.Hash, now); err != nil {
		t.Fatalf("first ConsumeState: %v", err)
	}
	if _, err := s.ConsumeState(t.Context(), st.Hash, now.Add(time.Second)); !errors.Is(err, tokenkeeper.ErrStateUsed) {
		t.Errorf("second ConsumeState = %v, want ErrStateUsed", err)
	}
}

func testStateExpired(t *testing.T, s ConnectStore) {
	now := BaseTime()
	st := NewState(now)
	mustCreateState(t, s, st)
	if _, err := s.ConsumeState(t.Context(), st.Hash, st.ExpiresAt); !errors.Is(err, tokenkeeper.ErrStateExpired) {
		t.Fatalf("ConsumeState at expiry = %v, want ErrStateExpired", err)
	}
	if n := pending(t, s, st.ExpiresAt); n != 0 {
		t.Errorf("PendingStates at expiry = %d, want 0", n)
	}
	// The refused attempt changed nothing: before its expiry it still works once.
	if _, err := s.ConsumeState(t.Context(), st.Hash, st.ExpiresAt.Add(-time.Millisecond)); err != nil {
		t.Errorf("ConsumeState before expiry after a refused one: %v", err)
	}
}

func testStateUnknown(t *testing.T, s ConnectStore) {
	mustCreateState(t, s, NewState(BaseTime()))
	if _, err := s.ConsumeState(t.Context(), OpaqueBytes(32), BaseTime()); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("ConsumeState(unknown) = %v, want ErrNotFound", err)
	}
}

func testStateDuplicate(t *testing.T, s ConnectStore) {
	st := NewState(BaseTime())
	mustCreateState(t, s, st)
	again := NewState(BaseTime())
	again.Hash = st.Hash
	if err := s.CreateState(t.Context(), again); !errors.Is(err, tokenkeeper.ErrDuplicate) {
		t.Errorf("CreateState(same hash) = %v, want ErrDuplicate", err)
	}
	got, err := s.ConsumeState(t.Context(), st.Hash, BaseTime())
	if err != nil {
		t.Fatalf("ConsumeState: %v", err)
	}
	if got.UserID != st.UserID {
		t.Error("the duplicate replaced the first state")
	}
}

func testStateConcurrent(t *testing.T, s ConnectStore) {
	st := NewState(BaseTime())
	mustCreateState(t, s, st)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.ConsumeState(t.Context(), st.Hash, BaseTime())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok, used := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, tokenkeeper.ErrStateUsed):
			used++
		default:
			t.Errorf("ConsumeState: %v", err)
		}
	}
	if ok != 1 || used != n-1 {
		t.Errorf("%d consumers succeeded and %d saw it used, want 1 and %d", ok, used, n-1)
	}
}

func testKeySingleUse(t *testing.T, s ConnectStore) {
	now := BaseTime()
	for i, want := range []bool{true, false} {
		got, err := s.UseKey(t.Context(), "link_a", now.Add(time.Duration(i)*time.Minute), now.Add(time.Hour))
		if err != nil || got != want {
			t.Errorf("UseKey #%d = %v, %v; want %v", i+1, got, err, want)
		}
	}
	for key, want := range map[string]bool{"link_a": true, "link_b": false} {
		if got, err := s.KeyUsed(t.Context(), key); err != nil || got != want {
			t.Errorf("KeyUsed(%s) = %v, %v; want %v", key, got, err, want)
		}
	}
}

func testKeyConcurrent(t *testing.T, s ConnectStore) {
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	recorded := 0
	for range n {
		wg.Go(func() {
			ok, err := s.UseKey(t.Context(), "link_race", BaseTime(), BaseTime().Add(time.Hour))
			if err != nil {
				t.Errorf("UseKey: %v", err)
			}
			if ok {
				mu.Lock()
				recorded++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if recorded != 1 {
		t.Errorf("%d of %d concurrent UseKey calls recorded the key, want 1", recorded, n)
	}
}

func testPurge(t *testing.T, s ConnectStore) {
	now := BaseTime()
	old, fresh := NewState(now.Add(-time.Hour)), NewState(now)
	mustCreateState(t, s, old)
	mustCreateState(t, s, fresh)
	for key, exp := range map[string]time.Time{"old": now.Add(-time.Minute), "new": now.Add(time.Hour)} {
		if _, err := s.UseKey(t.Context(), key, now.Add(-2*time.Hour), exp); err != nil {
			t.Fatalf("UseKey: %v", err)
		}
	}
	n, err := s.PurgeConnect(t.Context(), now)
	if err != nil || n != 2 {
		t.Fatalf("PurgeConnect = %d, %v; want 2 rows", n, err)
	}
	if _, err := s.ConsumeState(t.Context(), old.Hash, now.Add(-time.Hour)); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("purged state: ConsumeState = %v, want ErrNotFound", err)
	}
	if _, err := s.ConsumeState(t.Context(), fresh.Hash, now); err != nil {
		t.Errorf("kept state: ConsumeState = %v", err)
	}
	for key, want := range map[string]bool{"old": false, "new": true} {
		if got, _ := s.KeyUsed(t.Context(), key); got != want {
			t.Errorf("KeyUsed(%s) after purge = %v, want %v", key, got, want)
		}
	}
}
