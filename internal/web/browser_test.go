package web

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tokenkeeper/tokenkeeper"

	"github.com/tokenkeeper/tokenkeeper/internal/testenv"
)

// artifactDir returns where screenshots go: $TOKENKEEPER_TEST_ARTIFACTS/name
// when set (CI keeps that directory), else a temporary directory.
func artifactDir(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	if base := os.Getenv("TOKENKEEPER_TEST_ARTIFACTS"); base != "" {
		dir = filepath.Join(base, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// browser starts a headless Chromium with a fresh profile and returns a
// chromedp context that ends with the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := testenv.LookPath(t, testenv.Browser, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 900),
	}
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}

// tab drives one browser tab: each step fails the test on error.
type tab struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	pages map[string]string // the HTML of every screenshot, for the secrets check
}

// do runs actions in order.
func (s *tab) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	if err := chromedp.Do(s.ctx, actions...); err != nil {
		s.t.Fatalf("%s: %v", step, err)
	}
}

// text returns the visible text of the first element matching a CSS selector.
func (s *tab) text(css string) string {
	s.t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		s.t.Fatalf("text of %s: %v", css, err)
	}
	return strings.TrimSpace(v)
}

// value returns the value of a form field.
func (s *tab) value(css string) string {
	s.t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Value(chromedp.CSS(css)))
	if err != nil {
		s.t.Fatalf("value of %s: %v", css, err)
	}
	return v
}

// shot saves a full-page PNG screenshot and keeps the page's HTML.
func (s *tab) shot(name string) {
	s.t.Helper()
	png, err := chromedp.Run(s.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	html, err := chromedp.Run(s.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		s.t.Fatalf("html of %s: %v", name, err)
	}
	s.pages[name] = html
	if err := os.WriteFile(filepath.Join(s.dir, name+".png"), png, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// TestBrowser drives the admin page in Chromium: log in, read the
// overview, filter the connections to needs_reauth, open one, make its
// reconnect link, then open a connection in error and refresh it now
// against the in-process provider, and see its status and history change;
// finally retry a dead delivery and log out. Every page is screenshotted.
func TestBrowser(t *testing.T) {
	t.Parallel()
	b := &tab{t: t, ctx: browser(t), dir: artifactDir(t, "web-browser"), pages: map[string]string{}}
	f := setup(t, options{})
	s := f.seed()
	base := f.srv.URL
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	id := func(s string) chromedp.ID { return chromedp.ID(s) }

	b.do("open the login page", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(id("key")))
	b.shot("01-login")
	b.do("log in",
		chromedp.SendKeys(id("key"), f.adminKey),
		chromedp.Click(id("login")),
		chromedp.WaitVisible(css(".providers")),
	)
	b.shot("02-overview")
	if got := b.text(".summary .st-needs_reauth .num"); got != "2" {
		t.Errorf("overview: %s connections need reauth, want 2", got)
	}

	b.do("filter to needs_reauth",
		chromedp.Click(css(`.mainnav a[href="/admin/connections"]`)),
		chromedp.WaitVisible(id("connections")),
		// Setting the select fires its change event, which submits the filter.
		chromedp.SetValue(css("select[name=status]"), "needs_reauth"),
		chromedp.WaitVisible(css(".filters a.btn.ghost")), // "Clear" appears once filtered
	)
	b.shot("03-needs-reauth")
	rows := b.text("#connections tbody")
	if b.value("select[name=status]") != "needs_reauth" || !strings.Contains(rows, s.reauth.ID) || !strings.Contains(rows, s.globexReauth.ID) || strings.Contains(rows, s.healthy.ID) {
		t.Errorf("the list filtered to needs_reauth shows:\n%s", rows)
	}

	b.do("open a connection that needs reauth",
		chromedp.Click(css(`a[href="/admin/connections/`+s.reauth.ID+`"]`)),
		chromedp.WaitVisible(id("history")),
	)
	disabled, err := chromedp.Run(b.ctx, chromedp.JavascriptAttribute[bool](id("refresh-now"), "disabled"))
	if err != nil {
		t.Fatal(err)
	}
	if got := b.text("#status"); got != "needs reauth" || !disabled {
		t.Errorf("connection that needs reauth: status %q, refresh disabled %v", got, disabled)
	}
	b.do("copy its reconnect link", chromedp.Click(id("copy-reconnect")), chromedp.WaitVisible(id("reconnect-url")))
	b.shot("04-connection-needs-reauth")
	if got := b.value("#reconnect-url"); !strings.Contains(got, "reconnect="+s.reauth.ID) {
		t.Errorf("reconnect link %q", got)
	}

	b.do("open a connection in error",
		chromedp.Navigate(base+"/admin/connections?status=error"),
		chromedp.Click(css(`a[href="/admin/connections/`+s.broken.ID+`"]`)),
		chromedp.WaitVisible(id("history")),
	)
	b.shot("05-connection-error")
	if got, row := b.text("#status"), b.text("#history tbody tr"); got != "error" || !strings.Contains(row, "config") {
		t.Errorf("connection in error: status %q, newest history row %q", got, row)
	}

	b.do("refresh it now", chromedp.Click(id("refresh-now")), chromedp.WaitVisible(id("flash")))
	b.shot("06-after-refresh")
	if got := b.text("#flash"); !strings.HasPrefix(got, "Refreshed") {
		t.Errorf("after refresh now the page says %q", got)
	}
	if got := b.text("#status"); got != "connected" {
		t.Errorf("after refresh now the status is %q, want connected", got)
	}
	if row := b.text("#history tbody tr"); !strings.Contains(row, "manual") || !strings.Contains(row, "success") {
		t.Errorf("after refresh now the newest history row is %q, want a manual success", row)
	}

	b.do("open the outbox", chromedp.Click(css(`.mainnav a[href="/admin/outbox"]`)), chromedp.WaitVisible(css("nav.tabs")))
	b.shot("07-outbox")
	b.do("retry a dead delivery",
		chromedp.Click(css(`form[action="/admin/outbox/`+s.dead[0].ID+`/retry"] button`)),
		chromedp.WaitVisible(id("flash")),
	)
	if got := b.text("#flash"); !strings.Contains(got, "queued") {
		t.Errorf("after retry the page says %q", got)
	}
	if d, err := f.store.GetDelivery(context.Background(), s.dead[0].ID); err != nil || d.Status != tokenkeeper.DeliveryPending {
		t.Errorf("the retried delivery is %v (%v), want pending", d, err)
	}

	b.do("log out",
		chromedp.Click(css(".logout button")),
		chromedp.WaitVisible(id("key")),
		chromedp.Navigate(base+"/admin/"),
		chromedp.WaitVisible(id("key")),
	)

	for name, html := range b.pages {
		f.noSecrets("page "+name, html)
	}
	f.noSecrets("the logs", f.logs.String())
}
