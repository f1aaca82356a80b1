package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tokenkeeper/tokenkeeper"
)

// maxDuration bounds durations given in requests (about 100 years), so that
// seconds never overflow a time.Duration.
const maxDuration = 100 * 365 * 24 * time.Hour

// maxListLimit is the largest page GET /v1/connections returns.
const maxListLimit = 1000

// maxCursorLen bounds a list cursor.
const maxCursorLen = 512

// maxScopeLen bounds one scope of a link body.
const maxScopeLen = 512

// parseDuration parses a duration parameter: a Go duration ("90s", "1h30m")
// or a whole number of seconds ("300"). Negative, unparsable and absurdly
// large values are INVALID_REQUEST errors naming the parameter.
func parseDuration(name, s string) (time.Duration, error) {
	var d time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > int64(maxDuration/time.Second) {
			return 0, invalid("%s must be between 0 and %d seconds", name, int64(maxDuration/time.Second))
		}
		d = time.Duration(n) * time.Second
	} else {
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, invalid(`%s must be a duration such as "5m" or "1h30m", or a number of seconds`, name)
		}
		if d < 0 || d > maxDuration {
			return 0, invalid("%s must be between 0 and %s", name, maxDuration)
		}
	}
	return d, nil
}

// queryDuration returns the named query parameter as a duration, 0 when absent.
func queryDuration(q url.Values, name string) (time.Duration, error) {
	if !q.Has(name) {
		return 0, nil
	}
	return parseDuration(name, q.Get(name))
}

// checkID returns an INVALID_REQUEST error naming what when s is not a valid
// id (tokenkeeper.ValidID): ids never reach the store unchecked.
func checkID(what, s string) error {
	if !tokenkeeper.ValidID(s) {
		return invalid("%s must be 1 to 200 letters, digits or -_.:@+", what)
	}
	return nil
}

// pathID returns the validated path parameter name.
func pathID(r *http.Request, name, what string) (string, error) {
	id := r.PathValue(name)
	return id, checkID(what, id)
}

// queryID returns the validated query parameter name, "" when absent.
func queryID(q url.Values, name string) (string, error) {
	if !q.Has(name) {
		return "", nil
	}
	v := q.Get(name)
	return v, checkID(name, v)
}

// listFilter reads GET /v1/connections' query parameters.
func listFilter(q url.Values, now time.Time) (tokenkeeper.ConnectionFilter, error) {
	var f tokenkeeper.ConnectionFilter
	var err error
	if f.UserID, err = queryID(q, "user_id"); err != nil {
		return f, err
	}
	if f.Provider, err = queryID(q, "provider"); err != nil {
		return f, err
	}
	if q.Has("status") {
		if f.Status, err = tokenkeeper.ParseStatus(q.Get("status")); err != nil {
			return f, invalid("status must be one of %s", statusNames())
		}
	}
	if q.Has("expiring_within") {
		d, err := parseDuration("expiring_within", q.Get("expiring_within"))
		if err != nil {
			return f, err
		}
		f.ExpiringBefore = now.Add(d)
	}
	if q.Has("cursor") {
		f.After = q.Get("cursor")
		if f.After == "" || len(f.After) > maxCursorLen || !utf8.ValidString(f.After) || strings.ContainsFunc(f.After, isControl) {
			return f, invalid("cursor is not a cursor this API returned")
		}
	}
	f.Limit = 100
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > maxListLimit {
			return f, invalid("limit must be an integer from 1 to %d", maxListLimit)
		}
		f.Limit = n
	}
	return f, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func statusNames() string {
	names := make([]string, len(tokenkeeper.Statuses))
	for i, st := range tokenkeeper.Statuses {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}
