package catalog

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary operator files to Parse. It must never panic; a
// catalog it returns must hold every builtin provider and validate; and an
// error must never repeat a secret that a reference resolved to. Seeds are
// in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	const envSecret, fileSecret = "fuzz-env-s3cr3t", "fuzz-file-s3cr3t"
	getenv := func(name string) string {
		if name == "UNSET" {
			return ""
		}
		return envSecret
	}
	readFile := func(path string) ([]byte, error) {
		if path == "/missing" {
			return nil, errors.New("no such file")
		}
		return []byte(fileSecret + "\n"), nil
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, getenv, readFile)
		if err != nil {
			if c != nil {
				t.Fatal("Parse returned a catalog with an error")
			}
			if !bytes.Contains(data, []byte("s3cr3t")) && strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error leaks a resolved secret: %v", err)
			}
			return
		}
		names := c.Names()
		if len(c.Providers()) != len(names) {
			t.Fatalf("%d providers, %d names", len(c.Providers()), len(names))
		}
		for _, name := range builtinNames {
			if _, ok := c.Provider(name); !ok {
				t.Fatalf("builtin provider %s lost", name)
			}
		}
		for _, name := range names {
			if err := c.Validate(name); err != nil {
				t.Fatalf("Validate(%s) = %v", name, err)
			}
			p, _ := c.Provider(name)
			if p.Name != name || p.TokenURL == "" || p.DisplayName == "" {
				t.Fatalf("provider %s incomplete: %+v", name, *p)
			}
		}
	})
}
