package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
	"github.com/tokenkeeper/tokenkeeper/internal/clock"
	"github.com/tokenkeeper/tokenkeeper/internal/httpapi"
)

// reads measures token reads over HTTP on every database, then in process.
func (h *harness) reads(ctx context.Context) error {
	for i, kind := range h.databases() {
		if err := h.readsOn(ctx, kind, i == 0); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
	}
	return nil
}

// readFixture is the real HTTP API on a database of fresh connections.
type readFixture struct {
	e    *engine
	ids  []string
	urls []string
	key  string
	body []byte
}

func (h *harness) readsOn(ctx context.Context, kind string, first bool) error {
	prov, err := StartProvider(ProviderOptions{})
	if err != nil {
		return err
	}
	defer prov.Close()
	db, err := h.openDB(ctx, kind, "reads")
	if err != nil {
		return err
	}
	defer db.Close()
	e, err := newEngine(db.store, catalogMap{"bench": prov.Provider("bench")}, clock.Real{})
	if err != nil {
		return err
	}
	now := time.Now()
	specs := make([]seedSpec, h.s.ReadConnections)
	for i := range specs {
		g, rt := prov.Grant(time.Hour)
		specs[i] = seedSpec{provider: "bench", lifetime: time.Hour, expiresAt: now.Add(time.Hour), linkedAt: now, refresh: rt, grant: g}
	}
	conns, err := e.seed(ctx, specs)
	if err != nil {
		return err
	}
	key, k, err := apikey.Generate("bench", []tokenkeeper.Scope{tokenkeeper.ScopeTokensRead}, now)
	if err != nil {
		return err
	}
	if err := db.store.CreateAPIKey(ctx, k); err != nil {
		return err
	}
	// The API key cache as serve configures it by default (api_key_cache_ttl).
	api := httpapi.NewServer(httpapi.Config{Keeper: e.keeper, Store: db.store, Catalog: e.catalog, Logger: discardLogger(), Version: "bench", APIKeyCacheTTL: 5 * time.Second})
	apiURL, stopAPI, err := serveLoopback(api)
	if err != nil {
		return err
	}
	defer stopAPI()
	f := &readFixture{e: e, key: key.Reveal()}
	for _, c := range conns {
		f.ids = append(f.ids, c.id)
		f.urls = append(f.urls, apiURL+"/v1/connections/"+c.id+"/token")
	}
	if f.body, err = fetch(ctx, f.urls[0], f.key); err != nil {
		return err
	}
	body := f.body
	bareURL, stopBare, err := serveLoopback(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	}))
	if err != nil {
		return err
	}
	defer stopBare()
	bareURLs := make([]string, len(f.urls))
	for i := range bareURLs {
		bareURLs[i] = bareURL + "/v1/connections/" + f.ids[i] + "/token"
	}
	if err := h.compareReads(ctx, kind, f, bareURLs, true); err != nil {
		return err
	}
	if first && h.s.InProcess {
		return h.inProcess(ctx, f)
	}
	return nil
}

