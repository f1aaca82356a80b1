package bench

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunTiny runs every part at the tiny scale and checks that each one
// produced rows and none failed. It asserts nothing about speed.
func TestRunTiny(t *testing.T) {
	t.Parallel()
	rep, err := Run(context.Background(), Options{
		Scale: TinyScale(), TempDir: t.TempDir(),
		PostgresURL: os.Getenv("TOKENKEEPER_TEST_POSTGRES_URL"),
	})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int{}
	for _, r := range rep.Rows {
		if r.Name == "part failed" {
			t.Errorf("%s failed: %s", r.Part, r.Note)
		}
		rows[r.Part]++
	}
	for _, p := range Parts {
		if rows[p] == 0 {
			t.Errorf("part %s produced no row", p)
		}
	}
	md := rep.Markdown()
	if !strings.Contains(md, "| part | measure | tokenkeeper | baseline | ratio | target | verdict |") {
		t.Errorf("no table in:\n%s", md)
	}
	t.Log("\n" + md)
}

// TestWriteDocKeepsTheText: the results go between the markers; the text
// around them survives a rewrite.
func TestWriteDocKeepsTheText(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	rep := &Report{Scale: "tiny", Machine: ReadMachine(), Started: time.Now()}
	rep.add(Row{Part: PartScale, Name: "first run", Ours: "1"})
	if err := os.WriteFile(path, []byte("# Benchmarks\n\nMethod.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteDoc(path, rep); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append(b, "\nFindings.\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	rep.Rows = nil
	rep.add(Row{Part: PartScale, Name: "second run", Ours: "2"})
	if err := WriteDoc(path, rep); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	doc := string(b)
	for _, want := range []string{"Method.", "second run", "Findings.", beginMarker, endMarker} {
		if !strings.Contains(doc, want) {
			t.Errorf("the document lacks %q:\n%s", want, doc)
		}
	}
	if strings.Contains(doc, "first run") || strings.Count(doc, beginMarker) != 1 {
		t.Errorf("the old results were not replaced:\n%s", doc)
	}
}

// TestProviderRotates: a refresh rotates the refresh token, the old one is
// refused and counted as a reuse, and an error rate of 1 fails everything.
func TestProviderRotates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p, err := StartProvider(ProviderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	id, rt := p.Grant(0)
	next, err := rawRefresh(ctx, http.DefaultClient, p.TokenURL(), rt.Reveal())
	if err != nil || next == "" || next == rt.Reveal() {
		t.Fatalf("refresh: next=%q err=%v", next, err)
	}
	if _, err := rawRefresh(ctx, http.DefaultClient, p.TokenURL(), rt.Reveal()); err == nil {
		t.Fatal("a rotated-away refresh token was accepted")
	}
	if n, _ := p.GrantRefreshes(id); n != 1 {
		t.Fatalf("grant refreshed %d times, want 1", n)
	}
	if st := p.Stats(); st.Refreshes != 1 || st.Reuses != 1 {
		t.Fatalf("stats %+v", st)
	}

	failing, err := StartProvider(ProviderOptions{ErrorRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer failing.Close()
	_, rt = failing.Grant(0)
	if _, err := rawRefresh(ctx, http.DefaultClient, failing.TokenURL(), rt.Reveal()); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("want a 503, got %v", err)
	}
	if st := failing.Stats(); st.Failures != 1 || st.Refreshes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSimulations: with spare capacity tokenkeeper's policy lets nothing
// expire; a cron job one by one that cannot keep up lets tokens expire.
func TestSimulations(t *testing.T) {
	t.Parallel()
	provs, err := mixProviders(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := simParams{members: population(1000, simStart, 1), providers: provs, start: simStart, warmup: 30 * time.Minute, span: 2 * time.Hour, workers: 8, seed: 2}
	tests := []struct {
		name        string
		cost        time.Duration
		run         func(simParams) simResult
		wantExpired bool
	}{
		{"scheduler, free refreshes", 0, simulateScheduler, false},
		{"scheduler, 100 ms refreshes", 100 * time.Millisecond, simulateScheduler, false},
		{"cron one by one, free refreshes", 0, func(p simParams) simResult { return simulateCron(p, cronInterval, cronWindow, 1) }, false},
		{"cron one by one, 2 s refreshes", 2 * time.Second, func(p simParams) simResult { return simulateCron(p, cronInterval, cronWindow, 1) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := p
			q.cost = tt.cost
			r := tt.run(q)
			if r.refreshes == 0 || r.expiries == 0 {
				t.Fatalf("refreshes %d, expiries %d", r.refreshes, r.expiries)
			}
			if got := r.expired > 0; got != tt.wantExpired {
				t.Fatalf("expired %d of %d, want some: %v", r.expired, r.expiries, tt.wantExpired)
			}
		})
	}
}
