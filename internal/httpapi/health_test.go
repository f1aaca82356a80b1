package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
)

func TestHealthz(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res := e.do("GET", "/healthz", "", nil)
	if v := res.JSON(t); res.Status != 200 || v["status"] != "ok" || v["version"] != "v0.0.0-test" {
		t.Fatalf("healthz: %d %s", res.Status, res.Body)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	t.Run("default checks the store", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		if res := e.do("GET", "/readyz", "", nil); res.Status != 200 || res.JSON(t)["status"] != "ok" {
			t.Fatalf("readyz: %d %s", res.Status, res.Body)
		}
		if err := e.store.Close(); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.do("GET", "/readyz", "", nil), http.StatusServiceUnavailable, tokenkeeper.CodeUnavailable)
	})
	t.Run("custom check", func(t *testing.T) {
		t.Parallel()
		ready := errors.New("postgres://user:hunter2@db/tk unreachable")
		e := setup(t, func(c *Config) {
			c.Ready = func(ctx context.Context) error { return ready }
		})
		res := e.do("GET", "/readyz", "", nil)
		wantError(t, res, http.StatusServiceUnavailable, tokenkeeper.CodeUnavailable)
		if strings.Contains(string(res.Body), "hunter2") {
			t.Errorf("readyz shows the cause: %s", res.Body)
		}
		ready = nil
		if res := e.do("GET", "/readyz", "", nil); res.Status != 200 {
			t.Fatalf("readyz: %d %s", res.Status, res.Body)
		}
	})
}

func TestOpenAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	res := e.do("GET", "/v1/openapi.json", "", nil)
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(res.Body, &doc); err != nil || res.Status != 200 || doc.OpenAPI != "3.0.3" {
		t.Fatalf("openapi.json: %d %v", res.Status, err)
	}
	// Every route registered in routes.go is documented, and the reverse.
	registered := map[string]bool{}
	for _, rt := range v1Routes {
		registered[rt.method+" "+specPath(rt.target)] = true
	}
	registered["GET /healthz"], registered["GET /readyz"], registered["GET /v1/openapi.json"] = true, true, true
	// The connect flow's routes, registered when Config.Connect is set, are tested in internal/connect.
	registered["GET /v1/connect/{provider}"], registered["GET /v1/oauth/callback"] = true, true
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item.(map[string]any) {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	for r := range registered {
		if !documented[r] {
			t.Errorf("route %s is not documented", r)
		}
	}
	for r := range documented {
		if !registered[r] {
			t.Errorf("documented %s is not a tested route", r)
		}
	}
}

// specPath turns a test target into its OpenAPI path template.
func specPath(target string) string {
	switch {
	case strings.HasSuffix(target, "/notifications"), strings.HasSuffix(target, "/preferences"):
		return strings.Replace(target, "/u1/", "/{user_id}/", 1)
	case strings.HasPrefix(target, "/v1/notifications/"), strings.HasPrefix(target, "/v1/deliveries/"):
		return strings.NewReplacer("ntf_x", "{id}", "dlv_x", "{id}").Replace(target)
	case strings.HasPrefix(target, "/v1/users/"):
		return "/v1/users/{user_id}/providers/{provider}/token"
	case strings.HasPrefix(target, "/v1/connections/"):
		return strings.Replace(target, "conn_x", "{id}", 1)
	}
	return target
}
