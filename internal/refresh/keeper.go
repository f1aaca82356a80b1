package refresh

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// Link stores a connection's tokens (tokenkeeper.Keeper). A link of an
// existing (user, provider, account) re-links it: status connected, counters
// reset, new tokens.
func (r *Refresher) Link(ctx context.Context, req tokenkeeper.LinkRequest) (*tokenkeeper.Connection, bool, error) {
	prov, ok := r.catalog.Provider(req.Provider)
	if !ok {
		return nil, false, tokenkeeper.Errorf(tokenkeeper.CodeProviderUnknown, "unknown provider %q", req.Provider)
	}
	if err := validateLink(req); err != nil {
		return nil, false, err
	}
	// Times are stored to the millisecond: answer with what is stored.
	now := r.clock.Now().UTC().Truncate(time.Millisecond)
	tok := &tokenkeeper.Token{
		AccessToken: req.AccessToken, RefreshToken: req.RefreshToken,
		ExpiresAt:             req.ExpiresAt.UTC().Truncate(time.Millisecond),
		RefreshTokenExpiresAt: req.RefreshTokenExpiresAt.UTC().Truncate(time.Millisecond),
		Lifetime:              req.ExpiresIn, Scopes: req.Scopes,
	}
	if tok.ExpiresAt.IsZero() && req.ExpiresIn > 0 {
		tok.ExpiresAt = now.Add(req.ExpiresIn)
	}
	if err := r.putUser(ctx, req.UserID, req.UserEmail, now); err != nil {
		return nil, false, err
	}
	for range 3 {
		existing, err := r.store.FindConnection(ctx, req.UserID, req.Provider, req.AccountID)
		if err != nil && !errors.Is(err, tokenkeeper.ErrNotFound) {
			return nil, false, err
		}
		if existing != nil && existing.AccountID != req.AccountID {
			existing = nil // FindConnection matched another account of the user
		}
		base := existing
		if base == nil {
			base = &tokenkeeper.Connection{ID: tokenkeeper.NewID("conn_"), UserID: req.UserID, Provider: req.Provider, AccountID: req.AccountID}
		}
		n, events := r.policy.Link(base, prov, tok, now, r.rand())
		if err := r.sealTokens(n, tok); err != nil {
			return nil, false, err
		}
		if existing == nil {
			err = r.store.CreateConnection(ctx, n, events)
			if errors.Is(err, tokenkeeper.ErrDuplicate) {
				continue // linked concurrently: re-link the row that won
			}
		} else {
			err = r.store.SaveConnection(ctx, tokenkeeper.Write{Connection: n, Events: events})
			if errors.Is(err, tokenkeeper.ErrVersionConflict) {
				continue
			}
		}
		if err != nil {
			return nil, false, err
		}
		r.unstored.Delete(n.ID) // a new grant: an earlier refresh's fate no longer matters
		r.onSchedule(n.NextRefreshAt)
		return n, existing == nil, nil
	}
	return nil, false, tokenkeeper.Errorf(tokenkeeper.CodeConflict, "the connection is being changed concurrently; try again")
}

func validateLink(req tokenkeeper.LinkRequest) error {
	switch {
	case !tokenkeeper.ValidID(req.UserID):
		return tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "user_id is required: 1-200 letters, digits or -_.:@+")
	case req.AccountID != "" && !tokenkeeper.ValidID(req.AccountID):
		return tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "account_id may contain only letters, digits or -_.:@+ (at most 200)")
	case req.AccessToken.IsZero():
		return tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "access_token is required")
	case req.ExpiresIn < 0:
		return tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "expires_in must not be negative")
	case len(req.AccessToken) > 16<<10 || len(req.RefreshToken) > 16<<10:
		return tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "tokens longer than 16 KiB are not accepted")
	case req.UserEmail != "" && (len(req.UserEmail) > 320 || !strings.Contains(req.UserEmail, "@") || strings.ContainsAny(req.UserEmail, "\r\n <>")):
		return tokenkeeper.Errorf(tokenkeeper.CodeInvalidRequest, "user_email is not an e-mail address")
	}
	return nil
}

// putUser stores the user's e-mail address sealed, keeping their preferences.
func (r *Refresher) putUser(ctx context.Context, userID, email string, now time.Time) error {
	if email == "" {
		return nil
	}
	u, err := r.store.GetUser(ctx, userID)
	if errors.Is(err, tokenkeeper.ErrNotFound) {
		u, err = &tokenkeeper.User{ID: userID, EmailEnabled: true}, nil
	}
	if err != nil {
		return err
	}
	sealed, err := r.sealer.Seal([]byte(email), tokenkeeper.AdditionalData(userID, tokenkeeper.FieldUserEmail))
	if err != nil {
		return err
	}
	u.SealedEmail, u.UpdatedAt = sealed, now
	return r.store.PutUser(ctx, u)
}

