package refresh

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/tokenkeeper/tokenkeeper"
)

// ResealStats counts what a re-encryption pass did.
type ResealStats struct {
	Connections int // connections re-encrypted with the primary key
	Users       int // users' e-mail addresses re-encrypted
	States      int // PKCE verifiers of connect flows re-encrypted
	Revocations int // tokens queued for revocation at the provider re-encrypted
	// Busy counts the values skipped because another writer held or changed
	// them and they still need re-encryption: a connection under a refresh,
	// a revocation leased by the revocation worker. The next pass retries them.
	Busy   int
	Broken int // values that do not open with any key of the ring
}

// ResealRing is a key ring that can say which values it would seal
// differently now (*vault.Ring).
type ResealRing interface {
	tokenkeeper.Sealer
	// NeedsReseal reports whether a value is sealed with a key other than the primary.
	NeedsReseal(ciphertext []byte) bool
}

// Reseal re-encrypts, in batches, every stored sealed value that ring would
// seal with another key (a key rotation made a new key primary), while the
// service keeps running: connection tokens, users' e-mail addresses and,
// when the store is a tokenkeeper.ConnectStore, the PKCE verifiers of OAuth
// states and the tokens of pending revocations.
//
// Each connection is rewritten under its refresh lease, so a refresh in
// flight is never overwritten: such rows are skipped and counted in Busy,
// for a later pass. States and revocations are rewritten with a
// compare-and-set on the old ciphertext: a state consumed meanwhile keeps
// its consumption, a row that vanished (purged, revoked) is skipped, and a
// revocation that the worker holds (it may have read the old ciphertext) is
// counted in Busy. Every state is covered, used and expired ones included,
// so that what `keys retire` counts is exactly what Reseal re-encrypts.
func (r *Refresher) Reseal(ctx context.Context, ring ResealRing, batch int) (ResealStats, error) {
	var st ResealStats
	if err := r.resealConnections(ctx, ring, batch, &st); err != nil {
		return st, err
	}
	if err := r.resealUsers(ctx, ring, batch, &st); err != nil {
		return st, err
	}
	cs, ok := r.store.(tokenkeeper.ConnectStore)
	if !ok {
		return st, nil
	}
	if err := r.resealStates(ctx, cs, ring, batch, &st); err != nil {
		return st, err
	}
	return st, r.resealRevocations(ctx, cs, ring, batch, &st)
}

// resealConnections re-encrypts the connections' tokens, each under the
// connection's lease.
func (r *Refresher) resealConnections(ctx context.Context, ring ResealRing, batch int, st *ResealStats) error {
	needsReseal := ring.NeedsReseal
	f := tokenkeeper.ConnectionFilter{Limit: batch}
	for {
		page, next, err := r.store.ListConnections(ctx, f)
		if err != nil {
			return err
		}
		for _, c := range page {
			if !needsReseal(c.SealedAccessToken) && !needsReseal(c.SealedRefreshToken) {
				continue
			}
			switch err := r.resealConnection(ctx, c.ID, ring); {
			case err == nil:
				st.Connections++
			case errors.Is(err, tokenkeeper.ErrLeaseHeld):
				st.Busy++
			case errors.Is(err, errUnopenable):
				st.Broken++
			default:
				return err
			}
		}
		if next == "" {
			return nil
		}
		f.After = next
	}
}

// resealUsers re-encrypts the users' e-mail addresses.
func (r *Refresher) resealUsers(ctx context.Context, ring ResealRing, batch int, st *ResealStats) error {
	after := ""
	for {
		users, err := r.store.ListUsers(ctx, after, batch)
		if err != nil {
			return err
		}
		for _, u := range users {
			if len(u.SealedEmail) == 0 || !ring.NeedsReseal(u.SealedEmail) {
				continue
			}
			sealed, err := resealValue(ring, u.SealedEmail, tokenkeeper.AdditionalData(u.ID, tokenkeeper.FieldUserEmail))
			switch {
			case errors.Is(err, errUnopenable):
				st.Broken++
				continue
			case err != nil:
				return err
			}
			// A compare-and-set: an address or setting changed meanwhile
			// is kept (and a new address is sealed with the primary key).
			stored, err := r.store.ResealUserEmail(ctx, u.ID, u.SealedEmail, sealed, r.clock.Now())
			if err := st.record(&st.Users, ring, sealed, stored, err); err != nil {
				return err
			}
		}
		if len(users) < max(batch, 1) {
			return nil
		}
		after = users[len(users)-1].ID
	}
}

