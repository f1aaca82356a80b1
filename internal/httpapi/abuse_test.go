package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"strings"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
)

// marker is planted in every part of hostile requests; no response header
// may carry it.
const marker = "zz9plural"

// answerHeaders are the only headers the API sets.
var answerHeaders = map[string]bool{
	"Content-Type": true, "X-Content-Type-Options": true, "Cache-Control": true, "Pragma": true,
	"Retry-After": true, "Www-Authenticate": true, "Allow": true, "Location": true,
}

// TestNoInputInHeaders: request input (path, query, body, headers) never
// reaches a response header, and a connection id that is not an id never
// becomes a Location.
func TestNoInputInHeaders(t *testing.T) {
	t.Parallel()
	e := setup(t, func(c *Config) { c.Sweeper = &fakeSweeper{} })
	crlf := "%0D%0ASet-Cookie:%20" + marker
	requests := []struct{ method, target, body string }{
		{"GET", "/v1/connections/" + marker + crlf, ""},
		{"GET", "/v1/connections?user_id=" + marker + crlf + "&cursor=" + marker, ""},
		{"GET", "/v1/connections?cursor=" + marker + "%FF", ""},
		{"GET", "/v1/connections/conn_x/token?min_validity=" + marker + crlf, ""},
		{"GET", "/v1/users/" + marker + "/providers/" + marker + crlf + "/token", ""},
		{"POST", "/v1/connections", `{"user_id":"` + marker + `\r\nX-Injected: 1","provider":"acme","access_token":"a"}`},
		{"POST", "/v1/connections", `{"user_id":"u","provider":"acme","access_token":"a","scopes":["` + marker + `\r\nX: 1"]}`},
		{"POST", "/v1/connections", `{"` + marker + `":1}`},
		{"POST", "/v1/sweeps", `{"provider":"` + marker + `\n"}`},
		{"POST", "/v1/sweeps", `{"status":"` + marker + `"}`},
		{"PUT", "/v1/" + marker + crlf, ""},
		{"GET", "/v1/connections/..%2F" + marker, ""},
	}
	for _, rq := range requests {
		t.Run(rq.method+" "+rq.target, func(t *testing.T) {
			t.Parallel()
			req := newRequest(rq.method, rq.target, e.admin, rq.body)
			req.Header.Set("X-Request-Id", marker)
			req.Header.Set("Origin", "https://"+marker+".example")
			res := e.serve(req)
			if res.Status < 400 {
				t.Fatalf("hostile request accepted: %d %s", res.Status, res.Body)
			}
			checkHeaders(t, res)
		})
	}
	t.Run("location", func(t *testing.T) {
		t.Parallel()
		for id, want := range map[string]string{
			"conn_ok":                         "/v1/connections/conn_ok",
			"conn_x\r\nSet-Cookie: " + marker: "",
			"conn_x/../../" + marker:          "",
		} {
			e := setup(t)
			e.keeper.link = func(ctx context.Context, r tokenkeeper.LinkRequest) (*tokenkeeper.Connection, bool, error) {
				return &tokenkeeper.Connection{ID: id, UserID: r.UserID, Provider: r.Provider, Status: tokenkeeper.StatusConnected}, true, nil
			}
			res := e.do("POST", "/v1/connections", e.writer, validLink())
			if res.Status != http.StatusCreated || res.Header.Get("Location") != want {
				t.Errorf("id %q: %d Location %q, want %q", id, res.Status, res.Header.Get("Location"), want)
			}
			checkHeaders(t, res)
		}
	})
}

func checkHeaders(t *testing.T, res *response) {
	t.Helper()
	for name, values := range res.Header {
		if !answerHeaders[name] {
			t.Errorf("unexpected header %s", name)
		}
		for _, v := range values {
			if strings.Contains(v, marker) || strings.ContainsAny(v, "\r\n") {
				t.Errorf("header %s carries request input: %q", name, v)
			}
		}
	}
}

// hashRecorder is a store that records the hashes API keys are looked up by.
type hashRecorder struct {
	tokenkeeper.Store
	got chan []byte
}

