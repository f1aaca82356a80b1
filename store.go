package tokenkeeper

import (
	"context"
	"time"
)

// Store persists connections, their refresh history, the event outbox, API
// keys, users and named leases. SQLite (internal/sqlite) and PostgreSQL
// (internal/postgres) implement it; internal/storetest is the conformance
// suite both run, and enforces these rules common to all methods:
//
//   - times and durations are stored truncated to the millisecond and come
//     back in UTC; the zero time is stored as NULL;
//   - a lease is held up to and including its `until`, and free once
//     until < now (refresh leases, claims and named leases alike);
//   - SaveConnection without a LeaseOwner never touches the lease columns (a
//     lease taken after the writer read the row survives), and a save of an
//     unknown id is a version conflict.
type Store interface {
	// CreateConnection inserts c (ID set by the caller, Version 0 becomes 1)
	// together with events, in one transaction. It returns ErrDuplicate when
	// (user_id, provider, account_id) exists.
	CreateConnection(ctx context.Context, c *Connection, events []Event) error
	// GetConnection returns the connection, sealed tokens included, or ErrNotFound.
	GetConnection(ctx context.Context, id string) (*Connection, error)
	// FindConnection returns the connection of a user at a provider. With an
	// empty accountID it returns the user's only connection there, the most
	// recently updated one when there are several. ErrNotFound when none.
	FindConnection(ctx context.Context, userID, provider, accountID string) (*Connection, error)
	// ListConnections returns connections matching f, ordered by id, at most
	// f.Limit, and the cursor of the next page ("" at the end).
	ListConnections(ctx context.Context, f ConnectionFilter) ([]*Connection, string, error)
	// CountConnections returns the number of connections by provider and status.
	CountConnections(ctx context.Context) ([]StatusCount, error)

	// SaveConnection writes a changed connection in one transaction with the
	// attempt (optional) and the events (optional). It succeeds only when the
	// stored version equals w.Connection.Version, and, when w.LeaseOwner is set,
	// the lease is still held by that owner; then it stores Version+1, releases
	// the lease (when w.LeaseOwner is set) and updates w.Connection.Version.
	// Otherwise it returns ErrVersionConflict and writes nothing.
	SaveConnection(ctx context.Context, w Write) error

	// AcquireLease takes the refresh lease of a connection for owner until
	// `until`, if it is free, expired at now, or already held by owner, and
	// returns the connection as stored (Version unchanged by the lease). It
	// returns ErrLeaseHeld with the current holder's expiry in the connection
	// when someone else holds it, ErrNotFound when there is no such connection.
	AcquireLease(ctx context.Context, id, owner string, now, until time.Time) (*Connection, error)
	// ReleaseLease frees the lease if owner holds it; otherwise it does nothing.
	ReleaseLease(ctx context.Context, id, owner string) error
	// MarkRefreshInterrupted sets the connection's RefreshInterrupted if
	// owner holds its lease (expired or not), changing nothing else, not even
	// the version; otherwise it does nothing. A refresher calls it when the
	// provider may have spent the refresh token but the outcome could not be
	// stored.
	MarkRefreshInterrupted(ctx context.Context, id, owner string) error
	// ClaimDue leases up to limit connected connections whose next_refresh_at
	// is at or before now and whose lease is free or expired, ordered by
	// next_refresh_at, and returns them. Providers, when not empty, restricts
	// the claim to those providers. Concurrent claimers never get the same row.
	ClaimDue(ctx context.Context, owner string, now, until time.Time, limit int, providers []string) ([]*Connection, error)
	// NextDue returns the earliest next_refresh_at of a connected connection
	// whose lease is not set (an expired lease that was never released counts
	// as set: NextDue has no "now"; the scheduler's poll finds such rows), and
	// false when there is none.
	NextDue(ctx context.Context) (time.Time, bool, error)

	// ListAttempts returns a connection's refresh history, newest first.
	ListAttempts(ctx context.Context, connectionID string, limit int) ([]RefreshAttempt, error)
	// AddAttempts appends history rows outside a connection write (attempts that
	// changed nothing, such as a retried transient failure within one refresh).
	AddAttempts(ctx context.Context, attempts []RefreshAttempt) error

	// ListEvents returns outbox events in the order they were written, after
	// the given sequence number, at most limit.
	ListEvents(ctx context.Context, afterSeq int64, limit int) ([]StoredEvent, error)

	// CreateAPIKey stores a key (its hash, never the key).
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// GetAPIKeyByHash returns the unrevoked key with this hash, or ErrNotFound.
	GetAPIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	// ListAPIKeys returns every key, revoked ones included, oldest first.
	ListAPIKeys(ctx context.Context) ([]*APIKey, error)
	// RevokeAPIKey marks a key revoked at now; ErrNotFound when unknown.
	RevokeAPIKey(ctx context.Context, id string, now time.Time) error
	// TouchAPIKey records that a key was used at now.
	TouchAPIKey(ctx context.Context, id string, now time.Time) error

	// PutUser creates or updates a user's notification settings and sealed e-mail.
	PutUser(ctx context.Context, u *User) error
	// ResealUserEmail replaces the user's sealed e-mail address by sealed if
	// the stored one is still old, changing nothing but it and updated_at
	// (now): key rotation never undoes a concurrent change of the address or
	// the settings. It returns the address stored afterwards (sealed when it
	// replaced it), or ErrNotFound when there is no such user, as
	// ConnectStore.ResealState does.
	ResealUserEmail(ctx context.Context, id string, old, sealed []byte, now time.Time) ([]byte, error)
	// GetUser returns a user, or ErrNotFound.
	GetUser(ctx context.Context, id string) (*User, error)
	// ListUsers returns users ordered by id, after the given id, at most limit
	// (100 when limit <= 0); key rotation walks them in batches.
	ListUsers(ctx context.Context, after string, limit int) ([]*User, error)

	// AcquireNamedLease takes or extends a named lease (a cron sweep, a key
	// rotation) for owner until `until` if it is free, expired at now, or held
	// by owner. It reports whether owner holds it afterwards.
	AcquireNamedLease(ctx context.Context, name, owner string, now, until time.Time) (bool, error)
	// ReleaseNamedLease frees a named lease held by owner.
	ReleaseNamedLease(ctx context.Context, name, owner string) error

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// MigrationStatus returns the applied and the latest known schema versions.
	MigrationStatus(ctx context.Context) (current, latest int64, err error)
	// Close releases the database.
	Close() error
}

