package web

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// TestPagesShowNoSecrets fetches every page and answer of the admin page
// after a scripted run and greps them, and the logs, for every token the
// providers issued and for the admin key.
func TestPagesShowNoSecrets(t *testing.T) {
	t.Parallel()
	f := setup(t, options{})
	s := f.seed()
	c := f.client()
	token := c.login(f.adminKey)
	paths := []string{"/admin/", "/admin/connections", "/admin/outbox", "/admin/outbox?status=pending", "/admin/outbox?status=delivered",
		"/admin/connections?status=needs_reauth", "/admin/connections?status=connected&expiring=1h", "/admin/connections?provider=globex", "/admin/login"}
	for _, conn := range []*tokenkeeper.Connection{s.healthy, s.transient, s.reauth, s.broken, s.globexReauth} {
		paths = append(paths, "/admin/connections/"+conn.ID)
	}
	for _, p := range paths {
		status, body, _ := c.get(p)
		if status != http.StatusOK && status != http.StatusSeeOther {
			t.Errorf("GET %s = %d", p, status)
		}
		f.noSecrets("page "+p, body)
	}
	_, body, _ := c.post("/admin/connections/"+s.healthy.ID+"/reconnect-link", url.Values{"csrf": {token}}, "Accept", "application/json")
	f.noSecrets("the reconnect link", body)
	f.noSecrets("the logs", f.logs.String())
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	f := setup(t, options{})
	s := f.seed()
	c := f.client()
	c.login(f.adminKey)
	tests := []struct {
		query      string
		want, skip []*tokenkeeper.Connection
	}{
		{"status=needs_reauth", []*tokenkeeper.Connection{s.reauth, s.globexReauth}, []*tokenkeeper.Connection{s.healthy, s.broken}},
		{"status=error", []*tokenkeeper.Connection{s.broken}, []*tokenkeeper.Connection{s.reauth, s.healthy}},
		{"provider=globex", []*tokenkeeper.Connection{s.globexReauth}, []*tokenkeeper.Connection{s.reauth, s.healthy}},
		{"provider=acme&status=needs_reauth", []*tokenkeeper.Connection{s.reauth}, []*tokenkeeper.Connection{s.globexReauth}},
		{"user=user-20", []*tokenkeeper.Connection{s.transient}, []*tokenkeeper.Connection{s.healthy}},
		{"status=connected&expiring=1h", []*tokenkeeper.Connection{s.healthy, s.transient}, []*tokenkeeper.Connection{s.reauth, s.broken}},
		{"status=bogus", []*tokenkeeper.Connection{s.healthy, s.reauth}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, body, _ := c.get("/admin/connections?" + tt.query)
			if status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w.ID) {
					t.Errorf("%s is missing", w.UserID)
				}
			}
			for _, w := range tt.skip {
				if strings.Contains(body, w.ID) {
					t.Errorf("%s is listed", w.UserID)
				}
			}
		})
	}
}

// TestActions presses the connection page's buttons without a browser.
func TestActions(t *testing.T) {
	t.Parallel()
	f := setup(t, options{})
	s := f.seed()
	c := f.client()
	token := c.login(f.adminKey)
	form := url.Values{"csrf": {token}}

	tests := []struct {
		name     string
		conn     *tokenkeeper.Connection
		action   string
		script   bool // the provider answers 503
		wantTo   string
		wantStat tokenkeeper.Status
	}{
		{"refresh", s.healthy, "refresh", false, "flash=refreshed", tokenkeeper.StatusConnected},
		{"refresh fails", s.transient, "refresh", true, "code=TOKEN_REFRESH_ERROR&flash=refresh_failed", tokenkeeper.StatusConnected},
		{"refresh refused", s.reauth, "refresh", false, "code=NEEDS_REAUTH&flash=refresh_failed", tokenkeeper.StatusNeedsReauth},
		{"disconnect", s.globexReauth, "disconnect", false, "flash=disconnected", tokenkeeper.StatusDisconnected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.script {
				f.acme.Script(answerTransient)
			}
			status, _, res := c.post("/admin/connections/"+tt.conn.ID+"/"+tt.action, form)
			if loc := res.Header.Get("Location"); status != http.StatusSeeOther || !strings.HasSuffix(loc, tt.conn.ID+"?"+tt.wantTo) {
				t.Errorf("POST = %d to %q, want 303 to …?%s", status, loc, tt.wantTo)
			}
			if got := f.get(tt.conn.ID).Status; got != tt.wantStat {
				t.Errorf("status %s, want %s", got, tt.wantStat)
			}
			_, page, _ := c.get(res.Header.Get("Location"))
			if !strings.Contains(page, `id="flash"`) || !strings.Contains(page, `badge st-`+string(tt.wantStat)) {
				t.Errorf("the page after the action shows no flash or not the status %s", tt.wantStat)
			}
		})
	}

	t.Run("reconnect link", func(t *testing.T) {
		status, body, _ := c.post("/admin/connections/"+s.reauth.ID+"/reconnect-link", form, "Accept", "application/json")
		var got struct{ URL string }
		if err := json.Unmarshal([]byte(body), &got); status != http.StatusOK || err != nil || !strings.Contains(got.URL, "reconnect="+s.reauth.ID) {
			t.Errorf("reconnect link = %d %q", status, body)
		}
		status, body, _ = c.post("/admin/connections/"+s.reauth.ID+"/reconnect-link", form)
		if status != http.StatusOK || !strings.Contains(body, `value="https://tokenkeeper.example/v1/connect/acme?reconnect=`+s.reauth.ID) {
			t.Errorf("reconnect link without JavaScript = %d, the link is not in the page", status)
		}
	})
	t.Run("retry", func(t *testing.T) {
		id := s.dead[1].ID
		for _, want := range []string{"/admin/outbox?flash=retried", "/admin/outbox?flash=not_dead"} {
			status, _, res := c.post("/admin/outbox/"+id+"/retry", form)
			if status != http.StatusSeeOther || res.Header.Get("Location") != want {
				t.Errorf("retry = %d to %q, want 303 to %s", status, res.Header.Get("Location"), want)
			}
		}
		if d, err := f.store.GetDelivery(t.Context(), id); err != nil || d.Status != tokenkeeper.DeliveryPending || d.RetriedAt.IsZero() {
			t.Errorf("the retried delivery: %+v, %v", d, err)
		}
		if status, _, _ := c.post("/admin/outbox/dlv_unknown/retry", form); status != http.StatusNotFound {
			t.Errorf("retry of an unknown delivery = %d, want 404", status)
		}
	})
	t.Run("notifications", func(t *testing.T) {
		_, page, _ := c.get("/admin/connections/" + s.reauth.ID)
		if !strings.Contains(page, "connection.needs_reauth") || !strings.Contains(page, "needs your attention") {
			t.Error("the connection page does not show its notification")
		}
		_, page, _ = c.get("/admin/outbox?status=dead")
		if !strings.Contains(page, s.dead[0].ID) || !strings.Contains(page, "webhook answered HTTP 500") {
			t.Error("the outbox does not show the dead delivery")
		}
	})
	t.Run("unknown connection", func(t *testing.T) {
		for _, p := range []string{"/admin/connections/conn_unknown", "/admin/connections/..%2f"} {
			if status, _, _ := c.get(p); status != http.StatusNotFound {
				t.Errorf("GET %s = %d, want 404", p, status)
			}
		}
		if status, _, _ := c.post("/admin/connections/conn_unknown/refresh", form); status != http.StatusNotFound {
			t.Errorf("refresh of an unknown connection = %d, want 404", status)
		}
	})
}

