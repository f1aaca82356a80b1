package connect

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// LinkKeyPurpose is the purpose of the reconnect-link key derived from the
// vault's key ring (vault.Ring.Derive and DeriveAll).
const LinkKeyPurpose = "tokenkeeper/reconnect-links"

// DefaultLinkTTL is how long a reconnect link works when LinkOptions.TTL is 0.
const DefaultLinkTTL = 7 * 24 * time.Hour

// linkVersion starts every link token.
const linkVersion = "v1"

// Reasons a reconnect link is refused; each has its own page.
var (
	// ErrLinkInvalid: the link is malformed, its signature does not verify,
	// or it names another provider or an unknown connection.
	ErrLinkInvalid = errors.New("the reconnect link is not valid")
	// ErrLinkExpired: the link's lifetime is over.
	ErrLinkExpired = errors.New("the reconnect link expired")
	// ErrLinkUsed: the link was used to reconnect already.
	ErrLinkUsed = errors.New("the reconnect link was used already")
	// ErrLinkDisconnected: the connection was removed since the link was made.
	ErrLinkDisconnected = errors.New("the connection was removed")
)

// LinkOptions configure Links.
type LinkOptions struct {
	// Keys sign and verify links: the first signs, every one verifies, so
	// links signed before a key rotation keep working. Usually
	// ring.DeriveAll(LinkKeyPurpose). Required.
	Keys [][]byte
	// PublicURL is tokenkeeper's base URL as users reach it
	// ("https://tokens.example.com"). Required for Reconnect.
	PublicURL string
	// TTL is a link's lifetime (default DefaultLinkTTL).
	TTL time.Duration
	// Now tells the time (default time.Now).
	Now func() time.Time
}

// Links makes and checks reconnect links: URLs that let a user re-authorize
// one connection in one click, without an API key. A link names the
// connection, a random link id and its expiry, signed with HMAC-SHA256 over
// those and the connection's provider and user, so it cannot be moved to
// another connection, provider or user. It is safe for concurrent use.
type Links struct {
	keys      [][]byte
	publicURL string
	ttl       time.Duration
	now       func() time.Time
}

// NewLinks returns Links for o; it fails without a key.
func NewLinks(o LinkOptions) (*Links, error) {
	if len(o.Keys) == 0 || len(o.Keys[0]) < 16 {
		return nil, errors.New("connect: reconnect links need a signing key of at least 16 bytes")
	}
	l := &Links{keys: o.Keys, publicURL: strings.TrimRight(o.PublicURL, "/"), ttl: o.TTL, now: o.Now}
	if l.ttl <= 0 {
		l.ttl = DefaultLinkTTL
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// TTL returns a link's lifetime.
func (l *Links) TTL() time.Duration { return l.ttl }

// Reconnect returns a new reconnect link for c:
// {public_url}/v1/connect/{provider}?link=…, valid for the TTL and usable
// once. It fails when no public URL is configured. Its signature matches
// the notification and admin hooks (func(*tokenkeeper.Connection) (string, error)).
func (l *Links) Reconnect(c *tokenkeeper.Connection) (string, error) {
	if l.publicURL == "" {
		return "", errors.New("connect: public_url is not set, so reconnect links cannot be made")
	}
	if c == nil || !tokenkeeper.ValidID(c.ID) || !tokenkeeper.ValidID(c.Provider) {
		return "", errors.New("connect: a reconnect link needs a connection with an id and a provider")
	}
	return l.publicURL + "/v1/connect/" + url.PathEscape(c.Provider) + "?link=" + l.Token(c, l.now().Add(l.ttl)), nil
}

// Token returns the value of a link's link parameter for c, expiring at exp:
// "v1.<link id>.<connection id>.<unix expiry>.<signature>".
func (l *Links) Token(c *tokenkeeper.Connection, exp time.Time) string {
	payload := linkVersion + "." + tokenkeeper.NewID("lnk_") + "." + c.ID + "." + strconv.FormatInt(exp.Unix(), 10)
	return payload + "." + sign(l.keys[0], payload, c)
}

// parsedLink is a link token split into its parts, not yet verified.
type parsedLink struct {
	payload      string
	linkID       string
	connectionID string
	expires      time.Time
	sig          []byte
}

// parseLink splits a link token; ErrLinkInvalid when it is malformed.
func parseLink(token string) (parsedLink, error) {
	parts := strings.Split(token, ".")
	if len(token) > 512 || len(parts) != 5 || parts[0] != linkVersion || !tokenkeeper.ValidID(parts[1]) || !tokenkeeper.ValidID(parts[2]) {
		return parsedLink{}, ErrLinkInvalid
	}
	exp, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || exp <= 0 {
		return parsedLink{}, ErrLinkInvalid
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[4])
	if err != nil || len(sig) != sha256.Size {
		return parsedLink{}, ErrLinkInvalid
	}
	return parsedLink{
		payload: strings.Join(parts[:4], "."), linkID: parts[1], connectionID: parts[2],
		expires: time.Unix(exp, 0), sig: sig,
	}, nil
}

// verify checks p's signature against c (with every key) and its expiry at
// now: ErrLinkInvalid or ErrLinkExpired.
func (l *Links) verify(p parsedLink, c *tokenkeeper.Connection, now time.Time) error {
	ok := false
	for _, k := range l.keys {
		want, _ := base64.RawURLEncoding.DecodeString(sign(k, p.payload, c))
		ok = hmac.Equal(want, p.sig) || ok
	}
	switch {
	case !ok:
		return ErrLinkInvalid
	case !now.Before(p.expires):
		return ErrLinkExpired
	}
	return nil
}

// sign returns the link signature of payload for c with key.
func sign(key []byte, payload string, c *tokenkeeper.Connection) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tokenkeeper/reconnect-link\x00" + payload + "\x00" + c.Provider + "\x00" + c.UserID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
