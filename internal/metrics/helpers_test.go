package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tokenkeeper/tokenkeeper/internal/testkit"
)

type catalog = testkit.Catalog

type syncBuffer = testkit.SyncBuffer

// scrape fetches the metrics through the handler and parses them.
func scrape(t *testing.T, h http.Handler) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	text := rec.Body.String()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse the metrics: %v\n%s", err, text)
	}
	return fams, text
}

// value returns the value of the metric of family name whose labels are
// exactly labels ("k=v" pairs); for a histogram, its sample count.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	t.Helper()
	fam, ok := fams[name]
	if !ok {
		return 0, false
	}
	want := strings.Join(labels, ",")
	for _, m := range fam.GetMetric() {
		var got []string
		for _, lp := range m.GetLabel() {
			got = append(got, lp.GetName()+"="+lp.GetValue())
		}
		if strings.Join(got, ",") != want {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}
