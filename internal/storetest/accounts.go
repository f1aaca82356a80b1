package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

var accountTests = map[string]func(*testing.T, OpenFunc){
	"APIKeyRoundTrip": testAPIKeyRoundTrip,
	"APIKeyRevoke":    testAPIKeyRevoke,
	"APIKeyTouch":     testAPIKeyTouch,
	"APIKeyList":      testAPIKeyList,
	"Users":           testUsers,
	"UserReseal":      testUserResealEmail,
}

func newAPIKey(name string, createdAt time.Time, scopes ...tokenkeeper.Scope) *tokenkeeper.APIKey {
	return &tokenkeeper.APIKey{
		ID: tokenkeeper.NewID("key_"), Name: name, Hash: OpaqueBytes(32),
		Scopes: scopes, CreatedAt: createdAt,
	}
}

func (f *fixture) createKey(k *tokenkeeper.APIKey) {
	f.t.Helper()
	if err := f.s.CreateAPIKey(f.t.Context(), k); err != nil {
		f.t.Fatalf("CreateAPIKey: %v", err)
	}
}

func testAPIKeyRoundTrip(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	k := newAPIKey("billing app", f.now, tokenkeeper.ScopeTokensRead, tokenkeeper.ScopeConnectionsWrite)
	f.createKey(k)
	f.createKey(newAPIKey("other", f.now))
	got, err := f.s.GetAPIKeyByHash(t.Context(), k.Hash)
	if err != nil {
		t.Fatalf("GetAPIKeyByHash: %v", err)
	}
	equal(t, "api key", k, got)
	if _, err := f.s.GetAPIKeyByHash(t.Context(), OpaqueBytes(32)); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("GetAPIKeyByHash(unknown) = %v, want ErrNotFound", err)
	}
}

func testAPIKeyRevoke(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	k := newAPIKey("app", f.now, tokenkeeper.ScopeAdmin)
	f.createKey(k)
	at := f.now.Add(time.Hour)
	if err := f.s.RevokeAPIKey(t.Context(), k.ID, at); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	if _, err := f.s.GetAPIKeyByHash(t.Context(), k.Hash); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("GetAPIKeyByHash of a revoked key = %v, want ErrNotFound", err)
	}
	keys, err := f.s.ListAPIKeys(t.Context())
	if err != nil || len(keys) != 1 {
		t.Fatalf("ListAPIKeys = %v, %v; want the revoked key", keys, err)
	}
	want := *k
	want.RevokedAt = at
	equal(t, "revoked key", &want, keys[0])
	if err := f.s.RevokeAPIKey(t.Context(), tokenkeeper.NewID("key_"), at); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("RevokeAPIKey(unknown) = %v, want ErrNotFound", err)
	}
}

func testAPIKeyTouch(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	k := newAPIKey("app", f.now, tokenkeeper.ScopeTokensRead)
	f.createKey(k)
	used := f.now.Add(5 * time.Minute)
	if err := f.s.TouchAPIKey(t.Context(), k.ID, used); err != nil {
		t.Fatalf("TouchAPIKey: %v", err)
	}
	got, err := f.s.GetAPIKeyByHash(t.Context(), k.Hash)
	if err != nil {
		t.Fatalf("GetAPIKeyByHash: %v", err)
	}
	if !got.LastUsedAt.Equal(used) {
		t.Errorf("LastUsedAt = %s, want %s", fmtTime(got.LastUsedAt), fmtTime(used))
	}
}

