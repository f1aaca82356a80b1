package tokenkeeper

import "log/slog"

// Secret holds a plaintext credential: an access token, a refresh token, a
// client secret, an API key. Its String, GoString, LogValue and MarshalText
// methods redact it, so it cannot reach a log line, an error or a JSON body
// by accident. Use Reveal where the plaintext is really needed.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the plaintext.
func (s Secret) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s == "" }

// String returns a redacted placeholder.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString returns a redacted placeholder, so %#v does not print the secret.
func (s Secret) GoString() string { return s.String() }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText returns the redacted placeholder: a Secret never encodes itself
// as JSON or YAML. Encode s.Reveal() explicitly where plaintext is intended.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
