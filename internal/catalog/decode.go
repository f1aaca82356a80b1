package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds a providers file; maxNodes bounds the YAML nodes visited
// while decoding one, aliases and merge keys included.
const (
	maxFileSize = 1 << 20
	maxNodes    = 100_000
)

// namedEntry is one provider of a providers file, in file order.
type namedEntry struct {
	name  string
	entry *entry
}

// parseEntries decodes a providers file: a mapping with the key "providers",
// itself a mapping from provider name to entry, and optional keys starting
// with "x-", which are ignored (a place for YAML anchors). Decoding is
// strict: an unknown key is an error naming it and its provider. Error
// messages name keys but never repeat values, which may be secrets.
// Empty input decodes to no entries.
func parseEntries(data []byte) ([]namedEntry, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	d := &decoder{budget: maxNodes}
	root, err := d.resolve(&doc)
	if err != nil || root == nil {
		return nil, err
	}
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, nil
		}
		if root, err = d.resolve(root.Content[0]); err != nil {
			return nil, err
		}
	}
	if isNull(root) {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, errors.New(`want a mapping with the key "providers"`)
	}
	top, err := d.pairs(root, "top level")
	if err != nil {
		return nil, err
	}
	var out []namedEntry
	for _, p := range top {
		if strings.HasPrefix(p.key, "x-") {
			continue // extension keys: a place for YAML anchors
		}
		if p.key != "providers" {
			return nil, fmt.Errorf("top level: unknown key %q", clip(p.key))
		}
		if isNull(p.value) {
			continue
		}
		if p.value.Kind != yaml.MappingNode {
			return nil, errors.New("providers: want a mapping from provider name to provider")
		}
		provs, err := d.pairs(p.value, "providers")
		if err != nil {
			return nil, err
		}
		for _, pp := range provs {
			if err := checkName(pp.key); err != nil {
				return nil, err
			}
			e := new(entry)
			where := fmt.Sprintf("provider %q", pp.key)
			if err := d.decodeStruct(pp.value, reflect.ValueOf(e).Elem(), where); err != nil {
				return nil, err
			}
			if e.Name != nil && *e.Name != pp.key {
				return nil, fmt.Errorf("%s: name differs from its key; omit it", where)
			}
			out = append(out, namedEntry{name: pp.key, entry: e})
		}
	}
	return out, nil
}

// decoder walks YAML nodes within a budget, so that aliases and merge keys
// cannot make a small file expensive.
type decoder struct {
	budget int
}

// pair is one key and value of a mapping, aliases resolved.
type pair struct {
	key   string
	value *yaml.Node
	line  int // of the key
}

// resolve follows aliases and charges the budget.
func (d *decoder) resolve(n *yaml.Node) (*yaml.Node, error) {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode; depth++ {
		if depth > 100 {
			return nil, errors.New("aliases nested too deeply")
		}
		n = n.Alias
	}
	d.budget--
	if d.budget < 0 {
		return nil, errors.New("document too complex")
	}
	return n, nil
}

// pairs returns the keys and values of mapping n with merge keys (<<)
// expanded: a key written in n wins over a merged one, and an earlier merge
// source wins over a later one. A key written twice is an error.
func (d *decoder) pairs(n *yaml.Node, where string) ([]pair, error) {
	var out, merged []pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, err := d.resolve(n.Content[i])
		if err != nil {
			return nil, err
		}
		v, err := d.resolve(n.Content[i+1])
		if err != nil {
			return nil, err
		}
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s: keys must be strings", where)
		}
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			m, err := d.mergeSources(v, where)
			if err != nil {
				return nil, err
			}
			merged = append(merged, m...)
			continue
		}
		if seen[k.Value] {
			return nil, fmt.Errorf("line %d: %s: key %q appears twice", k.Line, where, clip(k.Value))
		}
		seen[k.Value] = true
		out = append(out, pair{key: k.Value, value: v, line: k.Line})
	}
	for _, p := range merged {
		if !seen[p.key] {
			seen[p.key] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// mergeSources returns the pairs of a merge key's value: a mapping or a
// sequence of mappings.
func (d *decoder) mergeSources(v *yaml.Node, where string) ([]pair, error) {
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v, where)
	case yaml.SequenceNode:
		var out []pair
		for _, s := range v.Content {
			s, err := d.resolve(s)
			if err != nil {
				return nil, err
			}
			if s.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("%s: a merge key (<<) needs mappings", where)
			}
			m, err := d.pairs(s, where)
			if err != nil {
				return nil, err
			}
			out = append(out, m...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: a merge key (<<) needs a mapping", where)
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// clip shortens a key for an error message.
func clip(s string) string {
	r := []rune(strings.ToValidUTF8(s, "?"))
	if len(r) > 64 {
		return string(r[:64]) + "…"
	}
	return string(r)
}
