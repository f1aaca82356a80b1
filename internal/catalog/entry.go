package catalog

import (
	"net/textproto"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// entry is one provider as written in a providers file. Pointer fields tell
// a key that is absent (nil) from one that is present, so that an operator's
// entry overrides only what it names. The yaml tags are the file's keys; they
// match tokenkeeper.Provider's.
type entry struct {
	Name           *string `yaml:"name"`
	DisplayName    *string `yaml:"display_name"`
	AuthURL        *string `yaml:"auth_url"`
	TokenURL       *string `yaml:"token_url"`
	RevokeURL      *string `yaml:"revoke_url"`
	AccountURL     *string `yaml:"account_url"`
	AccountIDField *string `yaml:"account_id_field"`

	AuthMethod *string `yaml:"auth_method"`
	PKCE       *string `yaml:"pkce"`

	ClientID     *string `yaml:"client_id"`
	ClientSecret *string `yaml:"client_secret"`

	Scopes         *[]string         `yaml:"scopes"`
	ScopeSeparator *string           `yaml:"scope_separator"`
	AuthParams     map[string]string `yaml:"auth_params"`

	RefreshSupported     *bool     `yaml:"refresh_supported"`
	Rotates              *bool     `yaml:"rotates"`
	RotationGrace        *duration `yaml:"rotation_grace"`
	AccessTokenLifetime  *duration `yaml:"access_token_lifetime"`
	RefreshTokenLifetime *duration `yaml:"refresh_token_lifetime"`
	RefreshTokenAbsolute *bool     `yaml:"refresh_token_absolute"`
	RefreshBefore        *duration `yaml:"refresh_before"`
	Keepalive            *duration `yaml:"keepalive"`

	Refresh *refreshEntry `yaml:"refresh"`

	SweepSchedule *string  `yaml:"sweep_schedule"`
	RateLimit     *float64 `yaml:"rate_limit"`
	Burst         *int     `yaml:"burst"`
	MaxConcurrent *int     `yaml:"max_concurrent"`
}

// refreshEntry is the refresh: block of an entry (tokenkeeper.RefreshQuirks).
type refreshEntry struct {
	URL                    *string           `yaml:"url"`
	Method                 *string           `yaml:"method"`
	Body                   *string           `yaml:"body"`
	GrantType              *string           `yaml:"grant_type"`
	ClientIDParam          *string           `yaml:"client_id_param"`
	TokenParam             *string           `yaml:"token_param"`
	Headers                map[string]string `yaml:"headers"`
	Params                 map[string]string `yaml:"params"`
	ErrorIn200             *bool             `yaml:"error_in_200"`
	NoExpiresIn            *bool             `yaml:"no_expires_in"`
	TokenPath              *string           `yaml:"token_path"`
	RefreshWithAccessToken *bool             `yaml:"refresh_with_access_token"`
}

// apply writes the fields present in e over p. Maps are merged key by key;
// an empty value removes the key. Scopes, when present, replace p's. The
// client credentials are left to the caller, which resolves references.
func (e *entry) apply(p *tokenkeeper.Provider) {
	setString(&p.DisplayName, e.DisplayName)
	setString(&p.AuthURL, e.AuthURL)
	setString(&p.TokenURL, e.TokenURL)
	setString(&p.RevokeURL, e.RevokeURL)
	setString(&p.AccountURL, e.AccountURL)
	setString(&p.AccountIDField, e.AccountIDField)
	if e.AuthMethod != nil {
		p.AuthMethod = tokenkeeper.AuthMethod(strings.ToLower(*e.AuthMethod))
	}
	if e.PKCE != nil {
		p.PKCE = tokenkeeper.PKCE(strings.ToLower(*e.PKCE))
	}
	if e.Scopes != nil {
		p.Scopes = append([]string{}, (*e.Scopes)...)
	}
	setString(&p.ScopeSeparator, e.ScopeSeparator)
	p.AuthParams = mergeMap(p.AuthParams, e.AuthParams, nil)
	setBool(&p.RefreshSupported, e.RefreshSupported)
	setBool(&p.Rotates, e.Rotates)
	setDuration(&p.RotationGrace, e.RotationGrace)
	setDuration(&p.AccessTokenLifetime, e.AccessTokenLifetime)
	setDuration(&p.RefreshTokenLifetime, e.RefreshTokenLifetime)
	setBool(&p.RefreshTokenAbsolute, e.RefreshTokenAbsolute)
	setDuration(&p.RefreshBefore, e.RefreshBefore)
	setDuration(&p.Keepalive, e.Keepalive)
	if e.Refresh != nil {
		e.Refresh.apply(&p.Refresh)
	}
	setString(&p.SweepSchedule, e.SweepSchedule)
	if e.RateLimit != nil {
		p.RateLimit = *e.RateLimit
	}
	if e.Burst != nil {
		p.Burst = *e.Burst
	}
	if e.MaxConcurrent != nil {
		p.MaxConcurrent = *e.MaxConcurrent
	}
}

// apply writes the fields present in r over q. Header names are
// canonicalized (User-Agent, Notion-Version) so that an override replaces
// the catalog's header whatever its case.
func (r *refreshEntry) apply(q *tokenkeeper.RefreshQuirks) {
	setString(&q.URL, r.URL)
	if r.Method != nil {
		q.Method = strings.ToUpper(*r.Method)
	}
	if r.Body != nil {
		q.Body = strings.ToLower(*r.Body)
	}
	setString(&q.GrantType, r.GrantType)
	setString(&q.ClientIDParam, r.ClientIDParam)
	setString(&q.TokenParam, r.TokenParam)
	q.Headers = mergeMap(q.Headers, r.Headers, textproto.CanonicalMIMEHeaderKey)
	q.Params = mergeMap(q.Params, r.Params, nil)
	setBool(&q.ErrorIn200, r.ErrorIn200)
	setBool(&q.NoExpiresIn, r.NoExpiresIn)
	setString(&q.TokenPath, r.TokenPath)
	setBool(&q.RefreshWithAccessToken, r.RefreshWithAccessToken)
}

// mergeMap returns a copy of base with over's entries written over it; an
// empty value in over deletes the key. canon, when set, normalizes keys. It
// returns nil rather than an empty map.
func mergeMap(base, over map[string]string, canon func(string) string) map[string]string {
	if canon == nil {
		canon = func(s string) string { return s }
	}
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[canon(k)] = v
	}
	for k, v := range over {
		if v == "" {
			delete(out, canon(k))
			continue
		}
		out[canon(k)] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func setString(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

func setDuration(dst *time.Duration, v *duration) {
	if v != nil {
		*dst = time.Duration(*v)
	}
}
