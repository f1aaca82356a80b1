package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

// get fetches url with client and returns the status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestServeObservability runs serve with a provider, refreshes a
// connection, then reads /metrics, logs in to the admin page and prints
// the terminal overview; no token appears in any of them or in the logs.
func TestServeObservability(t *testing.T) {
	t.Parallel()
	prov := providertest.New(providertest.Options{})
	t.Cleanup(prov.Close)
	e := newTestEnv(t, map[string]*tokenkeeper.Provider{"acme": prov.Provider("acme")})
	var secrets []string
	var input strings.Builder
	for _, user := range []string{"u1", "u2"} {
		g := prov.Grant("read")
		secrets = append(secrets, g.AccessToken.Reveal(), g.RefreshToken.Reveal())
		input.WriteString(`{"user_id":"` + user + `","provider":"acme","access_token":"` + g.AccessToken.Reveal() + `","refresh_token":"` + g.RefreshToken.Reveal() + `","expires_in":3600}` + "\n")
	}
	out, err := e.run(input.String(), "connections", "import")
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	id := strings.Fields(out)[1]
	admin := e.apiKey("admin")
	secrets = append(secrets, admin)
	base := e.serve()

	var refreshed struct {
		Status string `json:"status"`
	}
	if status := call(t, http.MethodPost, base+"/v1/connections/"+id+"/refresh", admin, nil, &refreshed); status != http.StatusOK || refreshed.Status != "connected" {
		t.Fatalf("refresh = %d %+v", status, refreshed)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	call(t, http.MethodGet, base+"/v1/connections/"+id+"/token", admin, nil, &tok)
	secrets = append(secrets, tok.AccessToken)

	status, metrics := get(t, http.DefaultClient, base+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics = %d", status)
	}
	for _, want := range []string{
		`tokenkeeper_refresh_attempts_total{class="success",outcome="success",provider="acme"} 1`,
		`tokenkeeper_connections{provider="acme",status="connected"} 2`,
		`tokenkeeper_connections_expiring{provider="acme",within="1h"} 2`,
		`tokenkeeper_http_responses_total{route="POST /v1/connections/{id}/refresh",status="200"} 1`,
		`tokenkeeper_http_responses_total{route="GET /v1/connections/{id}/token",status="200"} 1`,
		`tokenkeeper_breaker_state{provider="acme"} 0`,
		`tokenkeeper_stats_up 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/metrics", nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics = %v, %v; want 405", res, err)
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	status, page := get(t, browser, base+"/admin")
	if status != http.StatusOK || !strings.Contains(page, `name="key"`) {
		t.Fatalf("GET /admin = %d, want the login page", status)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	res, err := browser.PostForm(base+"/admin/login", url.Values{"key": {admin}, "csrf": {csrf[1]}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), `id="provider-acme"`) {
		t.Fatalf("login = %d, want the overview with acme", res.StatusCode)
	}
	pages := []string{string(b), metrics}
	for _, p := range []string{"/admin/connections", "/admin/connections/" + id, "/admin/outbox"} {
		status, page := get(t, browser, base+p)
		if status != http.StatusOK {
			t.Errorf("GET %s = %d", p, status)
		}
		pages = append(pages, page)
	}

	overview, err := e.run("", "connections", "list", "--overview")
	if err != nil {
		t.Fatalf("connections list --overview: %v", err)
	}
	if !regexp.MustCompile(`(?m)^acme\s+2\s+2\s+0\s+0\s+0\s+0\s+2\s+2\s+1\s+100\.0%`).MatchString(overview) {
		t.Errorf("connections list --overview printed:\n%s", overview)
	}
	pages = append(pages, overview)
	for _, s := range secrets {
		for _, p := range pages {
			if strings.Contains(p, s) {
				t.Error("a page, the metrics or the overview contain a token or key")
			}
		}
	}
	assertNoPlaintext(t, e.dir, e.logs.String(), secrets...)
}

// TestServeWithoutObservability: metrics=false and admin=false leave
// /metrics and /admin/ to the API, which does not know them.
func TestServeWithoutObservability(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	e.vars["TOKENKEEPER_METRICS"] = "false"
	e.vars["TOKENKEEPER_ADMIN"] = "false"
	base := e.serve()
	for _, p := range []string{"/metrics", "/admin/", "/admin/login"} {
		if status, _ := get(t, http.DefaultClient, base+p); status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, status)
		}
	}
}
