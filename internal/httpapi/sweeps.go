package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// sweepTimeout bounds one sweep run through the API. The route lifts the
// server's write timeout to it, since a sweep may take longer than a token
// read; larger passes belong to `tokenkeeper sweep`.
const sweepTimeout = 10 * time.Minute

// sweepBody is the optional JSON body of POST /v1/sweeps.
type sweepBody struct {
	Provider string `json:"provider"`
	Status   string `json:"status"`
	// ExpiringWithin is a duration string ("1h", "90m", "3600") or a whole
	// number of seconds.
	ExpiringWithin json.RawMessage `json:"expiring_within"`
	DryRun         bool            `json:"dry_run"`
	Verbose        bool            `json:"verbose"`
}

// sweepView is the JSON shape of a sweep's result. Failed always names every
// failure class; outcomes are present (sorted by connection id) only when the
// request was verbose.
type sweepView struct {
	Checked   int                         `json:"checked"`
	Refreshed int                         `json:"refreshed"`
	Failed    map[tokenkeeper.Class]int   `json:"failed"`
	Skipped   int                         `json:"skipped"`
	Deferred  int                         `json:"deferred"`
	DryRun    bool                        `json:"dry_run"`
	Outcomes  *[]tokenkeeper.SweepOutcome `json:"outcomes,omitempty"`
}

// handleSweep answers POST /v1/sweeps: one pass over the selected
// connections (the due ones, or those expiring within expiring_within),
// with the counts of what it did.
func (s *Server) handleSweep(w http.ResponseWriter, r *http.Request) error {
	data, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	var b sweepBody
	if len(bytes.TrimSpace(data)) > 0 {
		if err := decodeJSON(data, &b); err != nil {
			return err
		}
	}
	req, err := s.sweepRequest(&b)
	if err != nil {
		return err
	}
	if s.cfg.Sweeper == nil {
		return tokenkeeper.Errorf(tokenkeeper.CodeUnavailable, "sweeps are not enabled in this process")
	}
	// A sweep outlives the server's write timeout; extend it for this
	// response only (unsupported writers, as in tests, ignore it).
	// The deadline is the socket's, so it is wall-clock time.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(sweepTimeout + 10*time.Second))
	ctx, cancel := context.WithTimeout(r.Context(), sweepTimeout)
	defer cancel()
	res, err := s.cfg.Sweeper.Sweep(ctx, req, s.cfg.SweepWorkers)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, viewSweep(res, req.Verbose))
	return nil
}

// sweepRequest validates a sweep body.
func (s *Server) sweepRequest(b *sweepBody) (tokenkeeper.SweepRequest, error) {
	req := tokenkeeper.SweepRequest{DryRun: b.DryRun, Verbose: b.Verbose}
	if b.Provider != "" {
		if err := s.knownProvider(b.Provider); err != nil {
			return req, err
		}
		req.Provider = b.Provider
	}
	if b.Status != "" {
		st, err := tokenkeeper.ParseStatus(b.Status)
		if err != nil {
			return req, invalid("status must be one of %s", statusNames())
		}
		req.Status = st
	}
	d, err := jsonDuration("expiring_within", b.ExpiringWithin)
	if err != nil {
		return req, err
	}
	req.ExpiringWithin = d
	return req, nil
}

// jsonDuration parses a duration field given as a string (parseDuration's
// forms) or as a whole number of seconds; absent or null is 0.
func jsonDuration(name string, raw json.RawMessage) (time.Duration, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return 0, nil
	case raw[0] == '"':
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return 0, invalid("%s must be a string or a number of seconds", name)
		}
		return parseDuration(name, str)
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		if strings.ContainsAny(string(raw), ".eE") {
			return 0, invalid("%s must be a whole number of seconds", name)
		}
		return parseDuration(name, string(raw))
	default:
		return 0, invalid(`%s must be a duration such as "1h" or a number of seconds`, name)
	}
}

// viewSweep returns the JSON shape of res.
func viewSweep(res tokenkeeper.SweepResult, verbose bool) sweepView {
	v := sweepView{
		Checked: res.Checked, Refreshed: res.Refreshed, Skipped: res.Skipped, Deferred: res.Deferred, DryRun: res.DryRun,
		Failed: make(map[tokenkeeper.Class]int),
	}
	for _, c := range tokenkeeper.Classes {
		if c != tokenkeeper.ClassSuccess {
			v.Failed[c] = res.Failed[c]
		}
	}
	if verbose {
		out := slices.Clone(res.Outcomes)
		if out == nil {
			out = []tokenkeeper.SweepOutcome{}
		}
		slices.SortFunc(out, func(a, b tokenkeeper.SweepOutcome) int { return strings.Compare(a.ConnectionID, b.ConnectionID) })
		v.Outcomes = &out
	}
	return v
}
