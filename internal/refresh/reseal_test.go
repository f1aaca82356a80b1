package refresh

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// racingStore is the fixture's store with hooks that run just before the
// rewrite of a given state or revocation: another writer changing the row
// between Reseal's read and its write.
type racingStore struct {
	*sqlite.Store
	beforeState      map[string]func() // by hex of the state's hash
	beforeRevocation map[string]func() // by revocation id
	beforeUser       map[string]func() // by user id
}

func (s *racingStore) ResealUserEmail(ctx context.Context, id string, old, sealed []byte, now time.Time) ([]byte, error) {
	if hook := s.beforeUser[id]; hook != nil {
		hook()
	}
	return s.Store.ResealUserEmail(ctx, id, old, sealed, now)
}

func (s *racingStore) ResealState(ctx context.Context, hash, old, sealed []byte) ([]byte, error) {
	if hook := s.beforeState[hex.EncodeToString(hash)]; hook != nil {
		hook()
	}
	return s.Store.ResealState(ctx, hash, old, sealed)
}

func (s *racingStore) ResealRevocation(ctx context.Context, id string, old, sealed []byte, now time.Time) ([]byte, error) {
	if hook := s.beforeRevocation[id]; hook != nil {
		hook()
	}
	return s.Store.ResealRevocation(ctx, id, old, sealed, now)
}

// resealFixture is a store holding values sealed with an old key, and the
// rings of a rotation: rotated (new key first, old key second) and retired
// (the new key alone).
type resealFixture struct {
	*fixture
	store            *racingStore
	keeper           *Refresher
	rotated, retired *vault.Ring
	plain            map[string]string // what each sealed value opens to, by row id
}

func setupReseal(t *testing.T) *resealFixture {
	t.Helper()
	f := setup(t, fixtureOptions{})
	newKey, err := vault.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	rf := &resealFixture{fixture: f, plain: map[string]string{},
		store: &racingStore{Store: f.store, beforeState: map[string]func(){}, beforeRevocation: map[string]func(){}, beforeUser: map[string]func(){}}}
	if rf.rotated, err = vault.NewRing(append([]vault.Key{newKey}, f.ring.Keys()...)...); err != nil {
		t.Fatal(err)
	}
	if rf.retired, err = vault.NewRing(newKey); err != nil {
		t.Fatal(err)
	}
	rf.keeper = f.refresherWith(Options{Store: rf.store, Clock: f.clock})
	return rf
}

// seal seals plain for (rowID, field) with ring and remembers it by rowID.
func (f *resealFixture) seal(ring *vault.Ring, rowID string, field tokenkeeper.Field, plain string) []byte {
	f.t.Helper()
	b, err := ring.Seal([]byte(plain), tokenkeeper.AdditionalData(rowID, field))
	if err != nil {
		f.t.Fatal(err)
	}
	f.plain[rowID] = plain
	return b
}

// state stores a state whose verifier is sealed with ring (none when ring is nil).
func (f *resealFixture) state(ring *vault.Ring, mods ...func(*tokenkeeper.OAuthState)) *tokenkeeper.OAuthState {
	f.t.Helper()
	st := storetest.NewState(f.clock.Now())
	for _, mod := range mods {
		mod(st)
	}
	st.SealedVerifier = nil
	if ring != nil {
		st.SealedVerifier = f.seal(ring, st.RowID(), tokenkeeper.FieldPKCEVerifier, "verifier of "+st.RowID())
	}
	if err := f.store.CreateState(f.t.Context(), st); err != nil {
		f.t.Fatal(err)
	}
	return st
}