// resealStates re-encrypts the PKCE verifiers of the stored OAuth states.
func (r *Refresher) resealStates(ctx context.Context, cs tokenkeeper.ConnectStore, ring ResealRing, batch int, st *ResealStats) error {
	var after []byte
	for {
		states, err := cs.ListStates(ctx, after, batch)
		if err != nil {
			return err
		}
		for _, s := range states {
			old := s.SealedVerifier
			if !ring.NeedsReseal(old) {
				continue
			}
			sealed, err := resealValue(ring, old, tokenkeeper.AdditionalData(s.RowID(), tokenkeeper.FieldPKCEVerifier))
			switch {
			case errors.Is(err, errUnopenable):
				st.Broken++
				continue
			case err != nil:
				return err
			}
			stored, err := cs.ResealState(ctx, s.Hash, old, sealed)
			if err := st.record(&st.States, ring, sealed, stored, err); err != nil {
				return err
			}
		}
		if len(states) < max(batch, 1) {
			return nil
		}
		after = states[len(states)-1].Hash
	}
}

// resealRevocations re-encrypts the tokens of the pending revocations that
// no worker holds.
func (r *Refresher) resealRevocations(ctx context.Context, cs tokenkeeper.ConnectStore, ring ResealRing, batch int, st *ResealStats) error {
	after := ""
	for {
		revs, err := cs.ListRevocations(ctx, after, batch)
		if err != nil {
			return err
		}
		for _, p := range revs {
			old := p.SealedToken
			if !ring.NeedsReseal(old) {
				continue
			}
			sealed, err := resealValue(ring, old, tokenkeeper.AdditionalData(p.ID, tokenkeeper.FieldRevocationToken))
			switch {
			case errors.Is(err, errUnopenable):
				st.Broken++
				continue
			case err != nil:
				return err
			}
			stored, err := cs.ResealRevocation(ctx, p.ID, old, sealed, r.clock.Now())
			if err := st.record(&st.Revocations, ring, sealed, stored, err); err != nil {
				return err
			}
		}
		if len(revs) < max(batch, 1) {
			return nil
		}
		after = revs[len(revs)-1].ID
	}
}

// resealValue opens old and seals its plaintext again with ring's primary
// key; it fails with errUnopenable when no key of the ring opens old.
func resealValue(ring ResealRing, old, ad []byte) ([]byte, error) {
	plain, err := ring.Open(old, ad)
	if err != nil {
		return nil, errUnopenable
	}
	defer clear(plain)
	return ring.Seal(plain, ad)
}

// record counts the outcome of one compare-and-set rewrite: in done when it
// stored sealed, in Busy when another writer held or changed the row and
// the value stored still needs re-encryption, nowhere when the row is gone
// or another writer re-encrypted it already.
func (st *ResealStats) record(done *int, ring ResealRing, sealed, stored []byte, err error) error {
	switch {
	case errors.Is(err, tokenkeeper.ErrNotFound):
	case err != nil:
		return err
	case bytes.Equal(stored, sealed):
		*done++
	case ring.NeedsReseal(stored):
		st.Busy++
	}
	return nil
}

var errUnopenable = errors.New("sealed value does not open")

// resealConnection rewrites one connection's tokens with the primary key,
// holding its lease for the few milliseconds it takes.
func (r *Refresher) resealConnection(ctx context.Context, id string, ring ResealRing) error {
	now := r.clock.Now()
	c, err := r.store.AcquireLease(ctx, id, r.owner, now, now.Add(r.leaseTTL))
	if err != nil {
		return err
	}
	saved := false
	defer func() {
		if !saved {
			_ = r.store.ReleaseLease(context.WithoutCancel(ctx), id, r.owner)
		}
	}()
	n := c.Clone()
	for _, field := range []struct {
		name tokenkeeper.Field
		val  *[]byte
	}{{tokenkeeper.FieldAccessToken, &n.SealedAccessToken}, {tokenkeeper.FieldRefreshToken, &n.SealedRefreshToken}} {
		if len(*field.val) == 0 || !ring.NeedsReseal(*field.val) {
			continue
		}
		sealed, err := resealValue(ring, *field.val, tokenkeeper.AdditionalData(id, field.name))
		if err != nil {
			return fmt.Errorf("connection %s %s: %w", id, field.name, err)
		}
		*field.val = sealed
	}
	n.UpdatedAt = now
	if err := r.store.SaveConnection(ctx, tokenkeeper.Write{Connection: n, LeaseOwner: r.owner}); err != nil {
		return err
	}
	saved = true
	return nil
}
