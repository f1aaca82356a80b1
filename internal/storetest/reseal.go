package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// The cases of key rotation over the connect flow's states: paging through
// them, and rewriting one sealed verifier with a compare-and-set that never
// clobbers a concurrent change. Pending revocations: reseal_revocations.go.

// listAllStates pages through every state, limit at a time, and fails the
// test when a page is out of order or overlaps the previous one.
func listAllStates(t *testing.T, s ConnectStore, limit int) []*tokenkeeper.OAuthState {
	t.Helper()
	var all []*tokenkeeper.OAuthState
	var after []byte
	for range 1000 {
		page, err := s.ListStates(t.Context(), after, limit)
		if err != nil {
			t.Fatalf("ListStates: %v", err)
		}
		if len(page) > max(limit, 1) {
			t.Fatalf("ListStates(limit %d) returned %d states", limit, len(page))
		}
		for _, st := range page {
			if after != nil && bytes.Compare(st.Hash, after) <= 0 {
				t.Fatalf("ListStates after %x returned %x: not in hash order", after, st.Hash)
			}
			after = st.Hash
		}
		all = append(all, page...)
		if len(page) < limit {
			return all
		}
	}
	t.Fatal("ListStates never reached the end")
	return nil
}

// stateByHash returns the stored state with this hash, read through ListStates.
func stateByHash(t *testing.T, s ConnectStore, hash []byte) *tokenkeeper.OAuthState {
	t.Helper()
	for _, st := range listAllStates(t, s, 100) {
		if bytes.Equal(st.Hash, hash) {
			return st
		}
	}
	t.Fatalf("no state %x listed", hash)
	return nil
}

// testListStates: every state comes back once, in hash order, used, expired
// and verifier-less ones included, whatever the page size.
func testListStates(t *testing.T, s ConnectStore) {
	now := BaseTime()
	if got, err := s.ListStates(t.Context(), nil, 10); err != nil || len(got) != 0 {
		t.Fatalf("ListStates on an empty store = %d states, %v", len(got), err)
	}
	var want []*tokenkeeper.OAuthState
	for i := range 7 {
		st := NewState(now)
		switch i {
		case 1: // no PKCE
			st.SealedVerifier = nil
		case 2: // expired long ago
			st.CreatedAt, st.ExpiresAt = now.Add(-time.Hour), now.Add(-50*time.Minute)
		}
		mustCreateState(t, s, st)
		if i == 3 {
			if _, err := s.ConsumeState(t.Context(), st.Hash, now); err != nil {
				t.Fatalf("ConsumeState: %v", err)
			}
			st.UsedAt = now
		}
		want = append(want, st)
	}
	slices.SortFunc(want, func(a, b *tokenkeeper.OAuthState) int { return bytes.Compare(a.Hash, b.Hash) })
	for _, limit := range []int{1, 2, 3, 7, 100} {
		equal(t, fmt.Sprintf("states listed %d at a time", limit), want, listAllStates(t, s, limit))
	}
	if got, err := s.ListStates(t.Context(), nil, 0); err != nil || len(got) != len(want) {
		t.Errorf("ListStates(limit 0) = %d states, %v; want all %d", len(got), err, len(want))
	}
	if got, err := s.ListStates(t.Context(), want[len(want)-1].Hash, 10); err != nil || len(got) != 0 {
		t.Errorf("ListStates after the last hash = %d states, %v", len(got), err)
	}
}

