package catalog

import (
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"

	"github.com/tokenkeeper/tokenkeeper"
)

// build parses the embedded catalog and the operator's file and merges them:
// an operator entry for a catalog provider overrides the fields it names; an
// entry for a new name defines a custom provider.
func build(operator []byte, getenv func(string) string, readFile func(string) ([]byte, error)) (*Catalog, error) {
	base, err := builtinEntries()
	if err != nil {
		return nil, fmt.Errorf("embedded catalog: %w", err)
	}
	c := &Catalog{providers: make(map[string]*tokenkeeper.Provider, len(base))}
	for _, ne := range base {
		p := &tokenkeeper.Provider{Name: ne.name}
		if err := applyEntry(p, ne.entry, getenv, readFile); err != nil {
			return nil, fmt.Errorf("embedded catalog: %w", err)
		}
		if ne.entry.AuthMethod == nil || ne.entry.PKCE == nil || ne.entry.RefreshSupported == nil {
			return nil, fmt.Errorf("embedded catalog: provider %q: auth_method, pkce and refresh_supported must be explicit", ne.name)
		}
		c.providers[ne.name] = p
	}
	ops, err := parseEntries(operator)
	if err != nil {
		return nil, err
	}
	for _, ne := range ops {
		p, ok := c.providers[ne.name]
		if !ok {
			if ne.entry.AuthMethod == nil {
				return nil, fmt.Errorf(`provider %q: a custom provider needs auth_method ("basic" or "post")`, ne.name)
			}
			p = &tokenkeeper.Provider{
				Name:             ne.name,
				PKCE:             tokenkeeper.PKCESupported,
				RefreshSupported: true,
				Custom:           true,
			}
			c.providers[ne.name] = p
		}
		if err := applyEntry(p, ne.entry, getenv, readFile); err != nil {
			return nil, err
		}
	}
	for name, p := range c.providers {
		if p.DisplayName == "" {
			p.DisplayName = name
		}
		if err := validateProvider(p); err != nil {
			return nil, err
		}
		c.names = append(c.names, name)
	}
	slices.Sort(c.names)
	return c, nil
}

// applyEntry writes e over p, resolving env:/file: references in client_id
// and client_secret.
func applyEntry(p *tokenkeeper.Provider, e *entry, getenv func(string) string, readFile func(string) ([]byte, error)) error {
	if err := checkHeaderKeys(e.Refresh); err != nil {
		return fmt.Errorf("provider %q: %w", p.Name, err)
	}
	e.apply(p)
	if e.ClientID != nil {
		id, err := ResolveSecret(*e.ClientID, getenv, readFile)
		if err != nil {
			return fmt.Errorf("provider %q: client_id: %w", p.Name, err)
		}
		p.ClientID = id.Reveal()
	}
	if e.ClientSecret != nil {
		s, err := ResolveSecret(*e.ClientSecret, getenv, readFile)
		if err != nil {
			return fmt.Errorf("provider %q: client_secret: %w", p.Name, err)
		}
		p.ClientSecret = s
	}
	return nil
}

// checkHeaderKeys rejects two header names that differ only in case, which
// would otherwise merge in an unpredictable order.
func checkHeaderKeys(r *refreshEntry) error {
	if r == nil {
		return nil
	}
	seen := make(map[string]bool, len(r.Headers))
	for k := range r.Headers {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if seen[ck] {
			return errors.New("refresh: headers: " + strings.ToLower(clip(ck)) + " is given twice")
		}
		seen[ck] = true
	}
	return nil
}