func TestNotConfigured(t *testing.T) {
	t.Parallel()
	f := setup(t, options{noOutbox: true, noReconnect: true})
	s := f.seed()
	c := f.client()
	token := c.login(f.adminKey)
	_, page, _ := c.get("/admin/outbox")
	if !strings.Contains(page, "Notifications are not configured") {
		t.Error("the outbox page does not say notifications are not configured")
	}
	_, page, _ = c.get("/admin/connections/" + s.reauth.ID)
	if !strings.Contains(page, "Notifications are not configured") || strings.Contains(page, "data-reconnect") {
		t.Error("the connection page offers what is not configured")
	}
	if status, _, _ := c.post("/admin/connections/"+s.reauth.ID+"/reconnect-link", url.Values{"csrf": {token}}); status != http.StatusNotFound {
		t.Errorf("reconnect link without a linker = %d, want 404", status)
	}
	if status, _, _ := c.get("/admin/"); status != http.StatusOK {
		t.Errorf("overview without an outbox = %d", status)
	}
}

func TestEmptyOverview(t *testing.T) {
	t.Parallel()
	f := setup(t, options{})
	c := f.client()
	c.login(f.adminKey)
	_, page, _ := c.get("/admin/")
	if !strings.Contains(page, "No connections yet") {
		t.Error("an empty installation's overview does not say so")
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	f := setup(t, options{})
	c := f.client()
	for _, p := range []string{"/admin/login", "/admin/assets/admin.css", "/admin/nope"} {
		_, _, res := c.get(p)
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", p, csp)
		}
	}
	_, _, res := c.get("/admin/assets/admin.js")
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("admin.js Content-Type %q", ct)
	}
}

func TestChart(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	counts := []tokenkeeper.AttemptCount{
		{Provider: "acme", Bucket: start, Class: tokenkeeper.ClassSuccess, Count: 3},
		{Provider: "acme", Bucket: start, Class: tokenkeeper.ClassTransient, Count: 1},
		{Provider: "acme", Bucket: start.Add(2 * time.Hour), Class: tokenkeeper.ClassSuccess, Count: 8},
		{Provider: "acme", Bucket: start.Add(-time.Hour), Class: tokenkeeper.ClassSuccess, Count: 100}, // before the chart
	}
	c := buildChart("test", counts, start, time.Hour, 4, 2, func(t time.Time) string { return t.Format("15") })
	if c.Total != 12 || math.Abs(c.Rate-11.0/12) > 1e-9 {
		t.Errorf("total %d rate %v, want 12 and 11/12", c.Total, c.Rate)
	}
	if len(c.Bars) != 4 || len(c.Bars[0].Segs) != 2 || len(c.Bars[1].Segs) != 0 || len(c.Bars[2].Segs) != 1 {
		t.Fatalf("bars %+v", c.Bars)
	}
	if c.CountTicks[2].Label != "8" { // the top tick: the tallest bar, rounded
		t.Errorf("top tick %q, want 8", c.CountTicks[2].Label)
	}
	if h := c.Bars[2].Segs[0].H; math.Abs(h-c.PlotH) > 1e-9 {
		t.Errorf("the tallest bar is %v high, want the plot's %v", h, c.PlotH)
	}
	if len(c.RateLines) != 2 { // bucket 1 has no attempts: the line has a gap
		t.Errorf("rate lines %q, want 2 pieces", c.RateLines)
	}
	if len(c.XLabels) != 2 || c.XLabels[1].Label != "02" {
		t.Errorf("x labels %+v", c.XLabels)
	}
	for _, tt := range []struct{ in, want int }{{0, 4}, {3, 4}, {5, 6}, {9, 10}, {11, 20}, {97, 100}, {101, 200}, {650, 800}} {
		if got := niceMax(tt.in); got != tt.want {
			t.Errorf("niceMax(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
