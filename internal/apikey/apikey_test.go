package apikey

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// keyStore is a tokenkeeper.Store holding API keys in memory; the other
// methods are not used by this package and panic through the nil interface.
type keyStore struct {
	tokenkeeper.Store
	keys []*tokenkeeper.APIKey
	err  error // returned by GetAPIKeyByHash when set
}

func (s *keyStore) GetAPIKeyByHash(_ context.Context, hash []byte) (*tokenkeeper.APIKey, error) {
	if s.err != nil {
		return nil, s.err
	}
	for _, k := range s.keys {
		if bytes.Equal(k.Hash, hash) && k.RevokedAt.IsZero() {
			return k, nil
		}
	}
	return nil, tokenkeeper.ErrNotFound
}

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestGenerate(t *testing.T) {
	t.Parallel()
	plain, k, err := Generate("billing", []tokenkeeper.Scope{tokenkeeper.ScopeTokensRead, tokenkeeper.ScopeTokensRead}, now)
	if err != nil {
		t.Fatal(err)
	}
	p := plain.Reveal()
	if !strings.HasPrefix(p, Prefix) || len(p) != len(Prefix)+43 || !wellFormed(p) {
		t.Errorf("key %q is not tk_ + 43 base64url characters", p)
	}
	if !strings.HasPrefix(k.ID, "key_") || !tokenkeeper.ValidID(k.ID) {
		t.Errorf("ID = %q, want key_…", k.ID)
	}
	if !bytes.Equal(k.Hash, Hash(p)) || len(k.Hash) != 32 {
		t.Errorf("Hash is not SHA-256 of the key")
	}
	if !slices.Equal(k.Scopes, []tokenkeeper.Scope{tokenkeeper.ScopeTokensRead}) {
		t.Errorf("Scopes = %v, want [tokens:read] (deduplicated)", k.Scopes)
	}
	if k.Name != "billing" || !k.CreatedAt.Equal(now) || !k.LastUsedAt.IsZero() || !k.RevokedAt.IsZero() {
		t.Errorf("key = %+v", k)
	}
	if plain.String() == p || fmt.Sprint(plain) == p {
		t.Error("the plaintext Secret prints itself")
	}
	other, _, err := Generate("billing", []tokenkeeper.Scope{tokenkeeper.ScopeAdmin}, now)
	if err != nil || other == plain {
		t.Errorf("two keys are equal (%v)", err)
	}
}

// TestPlaintextNotStored checks that no field of the stored key holds the
// plaintext or a part of it, however it is printed.
func TestPlaintextNotStored(t *testing.T) {
	t.Parallel()
	plain, k, err := Generate("ci", tokenkeeper.Scopes, now)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimPrefix(plain.Reveal(), Prefix)
	for _, form := range []string{fmt.Sprintf("%v", k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), string(k.Hash), k.ID, k.Name} {
		if strings.Contains(form, secret[:16]) {
			t.Fatalf("stored key shows the plaintext: %s", form)
		}
	}
}

func TestGenerateRejects(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		name   string
		scopes []tokenkeeper.Scope
	}{
		"no scopes":        {"a", nil},
		"unknown scope":    {"a", []tokenkeeper.Scope{"tokens:write"}},
		"long name":        {strings.Repeat("n", 201), tokenkeeper.Scopes},
		"control in name":  {"a\nb", tokenkeeper.Scopes},
		"invalid utf8":     {"a\xffb", tokenkeeper.Scopes},
		"empty scope name": {"a", []tokenkeeper.Scope{""}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Generate(tc.name, tc.scopes, now)
			if code := tokenkeeper.ErrorCode(err); code != tokenkeeper.CodeInvalidRequest {
				t.Errorf("Generate: %v (code %q), want INVALID_REQUEST", err, code)
			}
		})
	}
}

