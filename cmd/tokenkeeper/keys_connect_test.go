package main

import (
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// TestKeyRotationCoversConnectFlows: the PKCE verifier of a connect flow in
// progress and a token queued for revocation, both sealed with the old key,
// keep that key in use (status counts them, retire refuses) until `keys
// rotate` re-encrypts them; then the old keys are retired, and the user's
// callback still completes (the provider checks the verifier) and the
// queued token still opens, with the new key alone.
func TestKeyRotationCoversConnectFlows(t *testing.T) {
	t.Parallel()
	as := oidctest.Start(t, oidctest.Options{AnyLoopbackPort: true})
	const cid = oidctest.StaticPost
	env := newTestEnv(t, map[string]*tokenkeeper.Provider{"oidc": as.Provider("oidc", cid)})
	env.vars["TOKENKEEPER_RETURN_URLS"] = connectReturn
	key := env.apiKey("tokens:read,connections:write")
	base := env.serve()
	p := openPeek(t, env)
	tk, err := client.New(base, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	oldKey := p.ring.PrimaryID()

	// A user is at the provider's consent page: the state and its sealed
	// verifier wait for the callback.
	start, err := tk.ConnectURL(ctx, "oidc", client.ConnectOptions{UserID: "u1", ReturnURL: connectReturn})
	if err != nil {
		t.Fatal(err)
	}
	cb := as.Authorize(t, start.AuthorizationURL)
	states, err := p.store.ListStates(ctx, nil, 10)
	if err != nil || len(states) != 1 || len(states[0].SealedVerifier) == 0 {
		t.Fatalf("stored states: %d, %v", len(states), err)
	}
	state := states[0]
	// A token whose revocation at the provider is to be retried later.
	const queued = "refresh-token-owed-a-revocation"
	rev := &tokenkeeper.PendingRevocation{ID: tokenkeeper.NewID("rev_"), ConnectionID: "conn_gone", Provider: "oidc",
		TokenTypeHint: "refresh_token", Attempts: 1, LastCode: "timeout", CreatedAt: time.Now(), NextAttemptAt: time.Now().Add(time.Hour)}
	if rev.SealedToken, err = p.ring.Seal([]byte(queued), tokenkeeper.AdditionalData(rev.ID, tokenkeeper.FieldRevocationToken)); err != nil {
		t.Fatal(err)
	}
	if err := p.store.EnqueueRevocation(ctx, rev); err != nil {
		t.Fatal(err)
	}

	// A key made primary by hand: the old one still seals both values.
	added, _ := vault.GenerateKey()
	ring, _ := vault.NewRing(append([]vault.Key{added}, p.ring.Keys()...)...)
	if err := vault.WriteKeyFile(filepath.Join(env.dir, "tokenkeeper.key"), ring); err != nil {
		t.Fatal(err)
	}
	status, err := env.run("", "keys", "status")
	if err != nil || !keyStatusLine(oldKey, `2 value\(s\): 0 connection token\(s\), 0 e-mail address\(es\), 1 connect flow verifier\(s\), 1 queued revocation\(s\)`).MatchString(status) {
		t.Fatalf("keys status before the rotation: %v\n%s", err, status)
	}
	if out, err := env.run("", "keys", "retire", oldKey); err == nil || !strings.Contains(err.Error(), "1 connect flow verifier(s), 1 queued revocation(s)") {
		t.Fatalf("retire of the key sealing the verifier and the queued token: %v\n%s", err, out)
	}

	out, err := env.run("", "keys", "rotate")
	if err != nil || !strings.Contains(out, "1 connect flow verifier(s) and 1 queued revocation(s)") || !strings.Contains(out, " 0 busy") || !strings.Contains(out, " 0 unreadable") {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	t.Log(out)
	status, err = env.run("", "keys", "status")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{oldKey, added.ID} {
		if !keyStatusLine(id, `0 value\(s\)`).MatchString(status) {
			t.Fatalf("after the rotation key %s still seals values:\n%s", id, status)
		}
	}
	for _, id := range []string{oldKey, added.ID} {
		if out, err := env.run("", "keys", "retire", id); err != nil {
			t.Fatalf("keys retire %s: %v\n%s", id, err, out)
		}
	}
	ids := readKeyIDs(t, env)
	if len(ids) != 1 || ids[0] == oldKey || ids[0] == added.ID {
		t.Fatalf("the key file holds %v, want the rotation's new key alone", ids)
	}
	retired, _, err := vault.LoadOrCreateKeyFile(filepath.Join(env.dir, "tokenkeeper.key"))
	if err != nil {
		t.Fatal(err)
	}

	// The queued token opens with the new key alone.
	revs, err := p.store.ListRevocations(ctx, "", 10)
	if err != nil || len(revs) != 1 {
		t.Fatalf("pending revocations: %d, %v", len(revs), err)
	}
	tok, err := retired.Open(revs[0].SealedToken, tokenkeeper.AdditionalData(rev.ID, tokenkeeper.FieldRevocationToken))
	if err != nil || string(tok) != queued {
		t.Fatalf("the queued token does not open with the new key: %v", err)
	}
	// So does the verifier, and the user's callback completes.
	states, err = p.store.ListStates(ctx, nil, 10)
	if err != nil || len(states) != 1 {
		t.Fatalf("stored states after the rotation: %d, %v", len(states), err)
	}
	if _, err := retired.Open(states[0].SealedVerifier, tokenkeeper.AdditionalData(state.RowID(), tokenkeeper.FieldPKCEVerifier)); err != nil {
		t.Fatalf("the verifier does not open with the new key: %v", err)
	}
	status2, loc, body := browserGet(t, cb.String())
	back, _ := url.Parse(loc)
	if status2 != http.StatusFound || back == nil || back.Query().Get("status") != "connected" {
		t.Fatalf("callback after the rotation: %d to %q\n%s", status2, loc, body)
	}
	conn, err := tk.Get(ctx, back.Query().Get("connection_id"))
	if err != nil || conn.Status != "connected" || conn.UserID != "u1" {
		t.Fatalf("connection after the callback: %+v, %v", conn, err)
	}
}

// keyStatusLine matches the line of `keys status` for key id whose count
// part starts with the regular expression count.
func keyStatusLine(id, count string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(id) + `\t[^\t]+\t` + count)
}
