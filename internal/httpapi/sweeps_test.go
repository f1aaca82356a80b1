package httpapi

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// fakeSweeper records the requests it gets and answers with res or err.
type fakeSweeper struct {
	res tokenkeeper.SweepResult
	err error

	mu      sync.Mutex
	reqs    []tokenkeeper.SweepRequest
	workers []int
}

func (f *fakeSweeper) Sweep(ctx context.Context, req tokenkeeper.SweepRequest, workers int) (tokenkeeper.SweepResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	f.workers = append(f.workers, workers)
	return f.res, f.err
}

func (f *fakeSweeper) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs, f.workers = nil, nil
}

func (f *fakeSweeper) calls() []tokenkeeper.SweepRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]tokenkeeper.SweepRequest(nil), f.reqs...)
}

// TestSweepRequest: each body reaches the sweeper as the request it means.
func TestSweepRequest(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		body any
		want tokenkeeper.SweepRequest
	}{
		"no body":                  {nil, tokenkeeper.SweepRequest{}},
		"empty object":             {`{}`, tokenkeeper.SweepRequest{}},
		"provider":                 {`{"provider":"acme"}`, tokenkeeper.SweepRequest{Provider: "acme"}},
		"status":                   {`{"status":"error"}`, tokenkeeper.SweepRequest{Status: tokenkeeper.StatusError}},
		"duration string":          {`{"expiring_within":"1h"}`, tokenkeeper.SweepRequest{ExpiringWithin: time.Hour}},
		"seconds as a string":      {`{"expiring_within":"90"}`, tokenkeeper.SweepRequest{ExpiringWithin: 90 * time.Second}},
		"seconds as a number":      {`{"expiring_within":3600}`, tokenkeeper.SweepRequest{ExpiringWithin: time.Hour}},
		"null duration":            {`{"expiring_within":null}`, tokenkeeper.SweepRequest{}},
		"dry run":                  {`{"dry_run":true}`, tokenkeeper.SweepRequest{DryRun: true}},
		"everything":               {`{"provider":"globex","status":"connected","expiring_within":"30m","dry_run":true,"verbose":true}`, tokenkeeper.SweepRequest{Provider: "globex", Status: tokenkeeper.StatusConnected, ExpiringWithin: 30 * time.Minute, DryRun: true, Verbose: true}},
		"whitespace only body":     {" \n", tokenkeeper.SweepRequest{}},
		"verbose without outcomes": {`{"verbose":true}`, tokenkeeper.SweepRequest{Verbose: true}},
	}
	sw := &fakeSweeper{res: tokenkeeper.SweepResult{Failed: map[tokenkeeper.Class]int{}}}
	e := setup(t, func(c *Config) { c.Sweeper, c.SweepWorkers = sw, 3 })
	for name, tc := range tests { // one server, one sweeper: not parallel
		t.Run(name, func(t *testing.T) {
			sw.reset()
			res := e.do("POST", "/v1/sweeps", e.admin, tc.body)
			if res.Status != http.StatusOK {
				t.Fatalf("status %d: %s", res.Status, res.Body)
			}
			calls := sw.calls()
			if len(calls) != 1 || !reflect.DeepEqual(calls[0], tc.want) {
				t.Errorf("sweeper got %+v, want %+v", calls, tc.want)
			}
			if sw.workers[0] != 3 {
				t.Errorf("workers = %d, want SweepWorkers 3", sw.workers[0])
			}
			_, hasOutcomes := res.JSON(t)["outcomes"]
			if hasOutcomes != tc.want.Verbose {
				t.Errorf("outcomes present = %v, want %v: %s", hasOutcomes, tc.want.Verbose, res.Body)
			}
		})
	}
}

