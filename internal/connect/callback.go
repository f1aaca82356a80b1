package connect

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
)

// Reconnect answers GET /v1/connect/{provider}?link=… from a user's
// browser: a valid link starts the flow for its connection (302 to the
// provider); a tampered, expired or used link, or one for a removed
// connection, gets a page saying which. Nothing is stored for a refused link.
func (h *Handler) Reconnect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, p, linkID, err := h.checkLink(ctx, r.PathValue("provider"), r.URL.Query().Get("link"))
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelInfo, "reconnect link refused", slog.String("reason", err.Error()))
		writePage(w, linkPage(err))
		return
	}
	authURL, _, err := h.begin(ctx, flow{provider: p, userID: c.UserID, accountID: c.AccountID, connectionID: c.ID, linkID: linkID})
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "start a reconnect", slog.String("connection_id", c.ID), slog.String("error", err.Error()))
		writePage(w, pageInternal)
		return
	}
	redirect(w, authURL)
}

// checkLink verifies a link token for the provider in the path and returns
// its connection, the provider and the link id.
func (h *Handler) checkLink(ctx context.Context, provider, token string) (*tokenkeeper.Connection, *tokenkeeper.Provider, string, error) {
	l, err := parseLink(token)
	if err != nil {
		return nil, nil, "", err
	}
	c, err := h.o.Store.GetConnection(ctx, l.connectionID)
	switch {
	case errors.Is(err, tokenkeeper.ErrNotFound):
		return nil, nil, "", ErrLinkInvalid
	case err != nil:
		return nil, nil, "", err
	}
	if err := h.o.Links.verify(l, c, h.o.Clock.Now()); err != nil {
		return nil, nil, "", err
	}
	if c.Provider != provider {
		return nil, nil, "", ErrLinkInvalid
	}
	if used, err := h.o.Store.KeyUsed(ctx, l.linkID); err != nil || used {
		return nil, nil, "", cmpErr(err, ErrLinkUsed)
	}
	if c.Status == tokenkeeper.StatusDisconnected {
		return nil, nil, "", ErrLinkDisconnected
	}
	p, err := h.provider(c.Provider)
	if err != nil {
		return nil, nil, "", err
	}
	return c, p, l.linkID, nil
}

// cmpErr returns err when it is not nil, else fallback.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// linkPage is the page of a refused link.
func linkPage(err error) page {
	switch {
	case errors.Is(err, ErrLinkInvalid):
		return pageLinkInvalid
	case errors.Is(err, ErrLinkExpired):
		return pageLinkExpired
	case errors.Is(err, ErrLinkUsed):
		return pageLinkUsed
	case errors.Is(err, ErrLinkDisconnected):
		return pageLinkRemoved
	case tokenkeeper.ErrorCode(err) == tokenkeeper.CodeInvalidRequest || tokenkeeper.ErrorCode(err) == tokenkeeper.CodeProviderUnknown:
		return pageProviderGone
	}
	return pageInternal
}

// Callback answers GET /v1/oauth/callback?code=…&state=… (or ?error=…&state=…)
// from the browser the provider sent back. A missing, unknown (forged),
// used (replayed) or expired state gets a page and changes nothing else.
// Otherwise the state is used up; then the provider's error, or a failed
// exchange, account lookup or store, ends the flow without a connection:
// with a redirect to the return URL carrying error=<code>, or a page when
// the flow has no return URL. On success the connection is created or
// re-linked (Keeper.Link, which emits connection.connected) and the browser
// goes to the return URL with connection_id and status added, or to a page.
func (h *Handler) Callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" || len(state) > 512 {
		writePage(w, pageMissingState)
		return
	}
	st, err := h.o.Store.ConsumeState(ctx, tokenkeeper.StateHash(state), h.o.Clock.Now())
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelInfo, "oauth callback refused", slog.String("reason", err.Error()))
		writePage(w, statePage(err))
		return
	}
	c, pg, code := h.finish(ctx, st, q.Get("code"), q.Get("error"))
	if pg.Code != "" {
		if code == "" {
			code = pg.Code
		}
		h.log.LogAttrs(ctx, slog.LevelWarn, "connect flow failed", slog.String("provider", st.Provider),
			slog.String("user", h.o.UserHash(st.UserID)), slog.String("code", code))
		if to, ok := withQueryString(st.ReturnURL, "error", code); ok && st.ReturnURL != "" {
			redirect(w, to)
			return
		}
		writePage(w, pg)
		return
	}
	if to, ok := withQueryString(st.ReturnURL, "connection_id", c.ID, "status", string(c.Status)); ok && st.ReturnURL != "" {
		redirect(w, to)
		return
	}
	writePage(w, pg)
}

