package tokenkeeper

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// OAuthState is one authorization request in flight: what the connect flow
// remembers between sending a user's browser to a provider and the
// provider sending it back to the callback. The state parameter itself is a
// random secret that only the browser holds; the store keeps its hash.
type OAuthState struct {
	// Hash is StateHash of the state parameter: the row's key.
	Hash []byte
	// Provider, UserID and AccountID (a hint, "" when unknown) say whose
	// connection the flow creates or re-links.
	Provider  string
	UserID    string
	AccountID string
	// ConnectionID is set when a reconnect link started the flow: the
	// connection it re-links. LinkID is that link's single-use key.
	ConnectionID string
	LinkID       string
	// ReturnURL is where the browser goes when the flow ends ("" for a
	// reconnect link without one: the flow ends on a page of ours).
	ReturnURL string
	// RedirectURI is the callback URL sent in the authorization request; the
	// code exchange must send the same one.
	RedirectURI string
	// Scopes are the scopes asked for (empty: the provider's defaults).
	Scopes []string
	// SealedVerifier is the PKCE code verifier sealed with
	// AdditionalData(RowID(), FieldPKCEVerifier); empty when the
	// provider does not use PKCE.
	SealedVerifier []byte
	CreatedAt      time.Time
	ExpiresAt      time.Time
	// UsedAt is when the callback consumed the state; zero until then.
	UsedAt time.Time
}

// RowID names the state in AdditionalData: "state_" and the hex of its hash.
func (s *OAuthState) RowID() string { return "state_" + hex.EncodeToString(s.Hash) }

// PendingRevocation is a token whose revocation at the provider failed for
// a transient reason when its connection was disconnected: a worker retries
// it with backoff until it succeeds or gives up, then erases it.
type PendingRevocation struct {
	ID           string // "rev_…"
	ConnectionID string
	Provider     string
	// TokenTypeHint is sent as token_type_hint ("refresh_token" or "access_token").
	TokenTypeHint string
	// SealedToken is the token sealed with AdditionalData(ID, FieldRevocationToken).
	SealedToken []byte
	// Attempts counts the attempts made, the first one at disconnect included.
	Attempts int
	// LastCode is the code of the last failed attempt ("timeout", "http_503").
	LastCode      string
	CreatedAt     time.Time
	NextAttemptAt time.Time
	// LeaseOwner and LeaseUntil: the worker retrying it, and until when.
	LeaseOwner string
	LeaseUntil time.Time
}

// The sealed fields of the connect flow.
const (
	FieldPKCEVerifier    Field = "pkce_verifier"
	FieldRevocationToken Field = "revocation_token"
)

// Errors of ConsumeState besides ErrNotFound (no such state); compare with
// errors.Is.
var (
	// ErrStateUsed: the state was consumed already (a replayed callback).
	ErrStateUsed = &Error{Code: CodeInvalidRequest, Message: "this authorization was already completed"}
	// ErrStateExpired: the state expired before the callback arrived.
	ErrStateExpired = &Error{Code: CodeInvalidRequest, Message: "this authorization request expired"}
)

// StateHash returns the SHA-256 hash under which a state parameter is stored.
func StateHash(state string) []byte {
	h := sha256.Sum256([]byte("tokenkeeper/oauth-state\x00" + state))
	return h[:]
}