// revocation stores a pending revocation due at next whose token is sealed
// with ring, or is sealed when sealed is not nil.
func (f *resealFixture) revocation(ring *vault.Ring, next time.Time, sealed []byte) *tokenkeeper.PendingRevocation {
	f.t.Helper()
	now := f.clock.Now()
	p := storetest.NewRevocation("conn_gone", now, next)
	p.SealedToken = sealed
	if sealed == nil {
		p.SealedToken = f.seal(ring, p.ID, tokenkeeper.FieldRevocationToken, "token of "+p.ID)
	}
	if err := f.store.EnqueueRevocation(f.t.Context(), p); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// storedState returns the state with this hash as stored now.
func (f *resealFixture) storedState(hash []byte) *tokenkeeper.OAuthState {
	f.t.Helper()
	states, err := f.store.ListStates(f.t.Context(), nil, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, st := range states {
		if bytes.Equal(st.Hash, hash) {
			return st
		}
	}
	f.t.Fatalf("state %x is gone", hash)
	return nil
}

// storedRevocation returns the revocation as stored now, nil when it is gone.
func (f *resealFixture) storedRevocation(id string) *tokenkeeper.PendingRevocation {
	f.t.Helper()
	revs, err := f.store.ListRevocations(f.t.Context(), "", 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, p := range revs {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// opensWith fails the test unless sealed opens with ring to the plaintext
// remembered for (rowID, field).
func (f *resealFixture) opensWith(ring *vault.Ring, what string, sealed []byte, rowID string, field tokenkeeper.Field) {
	f.t.Helper()
	got, err := ring.Open(sealed, tokenkeeper.AdditionalData(rowID, field))
	if err != nil {
		f.t.Errorf("%s does not open with the new key alone: %v", what, err)
		return
	}
	if string(got) != f.plain[rowID] {
		f.t.Errorf("%s opens to another value", what)
	}
}

// TestResealConnectFlowValues: a rotation pass re-encrypts the PKCE
// verifiers of every stored state (open, consumed, expired) and the tokens
// of pending revocations, so that they open with the new key alone; it
// counts a value no key opens as unreadable, a revocation the worker holds
// as busy (re-encrypted by the next pass, once released), and skips rows
// that another writer changed or removed meanwhile, without undoing their
// change.
func TestResealConnectFlowValues(t *testing.T) {
	t.Parallel()
	f := setupReseal(t)
	ctx := t.Context()
	now := f.clock.Now()
	old := f.ring

	open := f.state(old)
	consumed := f.state(old)
	if _, err := f.store.ConsumeState(ctx, consumed.Hash, now); err != nil {
		t.Fatal(err)
	}
	expired := f.state(old, func(st *tokenkeeper.OAuthState) {
		st.CreatedAt, st.ExpiresAt = now.Add(-time.Hour).Truncate(time.Millisecond), now.Add(-50*time.Minute).Truncate(time.Millisecond)
	})
	noPKCE := f.state(nil)
	current := f.state(f.rotated) // sealed with the new key already
	stranger, err := vault.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	strangerRing, _ := vault.NewRing(stranger)
	unknownKey := f.state(strangerRing)
	// A callback consumes this state between the pass's read and its write.
	racing := f.state(old)
	consumedAt := now.Add(time.Second)
	f.store.beforeState[hex.EncodeToString(racing.Hash)] = func() {
		if _, err := f.store.ConsumeState(ctx, racing.Hash, consumedAt); err != nil {
			t.Errorf("the racing callback: %v", err)
		}
	}
	// Another rotation re-encrypts this one between the pass's read and its write.
	overtakenState := f.state(old)
	var stateOvertakenBy []byte
	f.store.beforeState[hex.EncodeToString(overtakenState.Hash)] = func() {
		stateOvertakenBy = f.seal(f.rotated, overtakenState.RowID(), tokenkeeper.FieldPKCEVerifier, f.plain[overtakenState.RowID()])
		if _, err := f.store.Store.ResealState(ctx, overtakenState.Hash, overtakenState.SealedVerifier, stateOvertakenBy); err != nil {
			t.Errorf("the other rotation: %v", err)
		}
	}

	free := f.revocation(old, now.Add(time.Hour), nil)
	garbage := f.revocation(nil, now.Add(time.Hour), []byte("not a sealed value"))
	// The worker leases this one and holds the token it read.
	leased := f.revocation(old, now.Add(-2*time.Hour), nil)
	if got, err := f.store.ClaimRevocations(ctx, "worker", now, now.Add(time.Hour), 1); err != nil || len(got) != 1 || got[0].ID != leased.ID {
		t.Fatalf("the worker's claim: %d rows, %v", len(got), err)
	}
	// Another rotation re-encrypts this one between the pass's read and its write.
	overtaken := f.revocation(old, now.Add(time.Hour), nil)
	var overtakenBy []byte
	f.store.beforeRevocation[overtaken.ID] = func() {
		overtakenBy = f.seal(f.rotated, overtaken.ID, tokenkeeper.FieldRevocationToken, f.plain[overtaken.ID])
		if _, err := f.store.Store.ResealRevocation(ctx, overtaken.ID, overtaken.SealedToken, overtakenBy, now); err != nil {
			t.Errorf("the other rotation: %v", err)
		}
	}
	// The worker finishes this one (revoked, deleted) meanwhile.
	vanishing := f.revocation(old, now.Add(-time.Hour), nil)
	f.store.beforeRevocation[vanishing.ID] = func() {
		got, err := f.store.ClaimRevocations(ctx, "worker2", now, now.Add(time.Hour), 1)
		if err != nil || len(got) != 1 || got[0].ID != vanishing.ID {
			t.Errorf("the second worker's claim: %d rows, %v", len(got), err)
			return
		}
		if err := f.store.DeleteRevocation(ctx, vanishing.ID, "worker2"); err != nil {
			t.Errorf("the second worker's delete: %v", err)
		}
	}

	st, err := f.keeper.Reseal(ctx, f.rotated, 2)
	if err != nil {
		t.Fatalf("Reseal: %v", err)
	}
	want := ResealStats{States: 4, Revocations: 1, Busy: 1, Broken: 2}
	if st != want {
		t.Fatalf("Reseal = %+v, want %+v", st, want)
	}

	for name, s := range map[string]*tokenkeeper.OAuthState{"open": open, "consumed": consumed, "expired": expired, "racing": racing, "current": current} {
		got := f.storedState(s.Hash)
		f.opensWith(f.retired, "the verifier of the "+name+" state", got.SealedVerifier, s.RowID(), tokenkeeper.FieldPKCEVerifier)
		if name == "current" && !bytes.Equal(got.SealedVerifier, s.SealedVerifier) {
			t.Error("a verifier sealed with the new key already was rewritten")
		}
	}
	if got := f.storedState(racing.Hash); !got.UsedAt.Equal(consumedAt.Truncate(time.Millisecond)) {
		t.Errorf("the racing consumption was undone: used at %v", got.UsedAt)
	}
	if _, err := f.store.ConsumeState(ctx, racing.Hash, consumedAt); !errors.Is(err, tokenkeeper.ErrStateUsed) {
		t.Errorf("consuming the racing state again: %v, want ErrStateUsed", err)
	}
	if got, err := f.store.ConsumeState(ctx, open.Hash, now); err != nil {
		t.Errorf("the open state no longer completes: %v", err)
	} else {
		f.opensWith(f.retired, "the verifier returned by the callback's consume", got.SealedVerifier, open.RowID(), tokenkeeper.FieldPKCEVerifier)
	}
	if got := f.storedState(overtakenState.Hash); !bytes.Equal(got.SealedVerifier, stateOvertakenBy) {
		t.Error("the verifier another rotation re-encrypted was overwritten")
	}
	if got := f.storedState(noPKCE.Hash); len(got.SealedVerifier) != 0 {
		t.Error("a state without PKCE was given a verifier")
	}
	if got := f.storedState(unknownKey.Hash); !bytes.Equal(got.SealedVerifier, unknownKey.SealedVerifier) {
		t.Error("an unreadable verifier was rewritten")
	}

	f.opensWith(f.retired, "the free revocation's token", f.storedRevocation(free.ID).SealedToken, free.ID, tokenkeeper.FieldRevocationToken)
	if got := f.storedRevocation(overtaken.ID); got == nil || !bytes.Equal(got.SealedToken, overtakenBy) {
		t.Error("the revocation another rotation re-encrypted was overwritten")
	}
	if f.storedRevocation(vanishing.ID) != nil {
		t.Error("the revocation the worker deleted came back")
	}
	if got := f.storedRevocation(garbage.ID); !bytes.Equal(got.SealedToken, garbage.SealedToken) {
		t.Error("an unreadable token was rewritten")
	}
	held := f.storedRevocation(leased.ID)
	if !bytes.Equal(held.SealedToken, leased.SealedToken) || held.LeaseOwner != "worker" {
		t.Fatal("the token of a revocation the worker holds was rewritten")
	}

	// The worker gives its attempt back; the next pass finishes the job.
	held.Attempts, held.NextAttemptAt = held.Attempts+1, now.Add(time.Hour)
	if err := f.store.RetryRevocation(ctx, held, "worker"); err != nil {
		t.Fatal(err)
	}
	clear(f.store.beforeState)
	clear(f.store.beforeRevocation)
	if st, err = f.keeper.Reseal(ctx, f.rotated, 100); err != nil {
		t.Fatalf("second Reseal: %v", err)
	}
	if want := (ResealStats{Revocations: 1, Broken: 2}); st != want {
		t.Fatalf("second Reseal = %+v, want %+v", st, want)
	}
	got := f.storedRevocation(leased.ID)
	f.opensWith(f.retired, "the released revocation's token", got.SealedToken, leased.ID, tokenkeeper.FieldRevocationToken)
	if got.Attempts != held.Attempts || !got.NextAttemptAt.Equal(held.NextAttemptAt.Truncate(time.Millisecond)) {
		t.Error("the re-encryption changed the worker's record of its attempt")
	}
}

// TestResealEveryKind: one pass covers every kind of sealed value, and
// afterwards nothing is sealed with the old key.
func TestResealEveryKind(t *testing.T) {
	t.Parallel()
	f := setupReseal(t)
	ctx := t.Context()
	c, _ := f.link("u1", time.Hour)
	u := &tokenkeeper.User{ID: "u1", EmailEnabled: true, UpdatedAt: f.clock.Now()}
	u.SealedEmail = f.seal(f.ring, u.ID, tokenkeeper.FieldUserEmail, "u1@example.com")
	if err := f.store.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	s := f.state(f.ring)
	p := f.revocation(f.ring, f.clock.Now().Add(time.Hour), nil)

	st, err := f.keeper.Reseal(ctx, f.rotated, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := (ResealStats{Connections: 1, Users: 1, States: 1, Revocations: 1}); st != want {
		t.Fatalf("Reseal = %+v, want %+v", st, want)
	}
	stored := f.get(c.ID)
	for _, v := range [][]byte{stored.SealedAccessToken, stored.SealedRefreshToken} {
		if f.rotated.NeedsReseal(v) {
			t.Error("a connection token still needs re-encryption")
		}
	}
	gotUser, err := f.store.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.opensWith(f.retired, "the e-mail address", gotUser.SealedEmail, u.ID, tokenkeeper.FieldUserEmail)
	f.opensWith(f.retired, "the verifier", f.storedState(s.Hash).SealedVerifier, s.RowID(), tokenkeeper.FieldPKCEVerifier)
	f.opensWith(f.retired, "the revocation's token", f.storedRevocation(p.ID).SealedToken, p.ID, tokenkeeper.FieldRevocationToken)

	if st, err = f.keeper.Reseal(ctx, f.rotated, 1); err != nil || st != (ResealStats{}) {
		t.Errorf("a second pass = %+v, %v; want nothing to do", st, err)
	}
}

// TestResealKeepsUserChanges: a user's notification settings, or address,
// changed between the rotation's read and its write are kept; a changed
// address that is still sealed with the old key is counted busy.
func TestResealKeepsUserChanges(t *testing.T) {
	t.Parallel()
	f := setupReseal(t)
	ctx := t.Context()
	put := func(u *tokenkeeper.User) {
		t.Helper()
		if err := f.store.PutUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	settings := &tokenkeeper.User{ID: "settings", EmailEnabled: true, UpdatedAt: f.clock.Now()}
	settings.SealedEmail = f.seal(f.ring, settings.ID, tokenkeeper.FieldUserEmail, "settings@example.com")
	put(settings)
	moved := &tokenkeeper.User{ID: "moved", EmailEnabled: true, UpdatedAt: f.clock.Now()}
	moved.SealedEmail = f.seal(f.ring, moved.ID, tokenkeeper.FieldUserEmail, "moved@example.com")
	put(moved)
	// Between the rotation's read and its write: the first user turns
	// e-mail off; the second gets a new address, sealed by a process that
	// does not have the new key yet.
	f.store.beforeUser[settings.ID] = func() {
		changed := *settings
		changed.EmailEnabled = false
		put(&changed)
	}
	f.store.beforeUser[moved.ID] = func() {
		changed := *moved
		changed.SealedEmail = f.seal(f.ring, moved.ID, tokenkeeper.FieldUserEmail, "new@example.com")
		put(&changed)
	}
	st, err := f.keeper.Reseal(ctx, f.rotated, 10)
	if err != nil {
		t.Fatal(err)
	}
	if st.Users != 1 || st.Busy != 1 {
		t.Fatalf("Reseal = %+v, want 1 user re-encrypted and 1 busy", st)
	}
	got, err := f.store.GetUser(ctx, settings.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.EmailEnabled {
		t.Error("the rotation undid the user's e-mail setting")
	}
	f.opensWith(f.retired, "the re-encrypted address", got.SealedEmail, settings.ID, tokenkeeper.FieldUserEmail)
	if got, err = f.store.GetUser(ctx, moved.ID); err != nil {
		t.Fatal(err)
	}
	f.opensWith(f.ring, "the new address", got.SealedEmail, moved.ID, tokenkeeper.FieldUserEmail)

	// The next pass re-encrypts the new address.
	delete(f.store.beforeUser, moved.ID)
	delete(f.store.beforeUser, settings.ID)
	if st, err = f.keeper.Reseal(ctx, f.rotated, 10); err != nil || st.Users != 1 || st.Busy != 0 {
		t.Fatalf("second pass = %+v, %v; want 1 user re-encrypted", st, err)
	}
	if got, err = f.store.GetUser(ctx, moved.ID); err != nil {
		t.Fatal(err)
	}
	f.opensWith(f.retired, "the new address", got.SealedEmail, moved.ID, tokenkeeper.FieldUserEmail)
}
