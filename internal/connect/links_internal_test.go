package connect

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

func newRing(t *testing.T, keys ...vault.Key) *vault.Ring {
	t.Helper()
	r, err := vault.NewRing(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func genKey(t *testing.T) vault.Key {
	t.Helper()
	k, err := vault.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestLinkKeyRotation: after a key rotation (a new primary key, the old
// one kept), links signed before still verify and new ones use the new key;
// once the old key is dropped, its links stop verifying.
func TestLinkKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := genKey(t), genKey(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &tokenkeeper.Connection{ID: "conn_a", UserID: "u1", Provider: "acme"}
	mk := func(r *vault.Ring) *Links {
		l, err := NewLinks(LinkOptions{Keys: r.DeriveAll(LinkKeyPurpose), PublicURL: "https://tk.example/", Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	before := mk(newRing(t, oldKey))
	during := mk(newRing(t, newKey, oldKey))
	after := mk(newRing(t, newKey))
	oldToken := before.Token(c, now.Add(time.Hour))
	newToken := during.Token(c, now.Add(time.Hour))
	tests := []struct {
		name  string
		links *Links
		token string
		want  error
	}{
		{"old link, old ring", before, oldToken, nil},
		{"old link, rotated ring", during, oldToken, nil},
		{"new link, rotated ring", during, newToken, nil},
		{"new link, old ring", before, newToken, ErrLinkInvalid},
		{"old link, old key dropped", after, oldToken, ErrLinkInvalid},
		{"new link, old key dropped", after, newToken, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := parseLink(tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.links.verify(p, c, now); !errors.Is(err, tc.want) {
				t.Errorf("verify = %v, want %v", err, tc.want)
			}
		})
	}
	link, err := during.Reconnect(c)
	if err != nil || !strings.HasPrefix(link, "https://tk.example/v1/connect/acme?link=v1.lnk_") {
		t.Errorf("Reconnect = %q, %v", link, err)
	}
}

// TestLinkBinding: a link verifies only for its connection's provider and
// user, and only before its expiry.
func TestLinkBinding(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l, err := NewLinks(LinkOptions{Keys: newRing(t, genKey(t)).DeriveAll(LinkKeyPurpose)})
	if err != nil {
		t.Fatal(err)
	}
	c := &tokenkeeper.Connection{ID: "conn_a", UserID: "u1", Provider: "acme"}
	p, err := parseLink(l.Token(c, now.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    tokenkeeper.Connection
		at   time.Time
		want error
	}{
		{"valid", *c, now, nil},
		{"another user", tokenkeeper.Connection{ID: "conn_a", UserID: "u2", Provider: "acme"}, now, ErrLinkInvalid},
		{"another provider", tokenkeeper.Connection{ID: "conn_a", UserID: "u1", Provider: "globex"}, now, ErrLinkInvalid},
		{"at expiry", *c, now.Add(time.Minute), ErrLinkExpired},
		{"after expiry", *c, now.Add(time.Hour), ErrLinkExpired},
	}
	for _, tc := range tests {
		if err := l.verify(p, &tc.c, tc.at); !errors.Is(err, tc.want) {
			t.Errorf("%s: verify = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := l.Reconnect(c); err == nil {
		t.Error("Reconnect without a public URL succeeded")
	}
	if _, err := NewLinks(LinkOptions{}); err == nil {
		t.Error("NewLinks without a key succeeded")
	}
}

func FuzzParseLink(f *testing.F) {
	l, _ := NewLinks(LinkOptions{Keys: [][]byte{[]byte("0123456789abcdef0123456789abcdef")}})
	f.Add(l.Token(&tokenkeeper.Connection{ID: "conn_a", UserID: "u", Provider: "acme"}, time.Unix(1<<31, 0)))
	f.Add("v1.a.b.1.")
	f.Add("v1....")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		p, err := parseLink(token)
		if err != nil {
			return
		}
		if !tokenkeeper.ValidID(p.linkID) || !tokenkeeper.ValidID(p.connectionID) || len(p.sig) != 32 {
			t.Errorf("parseLink accepted %q", token)
		}
		_ = l.verify(p, &tokenkeeper.Connection{ID: p.connectionID}, time.Unix(0, 0))
	})
}