// ConnectStore persists the connect flow's short-lived records: OAuth
// states, single-use keys (used reconnect links) and pending revocations.
// The SQLite and PostgreSQL stores implement it next to tokenkeeper.Store;
// internal/storetest's RunConnect is its conformance suite. Times are stored
// with millisecond precision and always come from the caller.
type ConnectStore interface {
	// CreateState stores a new state. It returns ErrDuplicate when the hash exists.
	CreateState(ctx context.Context, s *OAuthState) error
	// ConsumeState marks the state with this hash used at now and returns it,
	// atomically: of concurrent callers at most one succeeds. It returns
	// ErrNotFound for an unknown hash, ErrStateUsed when it was consumed
	// before, ErrStateExpired when now is at or after ExpiresAt; then it
	// changes nothing.
	ConsumeState(ctx context.Context, hash []byte, now time.Time) (*OAuthState, error)
	// PendingStates returns the number of states neither used nor expired at
	// now: the connect flows in flight.
	PendingStates(ctx context.Context, now time.Time) (int, error)
	// ListStates returns the stored states ordered by hash (bytewise), those
	// after the hash `after` (nil: from the first), at most limit (100 when
	// limit <= 0), used and expired ones included: key rotation walks them in
	// batches.
	ListStates(ctx context.Context, after []byte, limit int) ([]*OAuthState, error)
	// ResealState replaces the sealed verifier of the state with this hash by
	// sealed (not empty) if the stored verifier is still old, and changes
	// nothing else: a concurrent ConsumeState is neither undone nor blocked.
	// It returns the verifier stored afterwards: sealed when it replaced it,
	// otherwise the value another writer left. It returns ErrNotFound when
	// there is no such state (purged).
	ResealState(ctx context.Context, hash, old, sealed []byte) ([]byte, error)

	// UseKey records the single-use key (a reconnect link's id) as used at
	// now, to be remembered at least until expiresAt. It reports false, and
	// changes nothing, when the key was recorded before.
	UseKey(ctx context.Context, key string, now, expiresAt time.Time) (bool, error)
	// KeyUsed reports whether the key was recorded by UseKey.
	KeyUsed(ctx context.Context, key string) (bool, error)

	// SaveConnectionRevoking is Store.SaveConnection (same conditions, same
	// errors) that also enqueues r in the same transaction: a disconnect and
	// the revocation still owed for it are written together or not at all.
	SaveConnectionRevoking(ctx context.Context, w Write, r *PendingRevocation) error
	// EnqueueRevocation stores r (its ID set by the caller).
	EnqueueRevocation(ctx context.Context, r *PendingRevocation) error
	// ClaimRevocations leases up to limit pending revocations whose
	// NextAttemptAt is at or before now and whose lease is free or expired,
	// to owner until `until`, oldest NextAttemptAt first, and returns them.
	// Concurrent claimers never get the same row.
	ClaimRevocations(ctx context.Context, owner string, now, until time.Time, limit int) ([]*PendingRevocation, error)
	// RetryRevocation records a failed attempt of a revocation leased by
	// owner: Attempts, LastCode and NextAttemptAt from r, lease released. It
	// returns ErrVersionConflict when owner no longer holds the lease.
	RetryRevocation(ctx context.Context, r *PendingRevocation, owner string) error
	// DeleteRevocation erases a revocation leased by owner (done, or given
	// up), sealed token included. It returns ErrVersionConflict when owner
	// no longer holds the lease.
	DeleteRevocation(ctx context.Context, id, owner string) error
	// CountRevocations returns the number of pending revocations.
	CountRevocations(ctx context.Context) (int, error)
	// ListRevocations returns the pending revocations ordered by ID, those
	// after the ID `after`, at most limit (100 when limit <= 0), leased ones
	// included: key rotation walks them in batches.
	ListRevocations(ctx context.Context, after string, limit int) ([]*PendingRevocation, error)
	// ResealRevocation replaces the sealed token of revocation id by sealed
	// (not empty) if the stored token is still old and no worker holds the
	// row's lease at now (a worker may hold the old value in memory), and
	// changes nothing else. It returns the token stored afterwards: sealed
	// when it replaced it, otherwise the value stored (old itself while the
	// lease is held). It returns ErrNotFound when there is no such revocation
	// (done or given up).
	ResealRevocation(ctx context.Context, id string, old, sealed []byte, now time.Time) ([]byte, error)

	// PurgeConnect deletes states that expired before `before` and single-use
	// keys whose remembrance ended before it, and returns how many rows went.
	PurgeConnect(ctx context.Context, before time.Time) (int64, error)
}
