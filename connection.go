package tokenkeeper

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"
	"time"
)

// Connection is one user's link to one provider account: its sealed tokens,
// expiry, status and failure counters. It never holds plaintext tokens; the
// sealed fields are AES-GCM ciphertexts bound to the connection id and field
// (see Sealer).
type Connection struct {
	ID        string   `json:"id"`
	UserID    string   `json:"user_id"`
	Provider  string   `json:"provider"`
	AccountID string   `json:"account_id"`
	Scopes    []string `json:"scopes"`
	Status    Status   `json:"status"`

	// ExpiresAt is when the access token expires; zero when unknown.
	ExpiresAt time.Time `json:"expires_at"`
	// RefreshTokenExpiresAt is when the refresh token expires, when the provider says.
	RefreshTokenExpiresAt time.Time `json:"refresh_token_expires_at"`
	// Lifetime is the access token lifetime last seen (expires_in), used when a
	// later response carries no expiry.
	Lifetime time.Duration `json:"-"`

	ConsecutiveFailures          int        `json:"consecutive_failures"`
	ConsecutiveTransientFailures int        `json:"consecutive_transient_failures"`
	LastRefreshedAt              time.Time  `json:"last_refreshed_at"`
	LastError                    *LastError `json:"last_error"`
	// NextRefreshAt is when the scheduler should refresh next; zero means never
	// (needs_reauth, error, disconnected, or nothing to refresh with).
	NextRefreshAt time.Time `json:"next_refresh_at"`
	// Notice is the last user-facing notice sent for the current failure
	// streak ("" when none); a success after a notice produces a recovery.
	Notice EventType `json:"-"`

	// Version increases by one on every write; writes check it (optimistic locking).
	Version int64 `json:"version"`

	// RefreshInterrupted is set when a refresh may have reached the provider
	// without its answer being stored: the store sets it when a lease is
	// taken over from a holder that never released it (a process killed or
	// stalled mid-refresh), and Policy.Apply when a request timed out or was
	// cut off. A rotating provider may then have consumed the stored refresh
	// token, so a later invalid_grant is reported as "refresh_interrupted".
	// A successful refresh or a relink clears it.
	RefreshInterrupted bool `json:"-"`

	// LeaseOwner and LeaseUntil: who holds the refresh lease and until when.
	LeaseOwner string    `json:"-"`
	LeaseUntil time.Time `json:"-"`

	// SealedAccessToken and SealedRefreshToken are ciphertexts from a Sealer;
	// empty when absent (a provider without refresh tokens, a disconnected row).
	SealedAccessToken  []byte `json:"-"`
	SealedRefreshToken []byte `json:"-"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// LastError describes the most recent failed refresh. Message is the
// provider's error description or ours, never a token.
type LastError struct {
	Class Class  `json:"class"`
	Code  string `json:"code"`
	// HTTPStatus is the provider's HTTP status, 0 when none (network error).
	HTTPStatus int       `json:"http_status,omitempty"`
	Message    string    `json:"message"`
	At         time.Time `json:"at"`
}

// HasRefreshToken reports whether the connection holds a refresh token.
func (c *Connection) HasRefreshToken() bool { return len(c.SealedRefreshToken) > 0 }

// Clone returns a deep copy of c.
func (c *Connection) Clone() *Connection {
	if c == nil {
		return nil
	}
	d := *c
	d.Scopes = append([]string(nil), c.Scopes...)
	if c.LastError != nil {
		le := *c.LastError
		d.LastError = &le
	}
	d.SealedAccessToken = append([]byte(nil), c.SealedAccessToken...)
	d.SealedRefreshToken = append([]byte(nil), c.SealedRefreshToken...)
	return &d
}

// Token is a plaintext token set as returned by a provider or handed to an
// application. Its secrets are redacted when printed.
type Token struct {
	AccessToken  Secret
	RefreshToken Secret
	TokenType    string
	// ExpiresAt is the access token's expiry; zero when the provider gave none
	// and no default could be derived.
	ExpiresAt time.Time
	// RefreshTokenExpiresAt is set when the provider reports refresh_token_expires_in.
	RefreshTokenExpiresAt time.Time
	// Lifetime is expires_in as received (0 when absent).
	Lifetime time.Duration
	Scopes   []string
}

// Field names a sealed column; it is part of the additional data that binds a
// ciphertext to its place.
type Field string

// The sealed fields.
const (
	FieldAccessToken  Field = "access_token"
	FieldRefreshToken Field = "refresh_token"
	FieldUserEmail    Field = "user_email"
)

// AdditionalData returns the AES-GCM additional data that binds a ciphertext
// to one row and one field: a ciphertext copied elsewhere fails to open.
func AdditionalData(rowID string, field Field) []byte {
	return []byte("tokenkeeper/v1\x00" + rowID + "\x00" + string(field))
}

// ErrUnknownKey is returned (wrapped) by Sealer.Open when the ciphertext names
// a key this process's key ring does not hold: a configuration problem of
// this process, not damage to the row.
var ErrUnknownKey = errors.New("sealed with a key not in the key ring")

// Sealer encrypts and decrypts secrets. Implementations bind the ciphertext
// to the additional data and name the key that sealed it.
type Sealer interface {
	// Seal encrypts plaintext with the current key.
	Seal(plaintext, additionalData []byte) ([]byte, error)
	// Open decrypts a ciphertext sealed with any key of the ring. It fails when
	// the key is unknown, the ciphertext was altered, or the additional data differ.
	Open(ciphertext, additionalData []byte) ([]byte, error)
}

// NewID returns a new random identifier with the given prefix, such as
// "conn_" + 26 base32 characters (128 bits).
func NewID(prefix string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("tokenkeeper: crypto/rand failed: " + err.Error())
	}
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// ValidID reports whether s looks like an id this program issued or an
// application's opaque user id: 1–200 bytes of letters, digits and "-_.:@+".
// It rejects path separators, control characters and spaces.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_.:@+", c) >= 0:
		default:
			return false
		}
	}
	return s != "." && s != ".."
}
