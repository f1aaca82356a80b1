package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/docs/api"
	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
)

// baseTime is the tests' "now".
var baseTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// env is one test's server with its store, keeper, clock, logs and keys.
type env struct {
	t      *testing.T
	store  tokenkeeper.Store
	keeper *fakeKeeper
	clock  *fakeClock
	logs   *syncBuffer
	srv    *Server
	cfg    Config

	admin, reader, writer string // plaintext API keys by scope
}

// setup returns a server over a fresh SQLite store with three API keys
// (admin, tokens:read, connections:write); mods adjust its Config.
func setup(t *testing.T, mods ...func(*Config)) *env {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tk.db"), sqlite.Options{})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := store.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	e := &env{
		t:      t,
		store:  store,
		keeper: &fakeKeeper{t: t},
		clock:  &fakeClock{t: baseTime},
		logs:   &syncBuffer{},
	}
	e.admin = e.newKey(tokenkeeper.ScopeAdmin)
	e.reader = e.newKey(tokenkeeper.ScopeTokensRead)
	e.writer = e.newKey(tokenkeeper.ScopeConnectionsWrite)
	e.cfg = Config{
		Keeper:       e.keeper,
		Store:        store,
		Catalog:      fakeCatalog{},
		Logger:       slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:          e.clock.Now,
		MaxBodyBytes: 64 << 10,
		Version:      "v0.0.0-test",
		ReconnectURL: func(c *tokenkeeper.Connection) string {
			return "https://app.example/reconnect?connection=" + c.ID
		},
	}
	for _, mod := range mods {
		mod(&e.cfg)
	}
	e.srv = New(e.cfg)
	return e
}

// newKey stores a new API key with the scopes and returns its plaintext.
func (e *env) newKey(scopes ...tokenkeeper.Scope) string {
	e.t.Helper()
	plain, k, err := apikey.Generate("test", scopes, baseTime)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateAPIKey(e.t.Context(), k); err != nil {
		e.t.Fatalf("CreateAPIKey: %v", err)
	}
	return plain.Reveal()
}

// conn stores a connection (storetest.NewConnection at baseTime, provider
// acme) and returns it.
func (e *env) conn(mods ...func(*tokenkeeper.Connection)) *tokenkeeper.Connection {
	e.t.Helper()
	c := storetest.NewConnection(baseTime, mods...)
	if err := e.store.CreateConnection(e.t.Context(), c, nil); err != nil {
		e.t.Fatalf("CreateConnection: %v", err)
	}
	got, err := e.store.GetConnection(e.t.Context(), c.ID)
	if err != nil {
		e.t.Fatalf("GetConnection: %v", err)
	}
	return got
}

// response is a served response, validated against the OpenAPI document.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (r *response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return v
}

// ErrorCode returns error.code of an error body, "" for other bodies.
func (r *response) ErrorCode() string {
	var v struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &v)
	return v.Error.Code
}

// do serves a request with the key ("" for none) and a body (nil for none;
// a string or []byte is sent as is, anything else as JSON), and validates
// the response against docs/api/openapi.yaml.
func (e *env) do(method, target, key string, body any) *response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, "http://127.0.0.1:8080"+target, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return e.serve(req)
}

// serve serves req and validates the response.
func (e *env) serve(req *http.Request) *response {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	res := &response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	validateResponse(e.t, req, res)
	return res
}

// openAPI is the parsed document and its router, loaded once per test binary.
var openAPI = sync.OnceValues(func() (*openapi3.T, routers.Router) {
	doc, err := api.Load(context.Background())
	if err != nil {
		panic(err)
	}
	doc.Servers = nil // match any host
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		panic(err)
	}
	return doc, router
})

// validateResponse fails the test when res does not match the OpenAPI
// document (see checkResponse).
func validateResponse(t *testing.T, req *http.Request, res *response) {
	t.Helper()
	if err := checkResponse(req, res); err != nil {
		t.Errorf("%s %s: %v\n%s", req.Method, req.URL.Path, err, res.Body)
	}
}

// checkResponse checks res against the OpenAPI document: the operation's
// documented statuses, headers and body schema; for paths or methods that
// are not routes, a 404 or 405 with the Error schema. Every response must be
// JSON and nosniff.
func checkResponse(req *http.Request, res *response) error {
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("Content-Type %q, want application/json", ct)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" {
		return errors.New("no X-Content-Type-Options: nosniff")
	}
	doc, router := openAPI()
	route, params, err := router.FindRoute(req)
	if err != nil {
		if res.Status != http.StatusNotFound && res.Status != http.StatusMethodNotAllowed {
			return fmt.Errorf("not in the OpenAPI document (%v) but answered %d", err, res.Status)
		}
		var v any
		if err := json.Unmarshal(res.Body, &v); err != nil {
			return fmt.Errorf("body is not JSON: %w", err)
		}
		if err := doc.Components.Schemas["Error"].Value.VisitJSON(v); err != nil {
			return fmt.Errorf("%d body does not match the Error schema: %w", res.Status, err)
		}
		return nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 res.Status,
		Header:                 res.Header,
		Body:                   io.NopCloser(bytes.NewReader(res.Body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("response %d does not match the OpenAPI document: %w", res.Status, err)
	}
	return nil
}

// wantError checks an error response's status and code.
func wantError(t *testing.T, res *response, status int, code tokenkeeper.Code) {
	t.Helper()
	if res.Status != status || res.ErrorCode() != string(code) {
		t.Errorf("got %d %s, want %d %s: %s", res.Status, res.ErrorCode(), status, code, res.Body)
	}
}

// newRequest builds a request with the key ("" for none) and a JSON body
// ("" for none).
func newRequest(method, target, key, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "http://127.0.0.1:8080"+target, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}
