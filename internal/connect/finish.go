package connect

import (
	"context"
	"log/slog"

	"github.com/tokenkeeper/tokenkeeper"
)

// account returns the account id to link the new token under. A provider
// with an account URL is asked who the token belongs to; otherwise the
// application's hint is used. A reconnect keeps its connection's account id
// (so that the same connection is re-linked) and refuses a token of another
// account.
func (h *Handler) account(ctx context.Context, p *tokenkeeper.Provider, tok *tokenkeeper.Token, st *tokenkeeper.OAuthState, existing *tokenkeeper.Connection) (string, page) {
	var fetched string
	if p.AccountURL != "" {
		id, o := h.o.Client.Account(ctx, p, tok.AccessToken)
		if o.Class != tokenkeeper.ClassSuccess || !tokenkeeper.ValidID(id) {
			h.log.LogAttrs(ctx, slog.LevelWarn, "account lookup failed", slog.String("provider", p.Name),
				slog.String("class", string(o.Class)), slog.String("code", o.Code), slog.Int("http_status", o.HTTPStatus))
			return "", pageAccountLookup
		}
		fetched = id
	}
	switch {
	case existing != nil && fetched != "" && existing.AccountID != "" && fetched != existing.AccountID:
		return "", pageWrongAccount
	case existing != nil:
		return existing.AccountID, page{}
	case fetched != "":
		return fetched, page{}
	}
	return st.AccountID, page{}
}

// link stores the token through the Keeper (creating the connection or
// re-linking it: status connected, counters reset) and records a reconnect
// link as used.
func (h *Handler) link(ctx context.Context, p *tokenkeeper.Provider, tok *tokenkeeper.Token, st *tokenkeeper.OAuthState, account string) (*tokenkeeper.Connection, page, string) {
	scopes := tok.Scopes
	if len(scopes) == 0 {
		scopes = st.Scopes
	}
	c, created, err := h.o.Keeper.Link(ctx, tokenkeeper.LinkRequest{
		UserID: st.UserID, Provider: p.Name, AccountID: account, Scopes: scopes,
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
		ExpiresAt: tok.ExpiresAt, ExpiresIn: tok.Lifetime, RefreshTokenExpiresAt: tok.RefreshTokenExpiresAt,
	})
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "store the connection", slog.String("provider", p.Name),
			slog.String("code", string(tokenkeeper.ErrorCode(err))), slog.String("error", err.Error()))
		return nil, pageInternal, ""
	}
	if st.LinkID != "" {
		now := h.o.Clock.Now()
		if _, err := h.o.Store.UseKey(ctx, st.LinkID, now, now.Add(h.o.Links.TTL())); err != nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "record the reconnect link as used", slog.String("connection_id", c.ID), slog.String("error", err.Error()))
		}
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "connected", slog.String("connection_id", c.ID), slog.String("provider", p.Name),
		slog.String("user", h.o.UserHash(st.UserID)), slog.Bool("created", created), slog.Bool("reconnect", st.ConnectionID != ""),
		slog.Bool("refresh_token", !tok.RefreshToken.IsZero()))
	return c, pageConnected, ""
}
