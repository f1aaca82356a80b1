package refresh

import (
	"context"
	"errors"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// leaseFor returns the connection under this owner's refresh lease, for
// req. A connection the scheduler claimed is leased already: reading it
// confirms that the lease is still this owner's with nearly all its time
// left (the claim was a moment ago), which spares the write transaction of
// taking it again (a refresh in this process between the claim and now, by
// a read, would have released it with its save: then it is taken again).
// Otherwise, and for every other request, it takes the lease.
//
// A connection whose interrupted refresh this process could not mark in
// the store (r.unstored) is marked now, under the lease.
func (r *Refresher) leaseFor(ctx context.Context, id string, req request) (*tokenkeeper.Connection, error) {
	var c *tokenkeeper.Connection
	if req.claimed {
		got, err := r.store.GetConnection(ctx, id)
		if err == nil && got.LeaseOwner == r.owner && got.LeaseUntil.Sub(r.clock.Now()) >= r.leaseTTL*9/10 {
			c = got
		}
	}
	if c == nil {
		var err error
		if c, err = r.lease(ctx, id); err != nil {
			return nil, err
		}
	}
	if _, ok := r.unstored.Load(id); ok {
		c.RefreshInterrupted = true
		if err := r.store.MarkRefreshInterrupted(ctx, id, r.owner); err == nil {
			r.unstored.Delete(id)
		}
	}
	return c, nil
}

// lease takes the connection's refresh lease, waiting while another owner
// (another replica) holds it, up to LeaseWait. Waiting uses real time: it is
// a pause between database reads, not part of the refresh policy.
func (r *Refresher) lease(ctx context.Context, id string) (*tokenkeeper.Connection, error) {
	deadline := time.Now().Add(r.leaseWait)
	for {
		now := r.clock.Now()
		c, err := r.store.AcquireLease(ctx, id, r.owner, now, now.Add(r.leaseTTL))
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, tokenkeeper.ErrLeaseHeld) {
			if errors.Is(err, tokenkeeper.ErrNotFound) {
				return nil, &tokenkeeper.Error{Code: tokenkeeper.CodeAccountNotFound, Message: "no connection " + id, ConnectionID: id}
			}
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, &tokenkeeper.Error{Code: tokenkeeper.CodeTokenRefreshError, Message: "another refresh of this connection is still running", RetryAfter: time.Second, ConnectionID: id}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(r.leasePoll):
		}
	}
}

// open decrypts a connection's tokens. When a ciphertext does not open, it
// returns the connection marked broken (status error, reason undecryptable)
// and its events, for the caller to save. When it names a key this process
// does not hold (a replica started before a key rotation reached it), the row
// is not damaged: open returns an error and no broken connection.
func (r *Refresher) open(c *tokenkeeper.Connection, now time.Time) (access, refresh tokenkeeper.Secret, broken *tokenkeeper.Connection, events []tokenkeeper.Event, err error) {
	if access, err = r.openField(c.ID, tokenkeeper.FieldAccessToken, c.SealedAccessToken); err == nil {
		refresh, err = r.openField(c.ID, tokenkeeper.FieldRefreshToken, c.SealedRefreshToken)
	}
	if errors.Is(err, tokenkeeper.ErrUnknownKey) {
		r.log.Error("a stored token is sealed with a key missing from this process's key ring", "connection_id", c.ID, "err", err)
		return "", "", nil, nil, &tokenkeeper.Error{Code: tokenkeeper.CodeTokenRefreshError, Message: "this replica's key ring lacks the key of the stored tokens", RetryAfter: time.Minute, ConnectionID: c.ID, Err: err}
	}
	if err != nil {
		r.log.Error("stored token cannot be decrypted", "connection_id", c.ID, "provider", c.Provider, "err", err)
		broken, events = r.policy.Broken(c, "undecryptable", "a stored token cannot be decrypted with the configured keys", now)
		return "", "", broken, events, nil
	}
	return access, refresh, nil, nil, nil
}

func (r *Refresher) openField(id string, f tokenkeeper.Field, sealed []byte) (tokenkeeper.Secret, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	p, err := r.sealer.Open(sealed, tokenkeeper.AdditionalData(id, f))
	if err != nil {
		return "", err
	}
	return tokenkeeper.Secret(p), nil
}

// sealTokens stores t's secrets in n, sealed and bound to n's id.
func (r *Refresher) sealTokens(n *tokenkeeper.Connection, t *tokenkeeper.Token) error {
	at, err := r.sealField(n.ID, tokenkeeper.FieldAccessToken, t.AccessToken)
	if err != nil {
		return err
	}
	rt, err := r.sealField(n.ID, tokenkeeper.FieldRefreshToken, t.RefreshToken)
	if err != nil {
		return err
	}
	n.SealedAccessToken, n.SealedRefreshToken = at, rt
	return nil
}

func (r *Refresher) sealField(id string, f tokenkeeper.Field, s tokenkeeper.Secret) ([]byte, error) {
	if s.IsZero() {
		return nil, nil
	}
	return r.sealer.Seal([]byte(s.Reveal()), tokenkeeper.AdditionalData(id, f))
}