// TestSweepInvalid: bad bodies are refused before the sweeper runs.
func TestSweepInvalid(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		body string
		code tokenkeeper.Code
		msg  string
	}{
		"unknown provider":      {`{"provider":"initech"}`, tokenkeeper.CodeProviderUnknown, `unknown provider "initech"`},
		"provider path":         {`{"provider":"../acme"}`, tokenkeeper.CodeInvalidRequest, "provider must be"},
		"bad status":            {`{"status":"broken"}`, tokenkeeper.CodeInvalidRequest, "status must be one of"},
		"bad duration":          {`{"expiring_within":"soon"}`, tokenkeeper.CodeInvalidRequest, "expiring_within must be"},
		"negative duration":     {`{"expiring_within":"-1h"}`, tokenkeeper.CodeInvalidRequest, "expiring_within must be"},
		"negative seconds":      {`{"expiring_within":-5}`, tokenkeeper.CodeInvalidRequest, "expiring_within must be"},
		"fractional seconds":    {`{"expiring_within":1.5}`, tokenkeeper.CodeInvalidRequest, "whole number"},
		"exponent seconds":      {`{"expiring_within":1e3}`, tokenkeeper.CodeInvalidRequest, "whole number"},
		"huge seconds":          {`{"expiring_within":99999999999999999999}`, tokenkeeper.CodeInvalidRequest, "expiring_within must be"},
		"boolean duration":      {`{"expiring_within":true}`, tokenkeeper.CodeInvalidRequest, "expiring_within must be"},
		"object duration":       {`{"expiring_within":{}}`, tokenkeeper.CodeInvalidRequest, "expiring_within must be"},
		"wrong type dry_run":    {`{"dry_run":"yes"}`, tokenkeeper.CodeInvalidRequest, "dry_run must be a boolean"},
		"unknown field":         {`{"providers":"acme"}`, tokenkeeper.CodeInvalidRequest, "unknown field"},
		"malformed":             {`{"provider":`, tokenkeeper.CodeInvalidRequest, "malformed JSON"},
		"not an object":         {`[]`, tokenkeeper.CodeInvalidRequest, "JSON object"},
		"invalid UTF-8":         {"{\"provider\":\"a\xc3\x28\"}", tokenkeeper.CodeInvalidRequest, "UTF-8"},
		"deep nesting":          {`{"expiring_within":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, tokenkeeper.CodeInvalidRequest, "deeper than 32"},
		"oversized":             {`{"provider":"` + strings.Repeat("a", 64<<10) + `"}`, tokenkeeper.CodeInvalidRequest, "larger than"},
		"trailing data":         {`{} {}`, tokenkeeper.CodeInvalidRequest, "data after"},
		"NUL in status":         {`{"status":"connected\u0000"}`, tokenkeeper.CodeInvalidRequest, "status must be one of"},
		"escaped path provider": {`{"provider":"acme\/..\/x"}`, tokenkeeper.CodeInvalidRequest, "provider must be"},
	}
	sw := &fakeSweeper{}
	e := setup(t, func(c *Config) { c.Sweeper = sw })
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := e.do("POST", "/v1/sweeps", e.admin, tc.body)
			wantError(t, res, http.StatusBadRequest, tc.code)
			if msg := res.JSON(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not say %q", msg, tc.msg)
			}
		})
	}
	t.Cleanup(func() {
		if n := len(sw.calls()); n != 0 {
			t.Errorf("the sweeper ran %d times for invalid requests", n)
		}
	})
}

// TestSweepResult: the counts and outcomes come back as the document says:
// every failure class present, outcomes sorted by connection id.
func TestSweepResult(t *testing.T) {
	t.Parallel()
	sw := &fakeSweeper{res: tokenkeeper.SweepResult{
		Checked: 4, Refreshed: 1, Skipped: 1, Deferred: 1,
		Failed: map[tokenkeeper.Class]int{tokenkeeper.ClassRevoked: 1},
		Outcomes: []tokenkeeper.SweepOutcome{
			{ConnectionID: "conn_d", Provider: "acme", Result: "deferred", Status: tokenkeeper.StatusConnected},
			{ConnectionID: "conn_b", Provider: "acme", Result: "failed", Class: tokenkeeper.ClassRevoked, Code: "invalid_grant", Status: tokenkeeper.StatusNeedsReauth},
			{ConnectionID: "conn_a", Provider: "acme", Result: "refreshed", Status: tokenkeeper.StatusConnected},
			{ConnectionID: "conn_c", Provider: "acme", Result: "skipped", Status: tokenkeeper.StatusConnected},
		},
	}}
	e := setup(t, func(c *Config) { c.Sweeper = sw })
	res := e.do("POST", "/v1/sweeps", e.admin, `{"verbose":true}`)
	if res.Status != http.StatusOK {
		t.Fatalf("status %d: %s", res.Status, res.Body)
	}
	got := res.JSON(t)
	want := map[string]any{"transient": 0.0, "permanent": 0.0, "revoked": 1.0, "config": 0.0}
	if !reflect.DeepEqual(got["failed"], want) {
		t.Errorf("failed = %v, want %v", got["failed"], want)
	}
	var ids []string
	for _, o := range got["outcomes"].([]any) {
		ids = append(ids, o.(map[string]any)["connection_id"].(string))
	}
	if strings.Join(ids, ",") != "conn_a,conn_b,conn_c,conn_d" {
		t.Errorf("outcomes in order %v", ids)
	}
	if got["checked"] != 4.0 || got["refreshed"] != 1.0 || got["skipped"] != 1.0 || got["deferred"] != 1.0 || got["dry_run"] != false {
		t.Errorf("counts: %s", res.Body)
	}
}

// TestSweepErrors: the sweeper's errors go through the one error table, and
// a server without a sweeper says the route is unavailable.
func TestSweepErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		sweeper tokenkeeper.Sweeper
		status  int
		code    tokenkeeper.Code
	}{
		"no sweeper":       {nil, http.StatusServiceUnavailable, tokenkeeper.CodeUnavailable},
		"unknown provider": {&fakeSweeper{err: tokenkeeper.Errorf(tokenkeeper.CodeProviderUnknown, "unknown provider")}, http.StatusBadRequest, tokenkeeper.CodeProviderUnknown},
		"store failure":    {&fakeSweeper{err: errors.New("database is locked")}, http.StatusInternalServerError, tokenkeeper.CodeInternal},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, func(c *Config) { c.Sweeper = tc.sweeper })
			res := e.do("POST", "/v1/sweeps", e.admin, nil)
			wantError(t, res, tc.status, tc.code)
			if strings.Contains(string(res.Body), "database is locked") {
				t.Error("an internal cause reached the response")
			}
		})
	}
}

// TestSweepRefresher runs sweeps through the API with the real refresher
// against the in-process provider: a dry run refreshes nothing, a sweep
// refreshes the due connections only, and expiring_within widens it; a
// revoked grant is counted as a failure of its class.
func TestSweepRefresher(t *testing.T) {
	t.Parallel()
	s := setupReal(t)
	now := time.Now()
	due1, _ := s.link("user-1", now.Add(-time.Minute))
	due2, _ := s.link("user-2", now.Add(-time.Minute))
	later, g3 := s.link("user-3", now.Add(time.Hour))

	sweep := func(body string) map[string]any {
		t.Helper()
		res := s.do("POST", "/v1/sweeps", s.admin, body)
		if res.Status != http.StatusOK {
			t.Fatalf("sweep %s: %d %s", body, res.Status, res.Body)
		}
		return res.JSON(t)
	}
	results := func(v map[string]any) map[string]string {
		out := map[string]string{}
		for _, o := range v["outcomes"].([]any) {
			m := o.(map[string]any)
			out[m["connection_id"].(string)] = m["result"].(string)
		}
		return out
	}

	dry := sweep(`{"dry_run":true,"verbose":true}`)
	if got, want := results(dry), map[string]string{due1.ID: "would_refresh", due2.ID: "would_refresh"}; !reflect.DeepEqual(got, want) || dry["dry_run"] != true {
		t.Fatalf("dry run: %v", dry)
	}
	if n := s.provider.Refreshes(); n != 0 {
		t.Fatalf("a dry run refreshed %d times", n)
	}

	due := sweep(`{"provider":"acme","verbose":true}`)
	if got, want := results(due), map[string]string{due1.ID: "refreshed", due2.ID: "refreshed"}; !reflect.DeepEqual(got, want) || due["refreshed"] != 2.0 {
		t.Fatalf("due sweep: %v", due)
	}
	if n := s.provider.Refreshes(); n != 2 {
		t.Fatalf("provider saw %d refreshes, want 2", n)
	}

	s.provider.RevokeGrant(g3.RefreshToken.Reveal())
	wide := sweep(`{"expiring_within":"2h","verbose":true}`)
	failed := wide["failed"].(map[string]any)
	if results(wide)[later.ID] != "failed" || failed["revoked"].(float64)+failed["permanent"].(float64) != 1 {
		t.Fatalf("wide sweep: %v", wide)
	}
	if wide["checked"] != 3.0 {
		t.Errorf("wide sweep checked %v, want 3", wide["checked"])
	}
	for _, tok := range []tokenkeeper.Secret{g3.AccessToken, g3.RefreshToken} {
		if strings.Contains(s.logs.String(), tok.Reveal()) {
			t.Error("a token reached the log")
		}
	}
}

// FuzzSweepBody feeds arbitrary bodies to POST /v1/sweeps' decoding and
// validation: it never panics, refuses with INVALID_REQUEST or
// PROVIDER_UNKNOWN only, and what it accepts is a request the sweeper can
// take (a known provider, a valid status, a duration within bounds).
func FuzzSweepBody(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"provider":"acme","status":"connected","expiring_within":"1h","dry_run":true,"verbose":true}`,
		`{"expiring_within":3600}`, `{"expiring_within":"90"}`, `{"expiring_within":-1}`, `{"expiring_within":1e3}`,
		`{"expiring_within":null}`, `{"expiring_within":"2562047h47m16.854775807s"}`, `{"provider":"initech"}`,
		`{"status":"needs_reauth"}`, `{"expiring_within":[1]}`, `{"expiring_within":"\u0031h"}`,
	} {
		f.Add([]byte(s))
	}
	s := &Server{cfg: Config{Catalog: fakeCatalog{}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b sweepBody
		err := decodeJSON(data, &b)
		var req tokenkeeper.SweepRequest
		if err == nil {
			req, err = s.sweepRequest(&b)
		}
		if err != nil {
			if c := tokenkeeper.ErrorCode(err); c != tokenkeeper.CodeInvalidRequest && c != tokenkeeper.CodeProviderUnknown {
				t.Fatalf("error %v is %s", err, c)
			}
			return
		}
		if _, ok := s.cfg.Catalog.Provider(req.Provider); req.Provider != "" && !ok {
			t.Fatalf("accepted unknown provider %q", req.Provider)
		}
		if req.Status != "" && !req.Status.Valid() {
			t.Fatalf("accepted status %q", req.Status)
		}
		if req.ExpiringWithin < 0 || req.ExpiringWithin > maxDuration {
			t.Fatalf("accepted expiring_within %v", req.ExpiringWithin)
		}
	})
}