func TestParseScopes(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in      string
		want    []tokenkeeper.Scope
		wantErr string
	}{
		"one":       {in: "admin", want: []tokenkeeper.Scope{tokenkeeper.ScopeAdmin}},
		"all":       {in: "admin,tokens:read,connections:write", want: []tokenkeeper.Scope{tokenkeeper.ScopeAdmin, tokenkeeper.ScopeTokensRead, tokenkeeper.ScopeConnectionsWrite}},
		"spaces":    {in: " tokens:read , connections:write ", want: []tokenkeeper.Scope{tokenkeeper.ScopeTokensRead, tokenkeeper.ScopeConnectionsWrite}},
		"duplicate": {in: "admin,admin", want: []tokenkeeper.Scope{tokenkeeper.ScopeAdmin}},
		"empty":     {in: "", wantErr: "at least one scope"},
		"commas":    {in: ",,", wantErr: "at least one scope"},
		"unknown":   {in: "admin,root", wantErr: `unknown scope "root" (known: tokens:read, connections:write, admin)`},
		"case":      {in: "ADMIN", wantErr: `unknown scope "ADMIN"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseScopes(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || tokenkeeper.ErrorCode(err) != tokenkeeper.CodeInvalidRequest {
					t.Fatalf("ParseScopes(%q) = %v, %v; want INVALID_REQUEST containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ParseScopes(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	plain, k, err := Generate("app", []tokenkeeper.Scope{tokenkeeper.ScopeTokensRead}, now)
	if err != nil {
		t.Fatal(err)
	}
	revokedPlain, revoked, _ := Generate("old", tokenkeeper.Scopes, now)
	revoked.RevokedAt = now
	store := &keyStore{keys: []*tokenkeeper.APIKey{k, revoked}}
	unknown, _, _ := Generate("unknown", tokenkeeper.Scopes, now)

	got, err := Authenticate(t.Context(), store, plain.Reveal())
	if err != nil || got.ID != k.ID {
		t.Fatalf("Authenticate(valid) = %v, %v", got, err)
	}

	p := plain.Reveal()
	rejected := map[string]string{
		"empty":            "",
		"unknown":          unknown.Reveal(),
		"revoked":          revokedPlain.Reveal(),
		"no prefix":        strings.TrimPrefix(p, Prefix),
		"other prefix":     "tx_" + p[3:],
		"short":            p[:len(p)-1],
		"long":             p + "A",
		"padding":          p[:len(p)-1] + "=",
		"std alphabet":     p[:len(p)-1] + "+",
		"space":            " " + p[1:],
		"bearer prefix":    "Bearer " + p,
		"last char change": p[:len(p)-1] + flip(p[len(p)-1]),
	}
	for name, presented := range rejected {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := Authenticate(t.Context(), store, presented)
			if got != nil || tokenkeeper.ErrorCode(err) != tokenkeeper.CodeUnauthorized {
				t.Fatalf("Authenticate = %v, %v; want UNAUTHORIZED", got, err)
			}
			if err.Error() != "invalid API key" {
				t.Errorf("message %q tells more than invalid API key", err)
			}
		})
	}
}

// TestAuthenticateRevokedByStore covers a store that returns a revoked key
// (a store bug or a race): Authenticate still refuses it.
func TestAuthenticateRevokedByStore(t *testing.T) {
	t.Parallel()
	plain, k, _ := Generate("app", tokenkeeper.Scopes, now)
	k.RevokedAt = now
	store := &leakyStore{key: k}
	if _, err := Authenticate(t.Context(), store, plain.Reveal()); tokenkeeper.ErrorCode(err) != tokenkeeper.CodeUnauthorized {
		t.Fatalf("Authenticate(revoked) = %v, want UNAUTHORIZED", err)
	}
	// A store that returns a key whose hash differs is refused too.
	other, _, _ := Generate("app", tokenkeeper.Scopes, now)
	k.RevokedAt = time.Time{}
	if _, err := Authenticate(t.Context(), store, other.Reveal()); tokenkeeper.ErrorCode(err) != tokenkeeper.CodeUnauthorized {
		t.Fatalf("Authenticate(hash mismatch) = %v, want UNAUTHORIZED", err)
	}
}

// leakyStore returns its key whatever the hash.
type leakyStore struct {
	tokenkeeper.Store
	key *tokenkeeper.APIKey
}

func (s *leakyStore) GetAPIKeyByHash(context.Context, []byte) (*tokenkeeper.APIKey, error) {
	return s.key, nil
}

func TestAuthenticateStoreError(t *testing.T) {
	t.Parallel()
	plain, _, _ := Generate("app", tokenkeeper.Scopes, now)
	boom := errors.New("database is locked")
	_, err := Authenticate(t.Context(), &keyStore{err: boom}, plain.Reveal())
	if !errors.Is(err, boom) || tokenkeeper.ErrorCode(err) != tokenkeeper.CodeInternal {
		t.Fatalf("Authenticate = %v, want the store's error as INTERNAL", err)
	}
	if strings.Contains(err.Error(), plain.Reveal()) {
		t.Fatal("the error shows the key")
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}