// statePage is the page of a refused state.
func statePage(err error) page {
	switch {
	case errors.Is(err, tokenkeeper.ErrNotFound):
		return pageUnknownState
	case errors.Is(err, tokenkeeper.ErrStateUsed):
		return pageUsedState
	case errors.Is(err, tokenkeeper.ErrStateExpired):
		return pageExpiredState
	}
	return pageInternal
}

// finish completes a consumed state: it exchanges the code, identifies the
// account and links the connection. On failure it returns the page to show
// and, for a provider's own error, its sanitized code for the return URL.
func (h *Handler) finish(ctx context.Context, st *tokenkeeper.OAuthState, code, providerErr string) (*tokenkeeper.Connection, page, string) {
	if providerErr != "" {
		pe := sanitizeCode(providerErr)
		if pe == "access_denied" {
			return nil, pageDenied, pe
		}
		pg := pageExchange
		pg.Code = pe
		return nil, pg, pe
	}
	if code == "" || len(code) > 4096 {
		return nil, pageMissingCode, ""
	}
	p, ok := h.o.Catalog.Provider(st.Provider)
	if !ok {
		return nil, pageProviderGone, ""
	}
	var existing *tokenkeeper.Connection
	if st.ConnectionID != "" {
		var err error
		if existing, err = h.o.Store.GetConnection(ctx, st.ConnectionID); err != nil || existing.Status == tokenkeeper.StatusDisconnected {
			return nil, pageLinkRemoved, ""
		}
		if used, err := h.o.Store.KeyUsed(ctx, st.LinkID); err != nil || used {
			return nil, pageLinkUsed, ""
		}
	}
	verifier, err := h.verifier(st)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "open the PKCE verifier", slog.String("error", err.Error()))
		return nil, pageInternal, ""
	}
	o := h.o.Client.Exchange(ctx, p, code, st.RedirectURI, verifier)
	if o.Class != tokenkeeper.ClassSuccess || o.Token == nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "code exchange failed", slog.String("provider", p.Name),
			slog.String("class", string(o.Class)), slog.String("code", o.Code), slog.Int("http_status", o.HTTPStatus))
		if o.Class == tokenkeeper.ClassTransient {
			return nil, pageUnavailable, ""
		}
		return nil, pageExchange, ""
	}
	account, pg := h.account(ctx, p, o.Token, st, existing)
	if pg.Code != "" {
		return nil, pg, ""
	}
	return h.link(ctx, p, o.Token, st, account)
}

// verifier opens the state's sealed PKCE verifier ("" when there is none).
func (h *Handler) verifier(st *tokenkeeper.OAuthState) (string, error) {
	if len(st.SealedVerifier) == 0 {
		return "", nil
	}
	b, err := h.o.Sealer.Open(st.SealedVerifier, tokenkeeper.AdditionalData(st.RowID(), tokenkeeper.FieldPKCEVerifier))
	return string(b), err
}

// sanitizeCode keeps a provider's error code to [a-z0-9_.-], 64 bytes.
func sanitizeCode(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, s)
	if len(s) > 64 {
		s = s[:64]
	}
	if s == "" {
		return "provider_error"
	}
	return s
}

func newVerifier() string         { return oauth.NewVerifier() }
func challengeOf(v string) string { return oauth.Challenge(v) }

// jsonEncode writes v as JSON and a newline.
func jsonEncode(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