// compareReads alternates the two servers Repeats times. Each repetition
// measures both at saturation, then both, open loop, at half of the
// saturation rate tokenkeeper just reached. It reports the medians over the
// repetitions of the rates, their ratio and the latency percentiles.
func (h *harness) compareReads(ctx context.Context, kind string, f *readFixture, bareURLs []string, profile bool) error {
	conc, reps := h.s.ReadConcurrency, max(h.s.Repeats, 1)
	hc, closeIdle := newLoadClient(conc * 4)
	defer closeIdle()
	warm := h.s.ReadTime / 5
	workers := max(2*conc, 32)
	var ours, bare, oursHalf, bareHalf []loadResult
	for rep := range reps {
		b := closedLoop(ctx, conc, warm, h.s.ReadTime, httpGetter(hc, bareURLs, f.key))
		stop := func() {}
		if profile && rep == 0 {
			stop = h.profile("reads-" + kind)
		}
		o := closedLoop(ctx, conc, warm, h.s.ReadTime, httpGetter(hc, f.urls, f.key))
		stop()
		if err := loadErr(b, o); err != nil {
			return err
		}
		rate := o.rate / 2
		bh := openLoop(ctx, rate, workers, h.s.ReadTime, httpGetter(hc, bareURLs, f.key))
		oh := openLoop(ctx, rate, workers, h.s.ReadTime, httpGetter(hc, f.urls, f.key))
		if err := loadErr(bh, oh); err != nil {
			return err
		}
		ours, bare, oursHalf, bareHalf = append(ours, o), append(bare, b), append(oursHalf, oh), append(bareHalf, bh)
	}
	ratios := make([]float64, reps)
	for i := range ratios {
		ratios[i] = ours[i].rate / bare[i].rate
	}
	ratio := median(ratios)
	h.rep.add(Row{
		Part: PartReads, Name: fmt.Sprintf("GET …/token, fresh tokens, %s, saturation (closed loop, %d clients) vs a bare net/http handler", kind, conc),
		Ours: fmtRate(medianOf(ours, rateOf), "req"), Base: fmtRate(medianOf(bare, rateOf), "req"), Ratio: ratio, Target: "≥ 0.4", Met: verdict(ratio >= 0.4),
	})
	h.rep.add(Row{
		Part: PartReads, Name: fmt.Sprintf("latency at saturation, %s (p50 / p99)", kind),
		Ours:  fmtDur(medianDur(ours, 50)) + " / " + fmtDur(medianDur(ours, 99)),
		Base:  fmtDur(medianDur(bare, 50)) + " / " + fmtDur(medianDur(bare, 99)),
		Ratio: ratioDur(medianDur(ours, 99), medianDur(bare, 99)),
	})
	p99 := medianDur(oursHalf, 99)
	h.rep.add(Row{
		Part: PartReads, Name: fmt.Sprintf("p99 (p50) at half of tokenkeeper's saturation, %s, open loop at %.0f req/s, both servers", kind, medianOf(oursHalf, rateOf)),
		Ours:  fmtDur(p99) + " (" + fmtDur(medianDur(oursHalf, 50)) + ")",
		Base:  fmtDur(medianDur(bareHalf, 99)) + " (" + fmtDur(medianDur(bareHalf, 50)) + ")",
		Ratio: ratioDur(p99, medianDur(bareHalf, 99)), Target: "p99 < 1 ms", Met: verdict(p99 < time.Millisecond),
	})
	return nil
}

func rateOf(r loadResult) float64 { return r.rate }

// medianOf returns the median of f over runs.
func medianOf(runs []loadResult, f func(loadResult) float64) float64 {
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = f(r)
	}
	return median(xs)
}

// medianDur returns the median over runs of their p-th latency percentile.
func medianDur(runs []loadResult, p float64) time.Duration {
	return time.Duration(medianOf(runs, func(r loadResult) float64 { return float64(percentile(r.lat, p)) }))
}

// loadErr returns the first error of runs, or an error when a run completed
// no request.
func loadErr(runs ...loadResult) error {
	for _, r := range runs {
		if r.err != nil {
			return r.err
		}
		if r.requests == 0 {
			return errors.New("no request completed")
		}
	}
	return nil
}

// inProcess compares Refresher.AccessToken of a fresh token with
// oauth2.ReuseTokenSource handing out its cached token.
func (h *harness) inProcess(ctx context.Context, f *readFixture) error {
	var readErr error
	ours := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, _, err := f.e.keeper.AccessToken(ctx, f.ids[i%len(f.ids)], 0); err != nil && readErr == nil {
				readErr = err
			}
		}
	})
	src := oauth2.ReuseTokenSource(&oauth2.Token{AccessToken: "at_bench", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, failingSource{})
	base := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := src.Token(); err != nil && readErr == nil {
				readErr = err
			}
		}
	})
	if readErr != nil {
		return readErr
	}
	h.rep.add(Row{
		Part: PartReads, Name: "in-process read of a fresh token: Refresher.AccessToken (SQLite) vs oauth2.ReuseTokenSource.Token (ratio of rates)",
		Ours:  fmt.Sprintf("%s/op, %d allocs/op", fmtDur(time.Duration(ours.NsPerOp())), ours.AllocsPerOp()),
		Base:  fmt.Sprintf("%s/op, %d allocs/op", fmtDur(time.Duration(base.NsPerOp())), base.AllocsPerOp()),
		Ratio: float64(base.NsPerOp()) / float64(max(ours.NsPerOp(), 1)),
	})
	return nil
}

// failingSource is ReuseTokenSource's source; it is never reached while the
// cached token is valid.
type failingSource struct{}

func (failingSource) Token() (*oauth2.Token, error) { return nil, errors.New("no new token") }

func ratioDur(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// serveLoopback serves h on a loopback port with serve's timeouts and
// returns its base URL and a function that stops it.
func serveLoopback(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// fetch GETs url with an API key and returns the body of a 200 answer.
func fetch(ctx context.Context, url, apiKey string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET token answered %d", resp.StatusCode)
	}
	return b, err
}
