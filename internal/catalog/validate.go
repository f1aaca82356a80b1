package catalog

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"

	cron "github.com/netresearch/go-cron"
	"github.com/tokenkeeper/tokenkeeper"
)

// checkName reports whether name is a valid provider name: 1 to 64 of
// a-z, 0-9 and '-'.
func checkName(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return fmt.Errorf("provider name %q: want 1 to 64 characters", clip(name))
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return fmt.Errorf("provider name %q: want only a-z, 0-9 and '-'", clip(name))
		}
	}
	return nil
}

// validateProvider checks the facts of a merged provider. Its messages name
// the provider and the field, never the value.
func validateProvider(p *tokenkeeper.Provider) error {
	if err := checkName(p.Name); err != nil {
		return err
	}
	if err := checkFields(p); err != nil {
		return fmt.Errorf("provider %q: %w", p.Name, err)
	}
	return nil
}

func checkFields(p *tokenkeeper.Provider) error {
	if p.TokenURL == "" {
		return errors.New("token_url is required")
	}
	for _, u := range []struct{ key, value string }{
		{"auth_url", p.AuthURL}, {"token_url", p.TokenURL}, {"revoke_url", p.RevokeURL},
		{"account_url", p.AccountURL}, {"refresh: url", p.Refresh.URL},
	} {
		if err := checkURL(u.value); err != nil {
			return fmt.Errorf("%s: %w", u.key, err)
		}
	}
	if p.AccountURL != "" && p.AccountIDField == "" {
		return errors.New("account_url needs account_id_field")
	}
	if err := checkPath(p.AccountIDField); err != nil {
		return fmt.Errorf("account_id_field: %w", err)
	}
	switch p.AuthMethod {
	case tokenkeeper.AuthBasic, tokenkeeper.AuthPost:
	default:
		return errors.New(`auth_method: want "basic" or "post"`)
	}
	switch p.PKCE {
	case tokenkeeper.PKCERequired, tokenkeeper.PKCESupported, tokenkeeper.PKCENo:
	default:
		return errors.New(`pkce: want "required", "supported" or "no"`)
	}
	if hasControl(p.ClientID) || hasControl(p.ClientSecret.Reveal()) || hasControl(p.DisplayName) {
		return errors.New("client_id, client_secret and display_name must not contain control characters")
	}
	if err := checkScopes(p.Scopes, p.ScopeSeparator); err != nil {
		return err
	}
	if err := checkParams("auth_params", p.AuthParams); err != nil {
		return err
	}
	if p.RotationGrace > 0 && !p.Rotates {
		return errors.New("rotation_grace needs rotates: true")
	}
	if err := checkRefresh(&p.Refresh, p.AccessTokenLifetime > 0); err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	if p.SweepSchedule != "" {
		if _, err := cron.ParseStandard(p.SweepSchedule); err != nil {
			return errors.New(`sweep_schedule: want a cron expression such as "0 0,12 * * *"`)
		}
	}
	if math.IsNaN(p.RateLimit) || math.IsInf(p.RateLimit, 0) || p.RateLimit < 0 {
		return errors.New("rate_limit: want a number of refreshes per second, 0 or more")
	}
	if p.Burst < 0 || p.MaxConcurrent < 0 {
		return errors.New("burst and max_concurrent: want 0 or more")
	}
	return nil
}

// checkRefresh checks the refresh quirks.
func checkRefresh(q *tokenkeeper.RefreshQuirks, hasLifetime bool) error {
	switch q.Method {
	case "", "GET", "POST":
	default:
		return errors.New(`method: want "GET" or "POST"`)
	}
	switch q.Body {
	case "", "form", "json":
	default:
		return errors.New(`body: want "form" or "json"`)
	}
	for _, s := range []struct{ key, value string }{
		{"grant_type", q.GrantType}, {"client_id_param", q.ClientIDParam}, {"token_param", q.TokenParam},
	} {
		if hasControl(s.value) || strings.ContainsAny(s.value, " &=") {
			return fmt.Errorf("%s: want a parameter name", s.key)
		}
	}
	if err := checkPath(q.TokenPath); err != nil {
		return fmt.Errorf("token_path: %w", err)
	}
	for k, v := range q.Headers {
		if !isToken(k) {
			return fmt.Errorf("headers: %q is not a valid header name", clip(k))
		}
		if hasControl(v) {
			return fmt.Errorf("headers: %s: value must not contain control characters", k)
		}
	}
	if err := checkParams("params", q.Params); err != nil {
		return err
	}
	if q.NoExpiresIn && !hasLifetime {
		return errors.New("no_expires_in needs access_token_lifetime")
	}
	return nil
}

// checkURL accepts "" or an absolute http(s) URL with a host and without
// credentials or a fragment.
func checkURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || hasControl(s) || strings.ContainsAny(s, " \t") {
		return errors.New("not a valid URL")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return errors.New("want an absolute http or https URL")
	case u.Host == "" || u.Opaque != "":
		return errors.New("want an absolute http or https URL with a host")
	case u.User != nil:
		return errors.New("must not contain credentials; use client_id and client_secret")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return errors.New("must not contain a fragment")
	}
	return nil
}

// checkPath accepts "" or a dotted path of non-empty segments ("data.user.id").
func checkPath(s string) error {
	if s == "" {
		return nil
	}
	for seg := range strings.SplitSeq(s, ".") {
		if seg == "" || hasControl(seg) || strings.ContainsAny(seg, " \t") {
			return errors.New(`want a dotted path such as "id" or "data.id"`)
		}
	}
	return nil
}

// checkScopes checks that each scope is a non-empty word that does not
// contain the separator.
func checkScopes(scopes []string, sep string) error {
	switch {
	case len(sep) > 1 || hasControl(sep):
		return errors.New("scope_separator: want one character, such as \",\"")
	case sep == "":
		sep = " "
	}
	for _, s := range scopes {
		if s == "" || hasControl(s) || strings.ContainsAny(s, " \t") || strings.Contains(s, sep) {
			return fmt.Errorf("scopes: each scope must be a non-empty word without the separator %q", sep)
		}
	}
	return nil
}

func checkParams(key string, m map[string]string) error {
	for k, v := range m {
		if k == "" || hasControl(k) || hasControl(v) {
			return fmt.Errorf("%s: names must be non-empty and names and values free of control characters", key)
		}
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// isToken reports whether s is an RFC 9110 token (a valid header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r >= 0x80 || r <= 0x20 || r == 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}
