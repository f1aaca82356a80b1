package tokenkeeper

import "time"

// AuthMethod is how a client authenticates at a provider's token endpoint.
// It is set per provider and never auto-detected: auto-detection retries a
// failed request with the other style and so sends a refresh token twice.
type AuthMethod string

// The client authentication styles.
const (
	AuthBasic AuthMethod = "basic" // HTTP Basic (client_secret_basic)
	AuthPost  AuthMethod = "post"  // client_id and client_secret in the form body (client_secret_post)
)

// PKCE says whether a provider requires, supports or rejects PKCE.
type PKCE string

// The PKCE modes.
const (
	PKCERequired  PKCE = "required"
	PKCESupported PKCE = "supported"
	PKCENo        PKCE = "no"
)

// Provider is what tokenkeeper knows about one OAuth2 authorization server:
// the catalog's facts merged with the operator's overrides and credentials.
type Provider struct {
	Name        string `yaml:"name" json:"name"`
	DisplayName string `yaml:"display_name" json:"display_name"`

	AuthURL   string `yaml:"auth_url" json:"auth_url"`
	TokenURL  string `yaml:"token_url" json:"token_url"`
	RevokeURL string `yaml:"revoke_url" json:"revoke_url,omitempty"`
	// AccountURL, when set, is fetched with the new access token after a
	// connect to learn the provider's account id, read from AccountIDField
	// (a dotted path into the JSON response, such as "id" or "data.id").
	AccountURL     string `yaml:"account_url" json:"account_url,omitempty"`
	AccountIDField string `yaml:"account_id_field" json:"account_id_field,omitempty"`

	AuthMethod AuthMethod `yaml:"auth_method" json:"auth_method"`
	PKCE       PKCE       `yaml:"pkce" json:"pkce"`

	ClientID     string `yaml:"client_id" json:"client_id,omitempty"`
	ClientSecret Secret `yaml:"client_secret" json:"-"`

	Scopes         []string `yaml:"scopes" json:"scopes,omitempty"`
	ScopeSeparator string   `yaml:"scope_separator" json:"scope_separator,omitempty"`
	// AuthParams are extra authorization request parameters needed to receive a
	// refresh token (Google access_type=offline, Reddit duration=permanent, …).
	AuthParams map[string]string `yaml:"auth_params" json:"auth_params,omitempty"`

	// RefreshSupported is false for providers that issue no refresh token
	// (a GitHub OAuth App): their connections expire instead of refreshing.
	RefreshSupported bool `yaml:"refresh_supported" json:"refresh_supported"`
	// Rotates: the provider issues a new refresh token on every refresh and may
	// treat reuse of the old one as theft.
	Rotates bool `yaml:"rotates" json:"rotates"`
	// RotationGrace is how long a rotated refresh token stays valid, when known.
	RotationGrace time.Duration `yaml:"rotation_grace" json:"rotation_grace,omitempty"`

	// AccessTokenLifetime is the lifetime assumed when a response has no expires_in
	// and the token is not a JWT with exp.
	AccessTokenLifetime time.Duration `yaml:"access_token_lifetime" json:"access_token_lifetime,omitempty"`
	// RefreshTokenLifetime is the refresh token's lifetime when the provider
	// documents one; RefreshTokenAbsolute says a refresh does not extend it.
	RefreshTokenLifetime time.Duration `yaml:"refresh_token_lifetime" json:"refresh_token_lifetime,omitempty"`
	RefreshTokenAbsolute bool          `yaml:"refresh_token_absolute" json:"refresh_token_absolute,omitempty"`
	// RefreshBefore overrides the default refresh margin (DESIGN.md §3).
	RefreshBefore time.Duration `yaml:"refresh_before" json:"refresh_before,omitempty"`
	// Keepalive, when set, refreshes at least this often, for providers that
	// revoke refresh tokens left unused.
	Keepalive time.Duration `yaml:"keepalive" json:"keepalive,omitempty"`

	// Quirks of the refresh request and response.
	Refresh RefreshQuirks `yaml:"refresh" json:"refresh"`

	// SweepSchedule is an optional cron expression ("0 0,12 * * *") for
	// scheduled sweeps of this provider on top of the continuous scheduler.
	SweepSchedule string `yaml:"sweep_schedule" json:"sweep_schedule,omitempty"`
	// RateLimit is the refreshes per second sent to this provider (0: the default);
	// Burst its bucket size; MaxConcurrent the refreshes in flight at once.
	RateLimit     float64 `yaml:"rate_limit" json:"rate_limit,omitempty"`
	Burst         int     `yaml:"burst" json:"burst,omitempty"`
	MaxConcurrent int     `yaml:"max_concurrent" json:"max_concurrent,omitempty"`

	// Custom is true for providers defined only in the operator's file.
	Custom bool `yaml:"-" json:"custom"`
}

// RefreshQuirks are the provider-specific deviations of a refresh request
// from RFC 6749 §6, and of its response.
type RefreshQuirks struct {
	// URL replaces TokenURL for refresh requests (Instagram's refresh_access_token).
	URL string `yaml:"url" json:"url,omitempty"`
	// Method is "POST" (default) or "GET" (parameters in the query string).
	Method string `yaml:"method" json:"method,omitempty"`
	// Body is "form" (default) or "json" (Notion).
	Body string `yaml:"body" json:"body,omitempty"`
	// GrantType replaces "refresh_token" (Instagram: ig_refresh_token).
	GrantType string `yaml:"grant_type" json:"grant_type,omitempty"`
	// ClientIDParam renames client_id in the body (TikTok: client_key).
	ClientIDParam string `yaml:"client_id_param" json:"client_id_param,omitempty"`
	// TokenParam renames refresh_token in the request (Instagram: access_token).
	TokenParam string `yaml:"token_param" json:"token_param,omitempty"`
	// Headers are sent with every token request (Reddit's User-Agent).
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	// Params are added to every refresh request.
	Params map[string]string `yaml:"params" json:"params,omitempty"`
	// ErrorIn200: the provider may answer 200 with an "error" field (GitHub).
	ErrorIn200 bool `yaml:"error_in_200" json:"error_in_200,omitempty"`
	// NoExpiresIn: responses omit expires_in (Salesforce); AccessTokenLifetime applies.
	NoExpiresIn bool `yaml:"no_expires_in" json:"no_expires_in,omitempty"`
	// TokenPath is a dotted path to the token object when the provider nests it
	// (TikTok v1 "data"); empty for the top level.
	TokenPath string `yaml:"token_path" json:"token_path,omitempty"`
	// RefreshWithAccessToken: the "refresh token" sent is the current access
	// token (Instagram long-lived tokens).
	RefreshWithAccessToken bool `yaml:"refresh_with_access_token" json:"refresh_with_access_token,omitempty"`
}

// Catalog answers which providers exist and what they are.
type Catalog interface {
	// Provider returns the named provider, or false when it is unknown.
	Provider(name string) (*Provider, bool)
	// Providers returns every provider, sorted by name.
	Providers() []*Provider
}
