// Package client is the Go client of tokenkeeper's HTTP API, for
// applications: link or import connections, read them, get a valid access
// token, report a token the resource server rejected, disconnect, and start
// the connect flow. TokenSource adapts a connection to golang.org/x/oauth2,
// so a program that already uses x/oauth2 gets its tokens from tokenkeeper
// with no other change.
//
// Every method sends one request (TokenSource's Token, at most one). Errors
// from the API are *Error values carrying the API's code (CodeNeedsReauth,
// CodeTokenRefreshError, …); use errors.As or IsCode.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds each request when Options.HTTPClient is nil.
const DefaultTimeout = 30 * time.Second

// maxResponseBytes bounds the answers read.
const maxResponseBytes = 4 << 20

// Options configure a Client. A nil *Options means the defaults.
type Options struct {
	// HTTPClient sends the requests (default: an http.Client with
	// DefaultTimeout). Redirects are never followed.
	HTTPClient *http.Client
	// UserAgent is sent with every request (default "tokenkeeper-go-client").
	UserAgent string
}

// Client talks to one tokenkeeper server with one API key. It is safe for
// concurrent use.
type Client struct {
	base      *url.URL
	apiKey    string
	hc        *http.Client
	userAgent string
}

// New returns a client of the tokenkeeper at baseURL ("https://tokens.internal")
// that authenticates with apiKey ("tk_…"). It fails when baseURL is not an
// absolute http(s) URL or apiKey is empty.
func New(baseURL, apiKey string, opts *Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("tokenkeeper client: base URL %q is not an absolute http(s) URL", baseURL)
	}
	if apiKey == "" {
		return nil, errors.New("tokenkeeper client: an API key is required")
	}
	if opts == nil {
		opts = &Options{}
	}
	hc := &http.Client{Timeout: DefaultTimeout}
	if opts.HTTPClient != nil {
		cp := *opts.HTTPClient
		hc = &cp
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	ua := opts.UserAgent
	if ua == "" {
		ua = "tokenkeeper-go-client"
	}
	return &Client{base: u, apiKey: apiKey, hc: hc, userAgent: ua}, nil
}

// request describes one API call.
type request struct {
	method string
	path   string // escaped path, such as "/v1/connections/conn_x"
	query  url.Values
	body   any // encoded as JSON when not nil
	// want are the statuses that mean success (default 200).
	want []int
}

// do sends r and decodes a successful JSON answer into out (when not nil).
// It returns the answer's status and headers.
func (c *Client) do(ctx context.Context, r request, out any) (int, http.Header, error) {
	target := c.base.String() + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return 0, nil, fmt.Errorf("tokenkeeper client: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return 0, nil, fmt.Errorf("tokenkeeper client: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("tokenkeeper client: %s %s: %w", r.method, r.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return resp.StatusCode, resp.Header, fmt.Errorf("tokenkeeper client: read the answer to %s %s: %w", r.method, r.path, err)
	}
	want := r.want
	if len(want) == 0 {
		want = []int{http.StatusOK}
	}
	for _, s := range want {
		if resp.StatusCode != s {
			continue
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return resp.StatusCode, resp.Header, fmt.Errorf("tokenkeeper client: decode the answer to %s %s: %w", r.method, r.path, err)
			}
		}
		return resp.StatusCode, resp.Header, nil
	}
	return resp.StatusCode, resp.Header, parseError(resp.StatusCode, resp.Header, data)
}

// The API's error codes (docs/api/openapi.yaml, ErrorCode).
const (
	CodeAccountNotFound   = "ACCOUNT_NOT_FOUND"
	CodeNeedsReauth       = "NEEDS_REAUTH"
	CodeNoRefreshToken    = "NO_REFRESH_TOKEN"
	CodeTokenExpired      = "TOKEN_EXPIRED"
	CodeTokenRefreshError = "TOKEN_REFRESH_ERROR"
	CodeInvalidRequest    = "INVALID_REQUEST"
	CodeUnauthorized      = "UNAUTHORIZED"
	CodeForbidden         = "FORBIDDEN"
	CodeProviderUnknown   = "PROVIDER_UNKNOWN"
	CodeConflict          = "CONFLICT"
	CodeRateLimited       = "RATE_LIMITED"
	CodeInternal          = "INTERNAL"
	CodeUnavailable       = "UNAVAILABLE"
)

// Error is an error answer of the API.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the API's error code (CodeNeedsReauth, …); "" when the answer
	// was not the API's JSON error (a proxy's page).
	Code string
	// Message is the API's explanation.
	Message string
	// RetryAfter is when trying again makes sense (TOKEN_REFRESH_ERROR,
	// RATE_LIMITED, UNAVAILABLE); 0 when not said.
	RetryAfter time.Duration
	// ReconnectURL is where the user reconnects (NEEDS_REAUTH), when known.
	ReconnectURL string
	// ConnectionID is the connection the error is about, when there is one.
	ConnectionID string
}

// Error returns "tokenkeeper: CODE (status): message".
func (e *Error) Error() string {
	code := e.Code
	if code == "" {
		code = "HTTP"
	}
	return fmt.Sprintf("tokenkeeper: %s (%d): %s", code, e.StatusCode, e.Message)
}

// IsCode reports whether err is (or wraps) an *Error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// parseError reads an error answer.
func parseError(status int, h http.Header, data []byte) error {
	var body struct {
		Error struct {
			Code         string `json:"code"`
			Message      string `json:"message"`
			RetryAfter   int64  `json:"retry_after"`
			ReconnectURL string `json:"reconnect_url"`
			ConnectionID string `json:"connection_id"`
		} `json:"error"`
	}
	e := &Error{StatusCode: status, Message: http.StatusText(status)}
	if json.Unmarshal(data, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
		e.RetryAfter = time.Duration(body.Error.RetryAfter) * time.Second
		e.ReconnectURL, e.ConnectionID = body.Error.ReconnectURL, body.Error.ConnectionID
	}
	if e.RetryAfter == 0 {
		if secs, err := strconv.ParseInt(h.Get("Retry-After"), 10, 64); err == nil && secs > 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		}
	}
	return e
}

// pathEscape escapes one path segment.
func pathEscape(s string) string { return url.PathEscape(s) }