// testResealState: the verifier is replaced only while it is still the old
// value; nothing else of the state changes, consumption included.
func testResealState(t *testing.T, s ConnectStore) {
	now := BaseTime()
	ctx := t.Context()
	st := NewState(now)
	mustCreateState(t, s, st)
	newer := OpaqueBytes(61)
	stored, err := s.ResealState(ctx, st.Hash, st.SealedVerifier, newer)
	if err != nil || !bytes.Equal(stored, newer) {
		t.Fatalf("ResealState = %d bytes, %v; want the new value", len(stored), err)
	}
	old := st.SealedVerifier
	st.SealedVerifier = newer
	equal(t, "resealed state", st, stateByHash(t, s, st.Hash))

	// A stale old value (another rotation got there first) changes nothing
	// and reports the value stored.
	stored, err = s.ResealState(ctx, st.Hash, old, OpaqueBytes(62))
	if err != nil || !bytes.Equal(stored, newer) {
		t.Errorf("ResealState with a stale value = %d bytes, %v; want the stored value back", len(stored), err)
	}
	equal(t, "state after a stale reseal", st, stateByHash(t, s, st.Hash))

	// A consumed state is still resealed, and stays consumed: the callback
	// that consumed it is not undone.
	at := now.Add(time.Minute)
	got, err := s.ConsumeState(ctx, st.Hash, at)
	if err != nil {
		t.Fatalf("ConsumeState after a reseal: %v", err)
	}
	if !bytes.Equal(got.SealedVerifier, newer) {
		t.Error("ConsumeState after a reseal returned the old verifier")
	}
	newest := OpaqueBytes(63)
	if stored, err = s.ResealState(ctx, st.Hash, newer, newest); err != nil || !bytes.Equal(stored, newest) {
		t.Fatalf("ResealState of a consumed state = %d bytes, %v", len(stored), err)
	}
	st.SealedVerifier, st.UsedAt = newest, at
	equal(t, "consumed state after a reseal", st, stateByHash(t, s, st.Hash))
	if _, err := s.ConsumeState(ctx, st.Hash, at); !errors.Is(err, tokenkeeper.ErrStateUsed) {
		t.Errorf("ConsumeState after resealing a used state: %v, want ErrStateUsed", err)
	}

	// A state without a verifier is never given one.
	bare := NewState(now)
	bare.SealedVerifier = nil
	mustCreateState(t, s, bare)
	if stored, err = s.ResealState(ctx, bare.Hash, nil, OpaqueBytes(60)); err != nil || len(stored) != 0 {
		t.Errorf("ResealState of a state without verifier = %d bytes, %v; want nothing stored", len(stored), err)
	}
	equal(t, "state without verifier", bare, stateByHash(t, s, bare.Hash))

	if _, err := s.ResealState(ctx, OpaqueBytes(32), old, newer); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("ResealState of an unknown hash: %v, want ErrNotFound", err)
	}
	if _, err := s.ResealState(ctx, st.Hash, newest, nil); err == nil {
		t.Error("ResealState with an empty new value succeeded")
	}
	equal(t, "state after refused reseals", st, stateByHash(t, s, st.Hash))
}

// testResealStatePurged: a purged state is reported as gone.
func testResealStatePurged(t *testing.T, s ConnectStore) {
	now := BaseTime()
	st := NewState(now)
	mustCreateState(t, s, st)
	if _, err := s.PurgeConnect(t.Context(), st.ExpiresAt.Add(time.Millisecond)); err != nil {
		t.Fatalf("PurgeConnect: %v", err)
	}
	if _, err := s.ResealState(t.Context(), st.Hash, st.SealedVerifier, OpaqueBytes(60)); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("ResealState of a purged state: %v, want ErrNotFound", err)
	}
}

// testResealStateConcurrent: of concurrent rewrites from the same old value
// exactly one wins, and every loser is told the winner's value.
func testResealStateConcurrent(t *testing.T, s ConnectStore) {
	st := NewState(BaseTime())
	mustCreateState(t, s, st)
	const n = 8
	values := make([][]byte, n)
	stored := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		values[i] = OpaqueBytes(60 + i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			stored[i], errs[i] = s.ResealState(t.Context(), st.Hash, st.SealedVerifier, values[i])
		}()
	}
	wg.Wait()
	winner := -1
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("ResealState %d: %v", i, errs[i])
		}
		if bytes.Equal(stored[i], values[i]) {
			if winner >= 0 {
				t.Fatalf("rewrites %d and %d both won", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no rewrite won")
	}
	for i := range n {
		if !bytes.Equal(stored[i], values[winner]) {
			t.Errorf("rewrite %d was told another value than the winner's", i)
		}
	}
	if got := stateByHash(t, s, st.Hash); !bytes.Equal(got.SealedVerifier, values[winner]) {
		t.Error("the stored verifier is not the winner's")
	}
}
