package tokenkeeper

// Status is the lifecycle state of a connection (DESIGN.md §2).
type Status string

// The statuses of a connection.
const (
	// StatusConnected: tokens usable; refreshed ahead of expiry.
	StatusConnected Status = "connected"
	// StatusNeedsReauth: the grant is gone; only the user can fix it by reconnecting.
	StatusNeedsReauth Status = "needs_reauth"
	// StatusError: our side is misconfigured (invalid client, unknown provider,
	// undecryptable row). Operators are alerted; the user is not.
	StatusError Status = "error"
	// StatusExpired: the access token expired and cannot be refreshed.
	StatusExpired Status = "expired"
	// StatusDisconnected: removed by the user or the application; tokens erased.
	StatusDisconnected Status = "disconnected"
)

// Statuses lists every status, in lifecycle order.
var Statuses = []Status{StatusConnected, StatusNeedsReauth, StatusError, StatusExpired, StatusDisconnected}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Refreshable reports whether a connection in this status may be refreshed
// by the scheduler or by a read. Connections that need the user (needs_reauth),
// an operator (error) or that are gone (disconnected, expired) are not.
func (s Status) Refreshable() bool { return s == StatusConnected }

// ParseStatus returns the status named by s, or an INVALID_REQUEST error.
func ParseStatus(s string) (Status, error) {
	st := Status(s)
	if !st.Valid() {
		return "", Errorf(CodeInvalidRequest, "unknown status %q", s)
	}
	return st, nil
}

// Class is the classification of one refresh attempt's outcome (DESIGN.md §2).
type Class string

// The outcome classes of a refresh attempt.
const (
	// ClassSuccess: the provider returned a token.
	ClassSuccess Class = "success"
	// ClassTransient: 429, 5xx, 408, timeouts, network errors, malformed bodies from a 5xx.
	// Retried with backoff; never disconnects.
	ClassTransient Class = "transient"
	// ClassPermanent: 401/403, invalid_grant with an unknown reason, other 4xx.
	// Counted; a warning at the 2nd in a row, needs_reauth at the 3rd.
	ClassPermanent Class = "permanent"
	// ClassRevoked: invalid_grant that says the grant is revoked, expired or invalid.
	// needs_reauth at once.
	ClassRevoked Class = "revoked"
	// ClassConfig: invalid_client, unauthorized_client, missing client secret.
	// Status error, operator alert, no user e-mail.
	ClassConfig Class = "config"
)

// Classes lists every class.
var Classes = []Class{ClassSuccess, ClassTransient, ClassPermanent, ClassRevoked, ClassConfig}

// Valid reports whether c is one of the known classes.
func (c Class) Valid() bool {
	for _, v := range Classes {
		if c == v {
			return true
		}
	}
	return false
}

// Trigger says what started a refresh. It is recorded in the refresh history.
type Trigger string

// The triggers of a refresh.
const (
	TriggerScheduler Trigger = "scheduler" // the continuous scheduler found it due
	TriggerSweep     Trigger = "sweep"     // a cron or API sweep
	TriggerRead      Trigger = "read"      // GET .../token found it about to expire
	TriggerManual    Trigger = "manual"    // POST .../refresh, the CLI or the admin page
	TriggerRejected  Trigger = "rejected"  // the caller reported the access token as rejected (401)
)

func (t Trigger) String() string { return string(t) }
