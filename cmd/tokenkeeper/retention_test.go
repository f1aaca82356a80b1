package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
)

// TestHistoryRetentionSetting: history_retention defaults to 30 days and is
// read from the YAML file, the environment and serve's --history-retention,
// in that order of precedence; 0 (keep forever) and 24h or more are
// accepted, negative values and values under 24h refused.
func TestHistoryRetentionSetting(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "tokenkeeper.yaml")
	if err := os.WriteFile(file, []byte("history_retention: 2160h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(vars map[string]string, args ...string) (time.Duration, error) {
		t.Helper()
		cfg, err := loadServeConfig(t, vars, args...)
		return cfg.HistoryRetention, err
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want time.Duration
	}{
		{"default", nil, nil, 30 * 24 * time.Hour},
		{"file", map[string]string{"TOKENKEEPER_CONFIG": file}, nil, 90 * 24 * time.Hour},
		{"environment over file", map[string]string{"TOKENKEEPER_CONFIG": file, "TOKENKEEPER_HISTORY_RETENTION": "168h"}, nil, 7 * 24 * time.Hour},
		{"flag over environment", map[string]string{"TOKENKEEPER_HISTORY_RETENTION": "168h"}, []string{"--history-retention", "24h"}, 24 * time.Hour},
		{"off", map[string]string{"TOKENKEEPER_HISTORY_RETENTION": "0"}, nil, 0},
	} {
		got, err := load(tc.env, tc.args...)
		if err != nil || got != tc.want {
			t.Errorf("%s: history_retention = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	for _, bad := range []string{"-24h", "1h", "23h59m59s", "a month"} {
		if got, err := load(map[string]string{"TOKENKEEPER_HISTORY_RETENTION": bad}); err == nil {
			t.Errorf("history_retention %q accepted as %v", bad, got)
		}
	}
}

// TestServePurgesHistory: serve purges the refresh attempts older than
// history_retention once it has started, and counts them in
// tokenkeeper_history_purged_rows_total; with history_retention 0 it keeps
// them.
func TestServePurgesHistory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		retention string
		logLine   string
		left      int
	}{
		{"720h", `"msg":"history purged"`, 1},
		{"0", "kept forever", 2},
	} {
		t.Run("retention "+tc.retention, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, nil)
			e.vars["TOKENKEEPER_HISTORY_RETENTION"] = tc.retention
			id := e.storeAttempts(time.Now().Add(-40*24*time.Hour), time.Now().Add(-time.Hour))
			base := e.serve()
			e.waitForLog(tc.logLine)
			if n := len(e.readAttempts(id)); n != tc.left {
				t.Errorf("attempts left = %d, want %d", n, tc.left)
			}
			if tc.retention == "0" {
				return
			}
			resp, err := http.Get(base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if want := `tokenkeeper_history_purged_rows_total{table="refresh_attempts"} 1`; !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %s:\n%s", want, body)
			}
		})
	}
}

// storeAttempts migrates the environment's database and stores a
// connection with one refresh attempt at each time, and returns its id.
func (e *testEnv) storeAttempts(at ...time.Time) string {
	e.t.Helper()
	if _, err := e.run("", "migrate"); err != nil {
		e.t.Fatalf("migrate: %v", err)
	}
	st := e.openSQLite()
	defer st.Close()
	c := storetest.NewConnection(time.Now())
	if err := st.CreateConnection(e.t.Context(), c, nil); err != nil {
		e.t.Fatal(err)
	}
	var as []tokenkeeper.RefreshAttempt
	for _, t := range at {
		as = append(as, tokenkeeper.RefreshAttempt{ConnectionID: c.ID, At: t, Trigger: tokenkeeper.TriggerScheduler, Class: tokenkeeper.ClassSuccess})
	}
	if err := st.AddAttempts(e.t.Context(), as); err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}

// readAttempts returns a connection's stored attempts.
func (e *testEnv) readAttempts(id string) []tokenkeeper.RefreshAttempt {
	e.t.Helper()
	st := e.openSQLite()
	defer st.Close()
	as, err := st.ListAttempts(e.t.Context(), id, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return as
}

func (e *testEnv) openSQLite() *sqlite.Store {
	e.t.Helper()
	st, err := sqlite.Open(e.t.Context(), filepath.Join(e.dir, "tokenkeeper.db"), sqlite.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// waitForLog returns once the logs contain s, and fails the test when they
// do not within 30 seconds.
func (e *testEnv) waitForLog(s string) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(e.logs.String(), s) {
		if time.Now().After(deadline) {
			e.t.Fatalf("the logs never said %q:\n%s", s, e.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
