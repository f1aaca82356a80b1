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
every token and e-mail address in batches. Running serve processes on this
machine follow the key file by themselves. Run it again if it reports rows
that were busy; then "keys retire OLD_ID" removes the old key.

With TOKENKEEPER_ENCRYPTION_KEYS: rotation is a deployment. 1) "keys generate",
add the new key SECOND in every replica's keys and roll them out (so all can
decrypt it); 2) move it FIRST and roll out again (now all encrypt with it);
3) run "keys rotate" to re-encrypt the existing rows; 4) "keys retire OLD_ID"
checks that nothing uses the old key, then remove it from the variable.`,
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
			fmt.Fprintf(e.stdout, "re-encrypted %d connection(s) and %d e-mail address(es) with key %s; %d busy (run again), %d unreadable\n",
				st.Connections, st.Users, ring.PrimaryID(), st.Busy, st.Broken)
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
			if n := use[id]; n > 0 {
				return fmt.Errorf("%d stored value(s) are still sealed with key %s: run tokenkeeper keys rotate first", n, id)
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

// keyUse counts the stored values sealed with each key id.
func keyUse(ctx context.Context, a *app) (map[string]int, error) {
	use := map[string]int{}
	count := func(b []byte) {
		if len(b) == 0 {
			return
		}
		id, err := vault.KeyIDOf(b)
		if err != nil {
			id = "(unreadable)"
		}
		use[id]++
	}
	f := tokenkeeper.ConnectionFilter{Limit: 1000}
	for {
		page, next, err := a.store.ListConnections(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			count(c.SealedAccessToken)
			count(c.SealedRefreshToken)
		}
		if next == "" {
			break
		}
		f.After = next
	}
	after := ""
	for {
		users, err := a.store.ListUsers(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			count(u.SealedEmail)
		}
		if len(users) < 1000 {
			return use, nil
		}
		after = users[len(users)-1].ID
	}
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
		fmt.Fprintf(e.stdout, "%s\t%s\t%d value(s)\n", id, role, use[id])
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
