package main

import (
	"fmt"
	"strings"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/connect"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
)

// validateConnect checks the connect flow's settings (docs/config.md
// "Connect flow").
func (c Config) validateConnect() error {
	if _, err := connect.ParseAllowList(c.ReturnURLs); err != nil {
		return fmt.Errorf("return_urls: %w", err)
	}
	switch {
	case c.ConnectStateTTL <= 0 || c.ReconnectLinkTTL <= 0:
		return fmt.Errorf("connect_state_ttl and reconnect_link_ttl must be positive")
	case c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://"):
		return fmt.Errorf("public_url must be an http(s) URL such as https://tokens.example.com")
	}
	return nil
}

// connectFlow is the connect flow as serve runs it: the routes' handler,
// the reconnect links, and the worker that retries revocations.
type connectFlow struct {
	handler *connect.Handler
	links   *connect.Links
	worker  *connect.Worker
}

// openConnect builds the connect flow of a server listening on addr. The
// public URL is public_url, else http://addr (fine on a developer's machine;
// providers must be able to send browsers to {public_url}/v1/oauth/callback).
func (a *app) openConnect(addr string) (*connectFlow, error) {
	cs, ok := a.store.(interface {
		tokenkeeper.Store
		tokenkeeper.ConnectStore
	})
	if !ok {
		return nil, fmt.Errorf("the %s store cannot keep the connect flow's records", a.cfg.databaseKind())
	}
	public := strings.TrimRight(a.cfg.PublicURL, "/")
	if public == "" {
		public = "http://" + addr
		a.log.Warn("public_url is not set: the connect flow's callback and reconnect links use the listen address", "public_url", public)
	}
	allow, err := connect.ParseAllowList(a.cfg.ReturnURLs)
	if err != nil {
		return nil, fmt.Errorf("return_urls: %w", err)
	}
	links, err := connect.NewLinks(connect.LinkOptions{
		Keys: a.ring.DeriveAll(connect.LinkKeyPurpose), PublicURL: public, TTL: a.cfg.ReconnectLinkTTL,
	})
	if err != nil {
		return nil, err
	}
	client := oauth.New(oauth.Options{Timeout: a.cfg.RequestTimeout, MaxBodyBytes: a.cfg.MaxResponse, Logger: a.log, UserAgent: "tokenkeeper/" + version})
	h, err := connect.New(connect.Options{
		Store: cs, Keeper: a.keeper, Catalog: a.catalog, Sealer: a.sealer, Client: client, Links: links,
		PublicURL: public, ReturnURLs: allow, StateTTL: a.cfg.ConnectStateTTL, Logger: a.log, UserHash: userHasher(a.ring),
	})
	if err != nil {
		return nil, err
	}
	w, err := connect.NewWorker(connect.WorkerOptions{Store: cs, Sealer: a.sealer, Catalog: a.catalog, Client: client, Logger: a.log, Owner: a.keeper.Owner()})
	if err != nil {
		return nil, err
	}
	a.log.Info("connect flow ready", "redirect_uri", h.RedirectURI(), "return_url_prefixes", allow.Len())
	return &connectFlow{handler: h, links: links, worker: w}, nil
}

// reconnectURL is httpapi's ReconnectURL: a fresh reconnect link for a
// NEEDS_REAUTH answer, "" when none can be made.
func (f *connectFlow) reconnectURL(c *tokenkeeper.Connection) string {
	u, err := f.links.Reconnect(c)
	if err != nil {
		return ""
	}
	return u
}

// notifierLinks is the notifier's reconnect-link hook: the signed links,
// unless the operator set reconnect_url (the application's own page).
func (f *connectFlow) notifierLinks(cfg Config) func(*tokenkeeper.Connection) (string, error) {
	if cfg.ReconnectURL != "" {
		return nil
	}
	return f.links.Reconnect
}