// Write is one change of a connection for Store.SaveConnection.
type Write struct {
	Connection *Connection
	// LeaseOwner, when set, makes the write conditional on that owner still
	// holding the lease, and releases it.
	LeaseOwner string
	// Attempts are refresh history rows to append.
	Attempts []RefreshAttempt
	// Events are outbox events to append.
	Events []Event
}

// ConnectionFilter selects connections for ListConnections.
type ConnectionFilter struct {
	UserID   string
	Provider string
	Status   Status
	// ExpiringBefore, when set, keeps connections whose access token expires
	// at or before it.
	ExpiringBefore time.Time
	// DueBefore, when set, keeps connections whose next_refresh_at is set and
	// at or before it.
	DueBefore time.Time
	// After is the cursor from the previous page.
	After string
	// Limit is the page size; 0 means 100.
	Limit int
}

// StatusCount is the number of connections of one provider in one status.
type StatusCount struct {
	Provider string
	Status   Status
	Count    int
}

// RefreshAttempt is one row of a connection's refresh history.
type RefreshAttempt struct {
	ConnectionID string
	At           time.Time
	Trigger      Trigger
	Class        Class
	// Code is the provider's or our error code; empty on success.
	Code       string
	HTTPStatus int
	Duration   time.Duration
	// Rotated: the provider issued a new refresh token.
	Rotated bool
}

// StoredEvent is an outbox event with its sequence number.
type StoredEvent struct {
	Seq int64
	Event
}

// Scope is a permission carried by an API key.
type Scope string

// The API key scopes.
const (
	ScopeTokensRead       Scope = "tokens:read"       // read access tokens
	ScopeConnectionsWrite Scope = "connections:write" // link, refresh, disconnect
	ScopeAdmin            Scope = "admin"             // everything, the admin page, sweeps
)

// Scopes lists every API key scope.
var Scopes = []Scope{ScopeTokensRead, ScopeConnectionsWrite, ScopeAdmin}

// APIKey is an application's credential for the HTTP API. Only a hash of the
// key is stored.
type APIKey struct {
	ID         string
	Name       string
	Hash       []byte
	Scopes     []Scope
	CreatedAt  time.Time
	LastUsedAt time.Time
	RevokedAt  time.Time
}

// Allows reports whether the key carries scope s; admin allows everything.
func (k *APIKey) Allows(s Scope) bool {
	for _, have := range k.Scopes {
		if have == s || have == ScopeAdmin {
			return true
		}
	}
	return false
}

// User holds what tokenkeeper stores about an application's user: a sealed
// e-mail address and notification preferences.
type User struct {
	ID string
	// SealedEmail is the e-mail address sealed with AdditionalData(ID, FieldUserEmail).
	SealedEmail  []byte
	EmailEnabled bool
	// Digest: one daily e-mail instead of immediate ones.
	Digest    bool
	UpdatedAt time.Time
}
