package oauth

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// Our messages for outcomes that carry no description from the provider.
const (
	msgRedirect   = "the token endpoint answered with a redirect, which is not followed"
	msgMalformed  = "the token endpoint's answer has no access token"
	msgUnexpected = "the token endpoint answered with an unexpected HTTP status"
	msgOkFalse    = "the token endpoint answered ok=false"
)

// ParseTokenResponse classifies one token endpoint answer (status, headers,
// body) to a request that sent the refresh token sent (empty for a code
// exchange) at now, the time the request was sent. It never panics, whatever
// the input. On success the Outcome carries the Token; its RefreshToken is the
// new one or, when the answer has none, sent; Rotated is true when a new,
// different refresh token came back. The package documentation lists the
// classification and the expiry rules. sent and p.ClientSecret never appear
// in Message or Code.
func ParseTokenResponse(status int, header http.Header, body []byte, p *tokenkeeper.Provider, sent tokenkeeper.Secret, now time.Time) tokenkeeper.Outcome {
	var secret tokenkeeper.Secret
	if p != nil {
		secret = p.ClientSecret
	}
	return parseResponse(status, header, body, p, sent, now, []string{sent.Reveal(), secret.Reveal()})
}

// parseResponse is ParseTokenResponse with the list of secrets to keep out
// of the outcome.
func parseResponse(status int, header http.Header, body []byte, p *tokenkeeper.Provider, sent tokenkeeper.Secret, now time.Time, secrets []string) tokenkeeper.Outcome {
	if p == nil {
		p = &tokenkeeper.Provider{}
	}
	if status >= 300 && status <= 399 {
		return failure(tokenkeeper.ClassTransient, "redirect", msgRedirect, status)
	}
	f := decodeBody(header.Get("Content-Type"), body, p.Refresh.TokenPath)
	wait, ok := retryAfter(header, now)
	if !ok {
		wait = f.retryAfter
	}
	switch {
	case transientStatus(status):
		o := failure(tokenkeeper.ClassTransient, statusCode(status), sanitizeMessage(f.errDesc, secrets, "the provider answered HTTP "+http.StatusText(status)), status)
		o.RetryAfter = wait
		return o
	case status >= 200 && status <= 299:
		if f.errCode != "" {
			return errorOutcome(f, status, wait, secrets)
		}
		if p.Refresh.ErrorIn200 && f.okFalse {
			o := failure(tokenkeeper.ClassPermanent, "error_in_200", sanitizeMessage(f.errDesc, secrets, msgOkFalse), status)
			o.RetryAfter = wait
			return o
		}
		if f.accessToken == "" {
			return failure(tokenkeeper.ClassTransient, "malformed_response", msgMalformed, status)
		}
		return success(f, p, sent, now, status)
	case status >= 400 && status <= 499:
		if f.errCode != "" {
			return errorOutcome(f, status, wait, secrets)
		}
		o := failure(tokenkeeper.ClassPermanent, statusCode(status), sanitizeMessage(f.errDesc, secrets, "the provider refused the request with HTTP "+http.StatusText(status)), status)
		o.RetryAfter = wait
		return o
	}
	return failure(tokenkeeper.ClassTransient, "unexpected_status", msgUnexpected, status)
}

// failure returns a failed outcome.
func failure(class tokenkeeper.Class, code, msg string, status int) tokenkeeper.Outcome {
	return tokenkeeper.Outcome{Class: class, Code: code, Message: msg, HTTPStatus: status}
}

// errorOutcome classifies an answer that carries an error code.
func errorOutcome(f fields, status int, wait time.Duration, secrets []string) tokenkeeper.Outcome {
	class := classifyCode(f.errCode, f.errDesc, f.graphCode)
	fallback := "the provider refused the request"
	switch class {
	case tokenkeeper.ClassRevoked:
		fallback = "the provider says the grant is revoked or expired"
	case tokenkeeper.ClassConfig:
		fallback = "the provider rejected tokenkeeper's client credentials"
	case tokenkeeper.ClassTransient:
		fallback = "the provider asked to try again later"
	}
	o := failure(class, sanitizeCode(f.errCode, secrets), sanitizeMessage(f.errDesc, secrets, fallback), status)
	o.RetryAfter = wait
	return o
}

// success builds the successful outcome and its token.
func success(f fields, p *tokenkeeper.Provider, sent tokenkeeper.Secret, now time.Time, status int) tokenkeeper.Outcome {
	t := &tokenkeeper.Token{
		AccessToken:  tokenkeeper.Secret(f.accessToken),
		RefreshToken: tokenkeeper.Secret(f.refreshToken),
		TokenType:    f.tokenType,
		Scopes:       f.scopes,
		Lifetime:     f.expiresIn,
	}
	switch {
	case f.expiresIn > 0:
		t.ExpiresAt = now.Add(f.expiresIn)
	default:
		if exp, ok := jwtExpiry(f.accessToken, now); ok {
			t.ExpiresAt = exp
		} else if p.AccessTokenLifetime > 0 {
			t.ExpiresAt = now.Add(min(p.AccessTokenLifetime, maxLifetime))
		}
	}
	if f.refreshExpiresIn > 0 {
		t.RefreshTokenExpiresAt = now.Add(f.refreshExpiresIn)
	}
	rotated := false
	if t.RefreshToken.IsZero() {
		t.RefreshToken = sent
	} else if !sent.IsZero() && t.RefreshToken != sent {
		rotated = true
	}
	return tokenkeeper.Outcome{Class: tokenkeeper.ClassSuccess, HTTPStatus: status, Token: t, Rotated: rotated}
}

// jwtExpiry returns the exp claim of an access token that is a JWT, when it
// lies after now (capped at ten years). The signature is not verified: the
// claim only schedules the next refresh.
func jwtExpiry(token string, now time.Time) (time.Time, bool) {
	first := strings.IndexByte(token, '.')
	if first <= 0 {
		return time.Time{}, false
	}
	rest := token[first+1:]
	second := strings.IndexByte(rest, '.')
	if second <= 0 || strings.IndexByte(rest[second+1:], '.') >= 0 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(rest[:second], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.RawMessage `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || len(claims.Exp) == 0 {
		return time.Time{}, false
	}
	sec, ok := jsonNumber(claims.Exp)
	if !ok {
		return time.Time{}, false
	}
	if sec <= float64(now.Unix()) {
		return time.Time{}, false
	}
	limit := now.Add(maxLifetime)
	if sec >= float64(limit.Unix()) {
		return limit, true
	}
	exp := time.Unix(int64(sec), int64((sec-math.Floor(sec))*1e9))
	if !exp.After(now) {
		return time.Time{}, false
	}
	return exp, true
}

// jsonNumber reads a finite JSON number.
func jsonNumber(raw json.RawMessage) (float64, bool) {
	var v float64
	if json.Unmarshal(raw, &v) != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}
