// Package testkit holds small helpers that tests of several packages share:
// a fixed provider catalog and a log sink safe for concurrent writers.
// Production code never imports it.
package testkit

import (
	"bytes"
	"sort"
	"sync"

	"github.com/tokenkeeper/tokenkeeper"
)

// Catalog is a tokenkeeper.Catalog over a fixed set of providers, keyed by
// name. Provider and Providers return copies, like the real catalog.
type Catalog map[string]*tokenkeeper.Provider

var _ tokenkeeper.Catalog = Catalog(nil)

// Provider returns a copy of the named provider.
func (c Catalog) Provider(name string) (*tokenkeeper.Provider, bool) {
	p, ok := c[name]
	if !ok {
		return nil, false
	}
	cp := *p
	return &cp, true
}

// Providers returns copies of every provider, sorted by name.
func (c Catalog) Providers() []*tokenkeeper.Provider {
	out := make([]*tokenkeeper.Provider, 0, len(c))
	for _, p := range c {
		cp := *p
		out = append(out, &cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SyncBuffer collects log output from concurrent writers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