func testAPIKeyList(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	keys, err := f.s.ListAPIKeys(t.Context())
	if err != nil || len(keys) != 0 {
		t.Fatalf("ListAPIKeys on an empty store = %v, %v; want none", keys, err)
	}
	// Created out of order: the list is ordered by creation time.
	second := newAPIKey("second", f.now.Add(time.Minute), tokenkeeper.ScopeTokensRead)
	first := newAPIKey("first", f.now, tokenkeeper.ScopeAdmin)
	third := newAPIKey("third", f.now.Add(2*time.Minute))
	for _, k := range []*tokenkeeper.APIKey{second, third, first} {
		f.createKey(k)
	}
	if err := f.s.RevokeAPIKey(t.Context(), second.ID, f.now.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	second.RevokedAt = f.now.Add(time.Hour)
	keys, err = f.s.ListAPIKeys(t.Context())
	if err != nil {
		t.Fatalf("ListAPIKeys: %v", err)
	}
	equal(t, "keys", []*tokenkeeper.APIKey{first, second, third}, keys)
}

func testUsers(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	if _, err := f.s.GetUser(t.Context(), "nobody"); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("GetUser(unknown) = %v, want ErrNotFound", err)
	}
	u := &tokenkeeper.User{ID: "user-1", SealedEmail: OpaqueBytes(60), EmailEnabled: true, UpdatedAt: f.now}
	if err := f.s.PutUser(t.Context(), u); err != nil {
		t.Fatalf("PutUser: %v", err)
	}
	other := &tokenkeeper.User{ID: "user-2", UpdatedAt: f.now}
	if err := f.s.PutUser(t.Context(), other); err != nil {
		t.Fatalf("PutUser without e-mail: %v", err)
	}
	for _, want := range []*tokenkeeper.User{u, other} {
		got, err := f.s.GetUser(t.Context(), want.ID)
		if err != nil {
			t.Fatalf("GetUser(%s): %v", want.ID, err)
		}
		equal(t, "user "+want.ID, want, got)
	}
	updated := &tokenkeeper.User{ID: "user-1", SealedEmail: OpaqueBytes(61), Digest: true, UpdatedAt: f.now.Add(time.Hour)}
	if err := f.s.PutUser(t.Context(), updated); err != nil {
		t.Fatalf("PutUser (update): %v", err)
	}
	got, err := f.s.GetUser(t.Context(), "user-1")
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	equal(t, "updated user", updated, got)

	all, err := f.s.ListUsers(t.Context(), "", 0)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	equal(t, "all users", []*tokenkeeper.User{updated, other}, all)
	page, err := f.s.ListUsers(t.Context(), "user-1", 1)
	if err != nil {
		t.Fatalf("ListUsers after user-1: %v", err)
	}
	equal(t, "users after user-1", []*tokenkeeper.User{other}, page)
	if rest, err := f.s.ListUsers(t.Context(), "user-2", 10); err != nil || len(rest) != 0 {
		t.Fatalf("ListUsers past the end: %d users, %v", len(rest), err)
	}
}

func testUserResealEmail(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	old := OpaqueBytes(60)
	u := &tokenkeeper.User{ID: "user-1", SealedEmail: old, EmailEnabled: true, UpdatedAt: f.now}
	if err := f.s.PutUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	// The settings change after rotation read the user: rotation keeps them.
	changed := *u
	changed.EmailEnabled, changed.Digest = false, true
	if err := f.s.PutUser(t.Context(), &changed); err != nil {
		t.Fatal(err)
	}
	resealed := OpaqueBytes(61)
	later := f.now.Add(time.Minute)
	stored, err := f.s.ResealUserEmail(t.Context(), u.ID, old, resealed, later)
	if err != nil || !bytes.Equal(stored, resealed) {
		t.Fatalf("ResealUserEmail = %x, %v; want the new value stored", stored, err)
	}
	got, err := f.s.GetUser(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := changed
	want.SealedEmail, want.UpdatedAt = resealed, later
	equal(t, "re-encrypted user", &want, got)

	// A stale old value (the address changed meanwhile) changes nothing,
	// and the value stored is returned.
	stored, err = f.s.ResealUserEmail(t.Context(), u.ID, old, OpaqueBytes(62), later.Add(time.Minute))
	if err != nil || !bytes.Equal(stored, resealed) {
		t.Fatalf("ResealUserEmail with a stale value = %x, %v; want the value stored", stored, err)
	}
	if got, _ := f.s.GetUser(t.Context(), u.ID); got == nil || string(got.SealedEmail) != string(resealed) {
		t.Fatal("a stale compare-and-set replaced the address")
	}
	if stored, err := f.s.ResealUserEmail(t.Context(), "nobody", old, resealed, later); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Fatalf("ResealUserEmail(unknown) = %x, %v; want ErrNotFound", stored, err)
	}
}
