package tokenkeeper

import (
	"errors"
	"fmt"
	"time"
)

// Code is an error code of tokenkeeper's API (DESIGN.md §4). Each part of the
// program returns errors carrying one of these codes; the HTTP layer maps
// them to statuses in one table.
type Code string

// The error codes.
const (
	CodeAccountNotFound   Code = "ACCOUNT_NOT_FOUND"   // 404: no such connection
	CodeNeedsReauth       Code = "NEEDS_REAUTH"        // 409: the user must reconnect
	CodeNoRefreshToken    Code = "NO_REFRESH_TOKEN"    // 409: expired and nothing to refresh with
	CodeTokenExpired      Code = "TOKEN_EXPIRED"       // 409: expired, status expired or error
	CodeTokenRefreshError Code = "TOKEN_REFRESH_ERROR" // 503: the refresh failed for a transient reason
	CodeInvalidRequest    Code = "INVALID_REQUEST"     // 400
	CodeUnauthorized      Code = "UNAUTHORIZED"        // 401
	CodeForbidden         Code = "FORBIDDEN"           // 403
	CodeProviderUnknown   Code = "PROVIDER_UNKNOWN"    // 400
	CodeConflict          Code = "CONFLICT"            // 409: a concurrent write won
	CodeRateLimited       Code = "RATE_LIMITED"        // 429
	CodePayloadTooLarge   Code = "PAYLOAD_TOO_LARGE"   // 413
	CodeInternal          Code = "INTERNAL"            // 500
	CodeUnavailable       Code = "UNAVAILABLE"         // 503: not ready (database, migrations)
)

// Error is tokenkeeper's error: a code, a message safe to show to API
// callers (never a token or secret), and optional details.
type Error struct {
	Code    Code
	Message string
	// RetryAfter, when set, tells the caller when trying again makes sense.
	RetryAfter time.Duration
	// Connection is the connection the error is about, when there is one.
	ConnectionID string
	// Err is the underlying cause; it is not shown to API callers.
	Err error
}

// Error returns "message: cause" or the message alone.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, CodeInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the message of the first *Error in err's chain, or
// "internal error" for other errors: causes stay out of API responses.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Sentinel errors returned by stores. Stores wrap them in *Error where the
// caller should see a code; compare with errors.Is.
var (
	// ErrNotFound: no row matched.
	ErrNotFound = &Error{Code: CodeAccountNotFound, Message: "not found"}
	// ErrVersionConflict: the row changed since it was read (optimistic locking),
	// or the lease the write depended on is no longer held by the writer.
	ErrVersionConflict = &Error{Code: CodeConflict, Message: "connection changed concurrently"}
	// ErrLeaseHeld: another owner holds the connection's refresh lease.
	ErrLeaseHeld = &Error{Code: CodeConflict, Message: "refresh lease held by another owner"}
	// ErrDuplicate: a unique key (user, provider, account) already exists.
	ErrDuplicate = &Error{Code: CodeConflict, Message: "connection already exists"}
)
