package main

import (
	"context"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

func keysCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage encryption keys: generate, rotate, retire, status"}
	gen := &cobra.Command{
		Use:   "generate",
		Short: "Print a new random encryption key (ID:BASE64)",
		Long: `Print a new random AES-256 key as ID:BASE64, for TOKENKEEPER_ENCRYPTION_KEYS.
See "tokenkeeper keys rotate --help" for how to rotate keys given that way.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := vault.GenerateKey()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.stdout, k.Encode())
			return err
		},
	}
	var batch int
	var reencryptOnly bool
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new key primary and re-encrypt every stored value with it, while serving",
		Long: `With a key file (no TOKENKEEPER_ENCRYPTION_KEYS): generate a new key, write it
first in the key file (the old keys stay, for decryption), then re-encrypt
every stored value in batches: connection tokens, e-mail addresses, the PKCE
verifiers of connect flows and the tokens queued for revocation at a
provider. Running serve processes on this machine follow the key file by
themselves. Run it again if it reports values that were busy; then "keys
retire OLD_ID" removes the old key.

With TOKENKEEPER_ENCRYPTION_KEYS: rotation is a deployment. 1) "keys generate",
add the new key SECOND in every replica's keys and roll them out (so all can
decrypt it); 2) move it FIRST and roll out again (now all encrypt with it);
3) run "keys rotate" to re-encrypt the existing rows; 4) "keys retire OLD_ID"
checks that nothing uses the old key, then remove it from the variable.

A value that a refresh or the revocation worker holds at that moment is
counted as busy and left for the next run; "keys status" shows what each key
still seals.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openApp(cmd, e, openOptions{migrate: true, keeper: true})
			if err != nil {
				return err
			}
			defer a.Close()
			ring := a.ring
			if _, fileMode := a.sealer.(*vault.FileRing); fileMode && !reencryptOnly {
				k, err := vault.GenerateKey()
				if err != nil {
					return err
				}
				if ring, err = vault.NewRing(append([]vault.Key{k}, a.ring.Keys()...)...); err != nil {
					return err
				}
				if err := vault.WriteKeyFile(a.cfg.keyFilePath(), ring); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "added key %s as the primary key in %s\n", k.ID, a.cfg.keyFilePath())
			}
			st, err := a.keeper.Reseal(cmd.Context(), ring, batch)
			if err != nil {
				return fmt.Errorf("re-encrypt: %w", err)
			}
			fmt.Fprintf(e.stdout, "re-encrypted %d connection(s), %d e-mail address(es), %d connect flow verifier(s) and %d queued revocation(s) with key %s; %d busy (run again), %d unreadable\n",
				st.Connections, st.Users, st.States, st.Revocations, ring.PrimaryID(), st.Busy, st.Broken)
			return printKeyUse(cmd.Context(), e, a, ring)
		},
	}
	rotate.Flags().IntVar(&batch, "batch", 100, "rows re-encrypted per batch")
	rotate.Flags().BoolVar(&reencryptOnly, "reencrypt-only", false, "add no key: re-encrypt what the current primary key does not seal yet (after a run that found busy rows)")

	retire := &cobra.Command{
		Use:   "retire ID",
		Short: "Remove a key that no stored value uses any more",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := openApp(cmd, e, openOptions{migrate: true, keeper: true})
			if err != nil {
				return err
			}
			defer a.Close()
			id := args[0]
			if id == a.ring.PrimaryID() {
				return fmt.Errorf("key %s is the primary key; rotate first", id)
			}
			use, err := keyUse(cmd.Context(), a)
			if err != nil {
				return err
			}
			if n := use.get(id); n.total() > 0 {
				return fmt.Errorf("%d stored value(s) are still sealed with key %s (%s): run tokenkeeper keys rotate first", n.total(), id, n)
			}
			var kept []vault.Key
			for _, k := range a.ring.Keys() {
				if k.ID != id {
					kept = append(kept, k)
				}
			}
			if len(kept) == len(a.ring.Keys()) {
				return fmt.Errorf("no key %s in the key ring", id)
			}
			if _, fileMode := a.sealer.(*vault.FileRing); !fileMode {
				_, err := fmt.Fprintf(e.stdout, "no stored value uses key %s: remove it from TOKENKEEPER_ENCRYPTION_KEYS\n", id)
				return err
			}
			ring, err := vault.NewRing(kept...)
			if err != nil {
				return err
			}
			if err := vault.WriteKeyFile(a.cfg.keyFilePath(), ring); err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "removed key %s from %s\n", id, a.cfg.keyFilePath())
			return err
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the keys and how many stored values each one seals",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openApp(cmd, e, openOptions{migrate: true, keeper: true})
			if err != nil {
				return err
			}
			defer a.Close()
			return printKeyUse(cmd.Context(), e, a, a.ring)
		},
	}
	cmd.AddCommand(gen, rotate, retire, status)
	return cmd
}

