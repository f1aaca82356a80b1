package metrics

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// allSources is a store and every optional source, answering fixed numbers.
type allSources struct{ tokenkeeper.Store }

func (allSources) CountConnections(context.Context) ([]tokenkeeper.StatusCount, error) {
	return []tokenkeeper.StatusCount{{Provider: "acme", Status: tokenkeeper.StatusConnected, Count: 1}}, nil
}

func (allSources) NextDue(context.Context) (time.Time, bool, error) { return time.Time{}, false, nil }

func (allSources) CountExpiring(_ context.Context, cutoffs []time.Time) ([]tokenkeeper.ExpiringCount, error) {
	var out []tokenkeeper.ExpiringCount
	for _, c := range cutoffs {
		out = append(out, tokenkeeper.ExpiringCount{Provider: "acme", Before: c, Count: 1})
	}
	return out, nil
}

func (allSources) CountAttempts(context.Context, time.Time, time.Time, time.Duration) ([]tokenkeeper.AttemptCount, error) {
	return nil, nil
}

// TestAlertsUseExportedMetrics checks that every tokenkeeper_ metric that
// docs/alerts.yml names is one this package exports, and, when promtool is
// installed, that the rules are valid and pass docs/alerts_test.yml.
func TestAlertsUseExportedMetrics(t *testing.T) {
	t.Parallel()
	src := allSources{}
	m, err := New(Options{
		Store: src, Stats: src, NoRuntime: true,
		Breakers: func(time.Time) map[string]string { return map[string]string{"acme": "closed"} },
		Deliveries: func(context.Context) ([]tokenkeeper.DeliveryCount, error) {
			return []tokenkeeper.DeliveryCount{{Channel: "email", Status: "dead", Count: 1}}, nil
		},
		Undispatched: func(context.Context) (int, error) { return 0, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveAttempt("acme", tokenkeeper.RefreshAttempt{Class: tokenkeeper.ClassSuccess})
	m.ObserveResponse("GET /healthz", 200, time.Millisecond)
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range fams {
		exported[f.GetName()] = true
	}
	rules, err := os.ReadFile("../../docs/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`tokenkeeper_[a-z_]+`).FindAllString(string(rules), -1)
	if len(used) == 0 {
		t.Fatal("docs/alerts.yml names no metric")
	}
	for _, name := range used {
		if !exported[name] {
			t.Errorf("docs/alerts.yml uses %s, which is not exported", name)
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed: the rules' syntax and unit tests are not checked")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.CommandContext(t.Context(), promtool, args...)
		cmd.Dir = "../../docs"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
