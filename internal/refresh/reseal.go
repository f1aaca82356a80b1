package refresh

import (
	"context"
	"errors"
	"fmt"

	"github.com/tokenkeeper/tokenkeeper"
)

// ResealStats counts what a re-encryption pass did.
type ResealStats struct {
	Connections int // connections re-encrypted with the primary key
	Users       int // users' e-mail addresses re-encrypted
	Busy        int // connections skipped because a refresh held them (retried by the next pass)
	Broken      int // values that do not open with any key of the ring
}

// ResealRing is a key ring that can say which values it would seal
// differently now (*vault.Ring).
type ResealRing interface {
	tokenkeeper.Sealer
	// NeedsReseal reports whether a value is sealed with a key other than the primary.
	NeedsReseal(ciphertext []byte) bool
}

// Reseal re-encrypts, in batches, every connection token and user e-mail that
// ring would seal with another key (a key rotation made a new key primary),
// while the service keeps running. Each connection is rewritten under its
// refresh lease, so a refresh in flight is never overwritten: such rows are
// skipped and counted in Busy, for a later pass.
func (r *Refresher) Reseal(ctx context.Context, ring ResealRing, batch int) (ResealStats, error) {
	var st ResealStats
	needsReseal := ring.NeedsReseal
	f := tokenkeeper.ConnectionFilter{Limit: batch}
	for {
		page, next, err := r.store.ListConnections(ctx, f)
		if err != nil {
			return st, err
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
				return st, err
			}
		}
		if next == "" {
			break
		}
		f.After = next
	}
	after := ""
	for {
		users, err := r.store.ListUsers(ctx, after, batch)
		if err != nil {
			return st, err
		}
		for _, u := range users {
			if len(u.SealedEmail) == 0 || !needsReseal(u.SealedEmail) {
				continue
			}
			ad := tokenkeeper.AdditionalData(u.ID, tokenkeeper.FieldUserEmail)
			plain, err := ring.Open(u.SealedEmail, ad)
			if err != nil {
				st.Broken++
				continue
			}
			if u.SealedEmail, err = ring.Seal(plain, ad); err != nil {
				return st, err
			}
			u.UpdatedAt = r.clock.Now()
			if err := r.store.PutUser(ctx, u); err != nil {
				return st, err
			}
			st.Users++
		}
		if len(users) < max(batch, 1) {
			return st, nil
		}
		after = users[len(users)-1].ID
	}
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
		ad := tokenkeeper.AdditionalData(id, field.name)
		plain, err := ring.Open(*field.val, ad)
		if err != nil {
			return fmt.Errorf("connection %s %s: %w", id, field.name, errUnopenable)
		}
		if *field.val, err = ring.Seal(plain, ad); err != nil {
			return err
		}
	}
	n.UpdatedAt = now
	if err := r.store.SaveConnection(ctx, tokenkeeper.Write{Connection: n, LeaseOwner: r.owner}); err != nil {
		return err
	}
	saved = true
	return nil
}
