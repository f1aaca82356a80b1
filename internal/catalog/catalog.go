// Package catalog is tokenkeeper's provider catalog: the facts about 19
// OAuth2 providers embedded as providers.yaml, merged with the operator's
// providers file (TOKENKEEPER_PROVIDERS), which adds client credentials,
// overrides any field of a catalog provider and defines custom providers.
//
// Durations in both files are Go durations ("90m", "1h30m") or day counts
// ("60d", "1d12h"); see ParseDuration. The file format is described in
// docs/providers.md.
package catalog

import (
	_ "embed"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/tokenkeeper/tokenkeeper"
)

//go:embed providers.yaml
var builtinYAML []byte

// builtinEntries parses the embedded file once; the entries are never
// modified, and every catalog is built from copies.
var builtinEntries = sync.OnceValues(func() ([]namedEntry, error) { return parseEntries(builtinYAML) })

// Catalog holds validated providers by name. It is immutable after
// construction and safe for concurrent use; its methods hand out copies.
// The zero Catalog is empty.
type Catalog struct {
	providers map[string]*tokenkeeper.Provider
	names     []string // sorted
}

var _ tokenkeeper.Catalog = (*Catalog)(nil)

// Builtin returns the embedded catalog alone: no client credentials, no
// operator overrides. An error means the embedded file is broken.
func Builtin() (*Catalog, error) {
	return build(nil, nil, nil)
}

// Load returns the embedded catalog merged with the operator's providers
// file at path, read with readFile; path "" means the embedded catalog
// alone. Secret references in the file are resolved with getenv and
// readFile (nil means os.Getenv and os.ReadFile). The error names the file
// and, where one is at fault, the provider and key; it never contains a
// secret.
func Load(path string, getenv func(string) string, readFile func(string) ([]byte, error)) (*Catalog, error) {
	if path == "" {
		return Builtin()
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("read providers file: %w", err)
	}
	c, err := Parse(data, getenv, readFile)
	if err != nil {
		return nil, fmt.Errorf("providers file %s: %w", path, err)
	}
	return c, nil
}

// Parse returns the embedded catalog merged with the operator's providers
// file given as data (see Load). Empty data yields the embedded catalog.
func Parse(data []byte, getenv func(string) string, readFile func(string) ([]byte, error)) (*Catalog, error) {
	return build(data, getenv, readFile)
}

// Provider returns a copy of the named provider, or false when the catalog
// has no provider of that name. Changing the copy does not change the catalog.
func (c *Catalog) Provider(name string) (*tokenkeeper.Provider, bool) {
	p, ok := c.providers[name]
	if !ok {
		return nil, false
	}
	return clone(p), true
}

// Providers returns copies of every provider, sorted by name.
func (c *Catalog) Providers() []*tokenkeeper.Provider {
	out := make([]*tokenkeeper.Provider, 0, len(c.names))
	for _, n := range c.names {
		out = append(out, clone(c.providers[n]))
	}
	return out
}

// Names returns the provider names, sorted.
func (c *Catalog) Names() []string { return slices.Clone(c.names) }

// Configured reports whether the named provider can be used to connect and
// refresh: it has a client_id and a client_secret, or a client_id alone when
// its pkce is "required" (a public client, which the operator declares by
// setting pkce: required). It is false for unknown providers.
func (c *Catalog) Configured(name string) bool {
	p, ok := c.providers[name]
	if !ok || p.ClientID == "" {
		return false
	}
	return !p.ClientSecret.IsZero() || p.PKCE == tokenkeeper.PKCERequired
}

// Validate returns nil when the catalog has a valid provider of that name,
// and a *tokenkeeper.Error with CodeProviderUnknown when it has none. It
// does not check credentials; see Configured.
func (c *Catalog) Validate(name string) error {
	p, ok := c.providers[name]
	if !ok {
		return tokenkeeper.Errorf(tokenkeeper.CodeProviderUnknown, "unknown provider %q", clip(name))
	}
	if err := validateProvider(p); err != nil {
		return &tokenkeeper.Error{Code: tokenkeeper.CodeInternal, Message: "invalid provider", Err: err}
	}
	return nil
}

// clone returns a deep copy of p.
func clone(p *tokenkeeper.Provider) *tokenkeeper.Provider {
	q := *p
	q.Scopes = slices.Clone(p.Scopes)
	q.AuthParams = maps.Clone(p.AuthParams)
	q.Refresh.Headers = maps.Clone(p.Refresh.Headers)
	q.Refresh.Params = maps.Clone(p.Refresh.Params)
	return &q
}
