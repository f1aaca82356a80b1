package oauth

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tokenkeeper/tokenkeeper"
)

const (
	// maxRetryAfter caps a provider's Retry-After.
	maxRetryAfter = 24 * time.Hour
	// maxMessageRunes and maxCodeBytes bound Outcome.Message and Outcome.Code.
	maxMessageRunes = 200
	maxCodeBytes    = 64
	// minSecretLen is the shortest secret worth redacting: shorter strings
	// occur in any text.
	minSecretLen = 6
	redactedText = "[REDACTED]"
)

// Error codes grouped by the class they produce, compared in lower case.
// invalid_grant is decided by its description (classifyCode).
var (
	revokedCodes   = []string{"bad_refresh_token", "invalid_refresh_token", "token_revoked"}
	configCodes    = []string{"invalid_client", "unauthorized_client", "incorrect_client_credentials", "invalid_client_id", "bad_client_secret"}
	transientCodes = []string{"temporarily_unavailable", "server_error", "slow_down", "ratelimited", "rate_limited"}
	// revokedWords in an invalid_grant description say the grant is gone.
	revokedWords = []string{"revoked", "expired", "invalid", "not found", "unknown", "bad", "malformed"}
)

// classifyCode returns the class of a provider error code with its
// description and, for Graph-style errors, numeric code.
func classifyCode(code, desc string, graphCode int64) tokenkeeper.Class {
	c := strings.ToLower(code)
	switch {
	case graphCode == 190:
		return tokenkeeper.ClassRevoked
	case c == "invalid_grant":
		d := strings.ToLower(desc)
		if strings.Contains(d, "aadsts50196") {
			return tokenkeeper.ClassTransient
		}
		for _, w := range revokedWords {
			if strings.Contains(d, w) {
				return tokenkeeper.ClassRevoked
			}
		}
		return tokenkeeper.ClassPermanent
	case contains(revokedCodes, c):
		return tokenkeeper.ClassRevoked
	case contains(configCodes, c):
		return tokenkeeper.ClassConfig
	case contains(transientCodes, c):
		return tokenkeeper.ClassTransient
	}
	return tokenkeeper.ClassPermanent
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// transientStatus reports whether an HTTP status means "try again later".
func transientStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500 && status <= 599
}

// statusCode returns our code for an HTTP status: "http_503".
func statusCode(status int) string { return "http_" + strconv.Itoa(status) }

// retryAfter reads a Retry-After header, as delta-seconds or an HTTP-date
// relative to now, clamped to [0, 24h]; ok is false when there is none or it
// cannot be read.
func retryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) {
			return 0, false
		}
		if secs >= maxRetryAfter.Seconds() {
			return maxRetryAfter, true
		}
		return max(0, time.Duration(math.Round(secs*float64(time.Second)))), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(0, t.Sub(now)), maxRetryAfter), true
}

// sanitizeCode restricts a provider error code to [A-Za-z0-9_.:-] and 64
// bytes; a code that shows a secret becomes "redacted_error_code".
func sanitizeCode(code string, secrets []string) string {
	b := []byte(code)
	if len(b) > maxCodeBytes {
		b = b[:maxCodeBytes]
	}
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == ':', c == '-':
		default:
			b[i] = '_'
		}
	}
	out := string(b)
	if showsSecret(out, secrets) {
		return "redacted_error_code"
	}
	return out
}

// sanitizeMessage makes a provider's description safe to store and show:
// valid UTF-8, control characters and runs of space folded into one space,
// secrets replaced by [REDACTED], at most 200 runes. It returns fallback when
// the result is empty or would still show a secret.
func sanitizeMessage(desc string, secrets []string, fallback string) string {
	if desc == "" {
		return fallback
	}
	desc = redact(strings.ToValidUTF8(redact(desc, secrets), ""), secrets)
	desc = strings.Join(strings.FieldsFunc(desc, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }), " ")
	desc = redact(desc, secrets)
	if utf8.RuneCountInString(desc) > maxMessageRunes {
		n := 0
		for i := range desc {
			if n == maxMessageRunes {
				desc = desc[:i]
				break
			}
			n++
		}
	}
	if desc == "" || showsSecret(desc, secrets) {
		return fallback
	}
	return desc
}

// redact replaces every secret in s by [REDACTED].
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= minSecretLen && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, redactedText)
		}
	}
	return s
}

// showsSecret reports whether s contains one of the secrets.
func showsSecret(s string, secrets []string) bool {
	for _, sec := range secrets {
		if len(sec) >= minSecretLen && strings.Contains(s, sec) {
			return true
		}
	}
	return false
}
