package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// Codes of the HTTP layer alone: routing failures that no other part
// returns, and a request its client abandoned.
const (
	codeRouteNotFound    tokenkeeper.Code = "NOT_FOUND"          // 404: no route has this path
	codeMethodNotAllowed tokenkeeper.Code = "METHOD_NOT_ALLOWED" // 405: the path exists, the method does not
	// codeClientClosed is recorded (status 499, as nginx names it) for a
	// request whose client went away before the answer was ready: nobody
	// reads the answer, and it is not a failure of the service.
	codeClientClosed tokenkeeper.Code = "CLIENT_CLOSED_REQUEST"
)

// statusClientClosed is the status recorded for codeClientClosed.
const statusClientClosed = 499

// statusOf is the one table from error codes to HTTP statuses (DESIGN.md §4).
// It also returns the code the caller sees, which differs only where a code
// is folded into another: PAYLOAD_TOO_LARGE is answered as INVALID_REQUEST,
// and unknown codes as INTERNAL.
func statusOf(code tokenkeeper.Code) (int, tokenkeeper.Code) {
	switch code {
	case tokenkeeper.CodeAccountNotFound:
		return http.StatusNotFound, code
	case tokenkeeper.CodeNeedsReauth, tokenkeeper.CodeNoRefreshToken, tokenkeeper.CodeTokenExpired, tokenkeeper.CodeConflict:
		return http.StatusConflict, code
	case tokenkeeper.CodeTokenRefreshError, tokenkeeper.CodeUnavailable:
		return http.StatusServiceUnavailable, code
	case tokenkeeper.CodeInvalidRequest, tokenkeeper.CodeProviderUnknown:
		return http.StatusBadRequest, code
	case tokenkeeper.CodePayloadTooLarge:
		return http.StatusBadRequest, tokenkeeper.CodeInvalidRequest
	case tokenkeeper.CodeUnauthorized:
		return http.StatusUnauthorized, code
	case tokenkeeper.CodeForbidden:
		return http.StatusForbidden, code
	case tokenkeeper.CodeRateLimited:
		return http.StatusTooManyRequests, code
	case codeRouteNotFound:
		return http.StatusNotFound, code
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed, code
	default:
		return http.StatusInternalServerError, tokenkeeper.CodeInternal
	}
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code         tokenkeeper.Code `json:"code"`
	Message      string           `json:"message"`
	RetryAfter   int64            `json:"retry_after,omitempty"`
	ReconnectURL string           `json:"reconnect_url,omitempty"`
	ConnectionID string           `json:"connection_id,omitempty"`
}

// errorOptions carries what an error response may add to the code and message.
type errorOptions struct {
	// conn is the connection the error is about, for reconnect_url.
	conn *tokenkeeper.Connection
	// connID is the id of the connection the error is about, when the error
	// does not name it.
	connID string
}

// writeError answers r with err in the JSON error shape. Internal errors are
// answered "internal error"; their cause goes to the request's log line.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeErrorWith(w, r, err, errorOptions{})
}

func (s *Server) writeErrorWith(w http.ResponseWriter, r *http.Request, err error, opt errorOptions) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		if info := infoFrom(r.Context()); info != nil {
			info.code = codeClientClosed
		}
		s.writeJSON(w, statusClientClosed, errorBody{Error: errorDetail{Code: codeClientClosed, Message: "the client closed the request"}})
		return
	}
	status, code := statusOf(tokenkeeper.ErrorCode(err))
	d := errorDetail{Code: code, Message: tokenkeeper.ErrorMessage(err)}
	var te *tokenkeeper.Error
	if errors.As(err, &te) {
		d.ConnectionID = te.ConnectionID
	}
	if d.ConnectionID == "" {
		d.ConnectionID = opt.connID
	}
	if status == http.StatusInternalServerError {
		d.Message = "internal error"
		d.ConnectionID = ""
	}
	if info := infoFrom(r.Context()); info != nil {
		info.code = code
		if status >= http.StatusInternalServerError {
			info.cause = err
		}
	}
	switch code {
	case tokenkeeper.CodeTokenRefreshError, tokenkeeper.CodeRateLimited:
		var after time.Duration
		if te != nil {
			after = te.RetryAfter
		}
		d.RetryAfter = retrySeconds(after)
		w.Header().Set("Retry-After", strconv.FormatInt(d.RetryAfter, 10))
	case tokenkeeper.CodeUnavailable:
		// Only a refusal that knows when to come back (the in-flight limit)
		// says so; readiness failures do not.
		if te != nil && te.RetryAfter > 0 {
			d.RetryAfter = retrySeconds(te.RetryAfter)
			w.Header().Set("Retry-After", strconv.FormatInt(d.RetryAfter, 10))
		}
	case tokenkeeper.CodeNeedsReauth:
		d.ReconnectURL = s.reconnectURL(r.Context(), opt.conn, d.ConnectionID)
	case tokenkeeper.CodeUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="tokenkeeper"`)
	}
	s.writeJSON(w, status, errorBody{Error: d})
}

// retrySeconds rounds a retry delay up to whole seconds, at least one.
func retrySeconds(d time.Duration) int64 {
	secs := int64((d + time.Second - 1) / time.Second)
	return max(secs, 1)
}

// reconnectURL returns where the user of the connection reconnects, loading
// the connection by id when the error did not come with it; "" when unknown.
func (s *Server) reconnectURL(ctx context.Context, c *tokenkeeper.Connection, id string) string {
	if s.cfg.ReconnectURL == nil {
		return ""
	}
	if c == nil && id != "" {
		loaded, err := s.cfg.Store.GetConnection(ctx, id)
		if err != nil {
			return ""
		}
		c = loaded
	}
	if c == nil {
		return ""
	}
	return s.cfg.ReconnectURL(c)
}

// writeJSON answers with status and v encoded as JSON.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value written is a plain struct; failing here is a bug.
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"INTERNAL","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