// AccessToken returns a valid access token (tokenkeeper.Keeper), refreshing
// first when the token expires within the read threshold or minValidity.
// When that refresh fails transiently but the current token has not expired,
// the current token is returned: the caller can still use it.
func (r *Refresher) AccessToken(ctx context.Context, id string, minValidity time.Duration) (*tokenkeeper.Token, *tokenkeeper.Connection, error) {
	c, err := r.store.GetConnection(ctx, id)
	if err != nil {
		if errors.Is(err, tokenkeeper.ErrNotFound) {
			return nil, nil, &tokenkeeper.Error{Code: tokenkeeper.CodeAccountNotFound, Message: "no connection " + id, ConnectionID: id}
		}
		return nil, nil, err
	}
	if err := r.refusal(c, request{trigger: tokenkeeper.TriggerRead}); err != nil {
		return nil, c, err
	}
	prov, _ := r.catalog.Provider(c.Provider)
	now := r.clock.Now()
	if r.policy.NeedsRefreshOnRead(c, prov, now, minValidity) {
		res, err := r.shared(ctx, id, request{trigger: tokenkeeper.TriggerRead, minValidity: minValidity})
		if res.conn != nil {
			c = res.conn
		}
		if res.token != nil && err == nil {
			return r.view(c, res.token), c, nil
		}
		now = r.clock.Now()
		if err != nil && (c.Status != tokenkeeper.StatusConnected || !c.ExpiresAt.After(now) || c.SealedAccessToken == nil) {
			return nil, c, err
		}
		if err != nil {
			r.log.Debug("serving the current token after a failed refresh", "connection_id", id, "err", err)
		}
	}
	access, err := r.openField(c.ID, tokenkeeper.FieldAccessToken, c.SealedAccessToken)
	if err != nil || access.IsZero() {
		return nil, c, &tokenkeeper.Error{Code: tokenkeeper.CodeTokenRefreshError, Message: "the stored access token cannot be decrypted", ConnectionID: id}
	}
	return r.view(c, &tokenkeeper.Token{AccessToken: access}), c, nil
}

// view completes a token for a caller from the connection's metadata; the
// refresh token never leaves tokenkeeper.
func (r *Refresher) view(c *tokenkeeper.Connection, t *tokenkeeper.Token) *tokenkeeper.Token {
	typ := t.TokenType
	if typ == "" {
		typ = "Bearer"
	}
	return &tokenkeeper.Token{AccessToken: t.AccessToken, TokenType: typ, ExpiresAt: c.ExpiresAt, Lifetime: c.Lifetime, Scopes: c.Scopes}
}

// Disconnect revokes the connection's tokens at the provider where it can
// (RFC 7009), erases them and marks the connection disconnected. A failed
// revocation is recorded in the history; a transient one is also queued,
// in the same write, for the retry worker (internal/connect) when the store
// is a tokenkeeper.ConnectStore. The connection is disconnected locally all
// the same.
func (r *Refresher) Disconnect(ctx context.Context, id string) (*tokenkeeper.Connection, error) {
	c, err := r.lease(ctx, id)
	if err != nil {
		return nil, err
	}
	saved := false
	defer func() {
		if !saved {
			_ = r.store.ReleaseLease(context.WithoutCancel(ctx), id, r.owner)
		}
	}()
	if c.Status == tokenkeeper.StatusDisconnected {
		return c, nil
	}
	now := r.clock.Now()
	var attempts []tokenkeeper.RefreshAttempt
	var owed *tokenkeeper.PendingRevocation // a transient failure is retried later (see revoke.go)
	if prov, ok := r.catalog.Provider(c.Provider); ok && prov.RevokeURL != "" {
		access, refreshTok, broken, _, err := r.open(c, now)
		if broken == nil && err == nil {
			tok, hint := refreshTok, "refresh_token"
			if tok.IsZero() {
				tok, hint = access, "access_token"
			}
			start := time.Now()
			o := r.client.Revoke(ctx, prov, tok, hint)
			attempts = append(attempts, tokenkeeper.RefreshAttempt{
				ConnectionID: id, At: r.clock.Now(), Trigger: "revoke", Class: o.Class, Code: o.Code,
				HTTPStatus: o.HTTPStatus, Duration: time.Since(start),
			})
			if o.Class != tokenkeeper.ClassSuccess {
				r.log.Warn("revocation at the provider failed", "connection_id", id, "provider", c.Provider, "class", o.Class, "code", o.Code)
			}
			if o.Class == tokenkeeper.ClassTransient {
				owed = r.owedRevocation(c, tok, hint, o, now)
			}
		}
	}
	n, events := r.policy.Disconnect(c, r.clock.Now())
	if saved, err = r.saveDisconnect(ctx, n, attempts, events, owed); err != nil {
		return nil, err
	}
	return n, nil
}
