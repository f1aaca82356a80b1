// Package api holds tokenkeeper's hand-written OpenAPI 3.0.3 document of the
// HTTP API (openapi.yaml). The server serves it at /v1/openapi.json, and the
// HTTP API's tests validate every response they receive against it.
package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

//go:embed openapi.yaml
var spec []byte

// jsonSpec converts the document to JSON once per process.
var jsonSpec = sync.OnceValues(func() ([]byte, error) {
	doc, err := Load(context.Background())
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode openapi document as json: %w", err)
	}
	return b, nil
})

// YAML returns a copy of the OpenAPI document as written.
func YAML() []byte { return bytes.Clone(spec) }

// JSON returns a copy of the OpenAPI document as JSON. It is converted once;
// an error means the embedded document is invalid (its tests catch that).
func JSON() ([]byte, error) {
	b, err := jsonSpec()
	return bytes.Clone(b), err
}

// Load parses and validates the OpenAPI document. Each call returns a new
// document that the caller may change.
func Load(ctx context.Context) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("load openapi document: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validate openapi document: %w", err)
	}
	return doc, nil
}
