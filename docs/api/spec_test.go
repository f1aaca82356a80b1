package api

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	doc, err := Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"/v1/connections",
		"/v1/connections/{id}",
		"/v1/connections/{id}/token",
		"/v1/connections/{id}/refresh",
		"/v1/users/{user_id}/providers/{provider}/token",
		"/healthz",
		"/readyz",
		"/v1/openapi.json",
	} {
		if doc.Paths.Value(path) == nil {
			t.Errorf("path %s is missing", path)
		}
	}
	for _, name := range []string{"Connection", "Token", "ConnectionList", "Error", "LinkRequest", "ErrorCode"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("schema %s is missing", name)
		}
	}
	if doc.Components.SecuritySchemes["bearer"] == nil {
		t.Error("security scheme bearer is missing")
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	b, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("JSON() is not JSON: %v", err)
	}
	if v.OpenAPI != "3.0.3" || len(v.Paths) == 0 {
		t.Errorf("JSON() = openapi %q with %d paths", v.OpenAPI, len(v.Paths))
	}
	// Callers get copies: changing one does not change the next.
	b[0] = 'X'
	again, _ := JSON()
	if again[0] != '{' {
		t.Error("JSON() returned shared bytes")
	}
	y := YAML()
	y[0] = 'X'
	if bytes.Equal(YAML(), y) {
		t.Error("YAML() returned shared bytes")
	}
}