func (h *hashRecorder) GetAPIKeyByHash(ctx context.Context, hash []byte) (*tokenkeeper.APIKey, error) {
	h.got <- bytes.Clone(hash)
	return h.Store.GetAPIKeyByHash(ctx, hash)
}

// TestAPIKeyTiming documents why checking a key leaks nothing through time:
// the store is asked only for SHA-256(presented key), so a guess that shares
// a long prefix with a real key is looked up by an unrelated hash (an index
// lookup's time says nothing about the key); the stored hash is then
// compared with subtle.ConstantTimeCompare; and every refused key gets the
// same answer. (No wall-clock measurement: it would be flaky, and the
// properties above are what make the time independent of the key.)
func TestAPIKeyTiming(t *testing.T) {
	t.Parallel()
	rec := &hashRecorder{got: make(chan []byte, 16)}
	e := setup(t, func(c *Config) { rec.Store = c.Store; c.Store = rec })
	real := e.reader
	guesses := map[string]string{
		"last character differs":  real[:len(real)-1] + flip(real[len(real)-1]),
		"first character differs": real[:3] + flip(real[3]) + real[4:],
		"unknown key":             "tk_" + strings.Repeat("A", 43),
	}
	var bodies []string
	for name, g := range guesses {
		res := e.do("GET", "/v1/connections", g, nil)
		wantError(t, res, http.StatusUnauthorized, tokenkeeper.CodeUnauthorized)
		bodies = append(bodies, string(res.Body))
		looked := <-rec.got
		want := sha256.Sum256([]byte(g))
		if !bytes.Equal(looked, want[:]) {
			t.Errorf("%s: the store was asked for %x, not the key's SHA-256", name, looked)
		}
		realHash := sha256.Sum256([]byte(real))
		if common := commonPrefix(looked, realHash[:]); common > 3 {
			t.Errorf("%s: the lookup hash shares %d leading bytes with the real key's", name, common)
		}
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Errorf("refusals differ: %s vs %s", b, bodies[0])
		}
	}
	if res := e.do("GET", "/v1/connections", real, nil); res.Status != http.StatusOK {
		t.Fatalf("the real key: %d", res.Status)
	}
	checkConstantTimeCompare(t)
}

// checkConstantTimeCompare reads internal/apikey's Authenticate and checks
// that it compares hashes with subtle.ConstantTimeCompare and with nothing
// that returns early (bytes.Equal, bytes.Compare, ==).
func checkConstantTimeCompare(t *testing.T) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../apikey/apikey.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var found, constant bool
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "Authenticate" {
			continue
		}
		found = true
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok {
					switch id.Name + "." + n.Sel.Name {
					case "subtle.ConstantTimeCompare":
						constant = true
					case "bytes.Equal", "bytes.Compare", "strings.Compare":
						t.Errorf("Authenticate compares with %s.%s", id.Name, n.Sel.Name)
					}
				}
			case *ast.BinaryExpr:
				if (n.Op == token.EQL || n.Op == token.NEQ) && (mentionsHash(n.X) || mentionsHash(n.Y)) {
					t.Errorf("Authenticate compares a hash with %s", n.Op)
				}
			}
			return true
		})
	}
	if !found || !constant {
		t.Errorf("apikey.Authenticate found=%v, uses subtle.ConstantTimeCompare=%v", found, constant)
	}
	_ = apikey.Prefix // the package this test reads
}

// mentionsHash reports whether an operand names a hash, other than as the
// argument of a function call (ConstantTimeCompare's result is not a hash;
// a conversion such as string(hash) still is).
func mentionsHash(n ast.Node) bool {
	if call, ok := n.(*ast.CallExpr); ok {
		if _, fn := call.Fun.(*ast.SelectorExpr); fn {
			return false
		}
	}
	hit := false
	ast.Inspect(n, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && strings.Contains(strings.ToLower(id.Name), "hash") {
			hit = true
		}
		return !hit
	})
	return hit
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
