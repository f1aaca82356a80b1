package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tokenkeeper/tokenkeeper"
)

// maxAccountIDLen bounds the account id read from a provider.
const maxAccountIDLen = 200

// Account asks p's account endpoint (p.AccountURL) who accessToken belongs
// to and returns the value at p.AccountIDField, a dotted path into the JSON
// answer ("id", "data.id"); a number is returned in its decimal form. It
// sends one GET with the token as a Bearer credential and the provider's
// RefreshQuirks.Headers (Reddit's User-Agent), follows no redirect, and
// reads at most MaxBodyBytes. Without AccountURL it sends nothing and
// returns "" with a success outcome. Failures are classified like a token
// request: network errors, timeouts, 408, 429 and 5xx are transient; other
// non-2xx answers, and a 2xx without the field, are permanent. The outcome's
// message never holds the token or the answer's body.
func (c *Client) Account(ctx context.Context, p *tokenkeeper.Provider, accessToken tokenkeeper.Secret) (string, tokenkeeper.Outcome) {
	if p == nil {
		return "", *configOutcome("provider_unknown", "no provider configuration")
	}
	if p.AccountURL == "" {
		return "", tokenkeeper.Outcome{Class: tokenkeeper.ClassSuccess}
	}
	u, err := url.Parse(p.AccountURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", *configOutcome("invalid_account_url", "the provider's account URL is not an absolute http(s) URL")
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", *configOutcome("invalid_account_url", "the provider's account URL cannot be requested")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	for k, v := range p.Refresh.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken.Reveal())
	start := c.now()
	id, o := c.account(ctx, req, p)
	c.log.LogAttrs(ctx, slog.LevelDebug, "account request",
		slog.String("provider", p.Name), slog.String("class", string(o.Class)), slog.String("code", o.Code),
		slog.Int("http_status", o.HTTPStatus), slog.Duration("duration", c.now().Sub(start)))
	return id, o
}

// account sends req and reads the account id from the answer.
func (c *Client) account(ctx context.Context, req *http.Request, p *tokenkeeper.Provider) (string, tokenkeeper.Outcome) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", transportOutcome(ctx, err, 0)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	switch {
	case int64(len(body)) > c.maxBody:
		return "", failure(tokenkeeper.ClassTransient, "response_too_large", "the account endpoint's answer exceeds the size limit", resp.StatusCode)
	case err != nil:
		return "", transportOutcome(ctx, err, resp.StatusCode)
	case transientStatus(resp.StatusCode):
		o := failure(tokenkeeper.ClassTransient, statusCode(resp.StatusCode), "the account endpoint answered HTTP "+http.StatusText(resp.StatusCode), resp.StatusCode)
		o.RetryAfter, _ = retryAfter(resp.Header, c.now())
		return "", o
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return "", failure(tokenkeeper.ClassPermanent, statusCode(resp.StatusCode), "the account endpoint refused the access token with HTTP "+http.StatusText(resp.StatusCode), resp.StatusCode)
	}
	id, ok := AccountID(body, p.AccountIDField)
	if !ok {
		return "", failure(tokenkeeper.ClassPermanent, "account_id_missing", "the account endpoint's answer has no usable "+strconv.Quote(p.AccountIDField), resp.StatusCode)
	}
	return id, tokenkeeper.Outcome{Class: tokenkeeper.ClassSuccess, HTTPStatus: resp.StatusCode}
}

// AccountID reads the value at a dotted path ("id", "data.user.id") of a
// JSON object: a non-empty string of at most 200 bytes without control
// characters, or an integer (returned in decimal). An empty path means "id".
// It reports false for anything else, whatever the input.
func AccountID(body []byte, path string) (string, bool) {
	if path == "" {
		path = "id"
	}
	raw := json.RawMessage(body)
	for part := range strings.SplitSeq(path, ".") {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return "", false
		}
		var ok bool
		if raw, ok = obj[part]; !ok {
			return "", false
		}
	}
	raw = bytes.TrimSpace(raw)
	if s, ok := jsonString(raw); ok {
		if s == "" || len(s) > maxAccountIDLen || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return "", false
		}
		return s, true
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var n json.Number
	if dec.Decode(&n) != nil {
		return "", false
	}
	if i, err := n.Int64(); err == nil {
		return strconv.FormatInt(i, 10), true
	}
	return "", false
}