// keyCount is the number of stored values of each kind sealed with one key.
type keyCount struct {
	tokens      int // connections' access and refresh tokens
	emails      int // users' e-mail addresses
	verifiers   int // PKCE verifiers of OAuth states
	revocations int // tokens queued for revocation at a provider
}

func (n keyCount) total() int { return n.tokens + n.emails + n.verifiers + n.revocations }

func (n keyCount) String() string {
	return fmt.Sprintf("%d connection token(s), %d e-mail address(es), %d connect flow verifier(s), %d queued revocation(s)",
		n.tokens, n.emails, n.verifiers, n.revocations)
}

// keyUse counts the stored values sealed with each key id: every value that
// the refresher's Reseal re-encrypts (states used or expired included), so
// that retire refuses exactly while rotate has work left.
func keyUse(ctx context.Context, a *app) (keyUses, error) {
	use := keyUses{}
	f := tokenkeeper.ConnectionFilter{Limit: keyUsePage}
	for {
		page, next, err := a.store.ListConnections(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			use.of(c.SealedAccessToken).tokens++
			use.of(c.SealedRefreshToken).tokens++
		}
		if next == "" {
			break
		}
		f.After = next
	}
	for after := ""; ; {
		users, err := a.store.ListUsers(ctx, after, keyUsePage)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			use.of(u.SealedEmail).emails++
		}
		if len(users) < keyUsePage {
			break
		}
		after = users[len(users)-1].ID
	}
	cs, ok := a.store.(tokenkeeper.ConnectStore)
	if !ok {
		return use, nil
	}
	for after := []byte(nil); ; {
		states, err := cs.ListStates(ctx, after, keyUsePage)
		if err != nil {
			return nil, err
		}
		for _, st := range states {
			use.of(st.SealedVerifier).verifiers++
		}
		if len(states) < keyUsePage {
			break
		}
		after = states[len(states)-1].Hash
	}
	for after := ""; ; {
		revs, err := cs.ListRevocations(ctx, after, keyUsePage)
		if err != nil {
			return nil, err
		}
		for _, r := range revs {
			use.of(r.SealedToken).revocations++
		}
		if len(revs) < keyUsePage {
			return use, nil
		}
		after = revs[len(revs)-1].ID
	}
}

// keyUsePage is how many rows keyUse reads at a time.
const keyUsePage = 1000

// keyUses holds the counts of each key id that seals a stored value.
type keyUses map[string]*keyCount

// of returns the counts of the key that sealed b ("(unreadable)" when its
// header is not readable); an absent value (empty b) counts nowhere.
func (u keyUses) of(b []byte) *keyCount {
	if len(b) == 0 {
		return new(keyCount)
	}
	id, err := vault.KeyIDOf(b)
	if err != nil {
		id = "(unreadable)"
	}
	if u[id] == nil {
		u[id] = new(keyCount)
	}
	return u[id]
}

// get returns the counts of key id, zero when it seals nothing.
func (u keyUses) get(id string) keyCount {
	if n := u[id]; n != nil {
		return *n
	}
	return keyCount{}
}

func printKeyUse(ctx context.Context, e *env, a *app, ring *vault.Ring) error {
	use, err := keyUse(ctx, a)
	if err != nil {
		return err
	}
	ids := ring.KeyIDs()
	for id := range use {
		if !contains(ids, id) {
			ids = append(ids, id)
		}
	}
	sort.SliceStable(ids[1:], func(i, j int) bool { return ids[1+i] < ids[1+j] })
	for i, id := range ids {
		role := "decrypts"
		switch {
		case i == 0:
			role = "primary"
		case !contains(ring.KeyIDs(), id):
			role = "MISSING from the key ring"
		}
		n := use.get(id)
		fmt.Fprintf(e.stdout, "%s\t%s\t%d value(s): %s\n", id, role, n.total(), n)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
