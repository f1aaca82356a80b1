package oauth

import (
	"bytes"
	"encoding/json"
	"math"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxLifetime caps expires_in and refresh_token_expires_in: a provider that
// claims a token lives longer is treated as saying ten years.
const maxLifetime = 10 * 365 * 24 * time.Hour

// fields is what a token endpoint's answer says, whatever its encoding.
type fields struct {
	accessToken  string
	refreshToken string
	tokenType    string
	scopes       []string
	// expiresIn and refreshExpiresIn are 0 when absent, unusable or not positive.
	expiresIn        time.Duration
	refreshExpiresIn time.Duration
	// errCode is the "error" member (or a Graph error's type_code); errDesc its description.
	errCode string
	errDesc string
	// graphCode is the numeric code of a Graph-style error object, 0 otherwise.
	graphCode int64
	okFalse   bool // "ok": false (Slack)
	// retryAfter is the body's retry_after (Discord), 0 when absent.
	retryAfter time.Duration
}

// decodeBody reads a token endpoint's answer. JSON objects and form-encoded
// bodies are understood, chosen by sniffing the first byte and by the
// Content-Type; anything else (HTML, garbage, JSON that is not an object)
// yields empty fields. tokenPath is a dotted path to a nested token object.
func decodeBody(contentType string, raw []byte, tokenPath string) fields {
	raw = bytes.TrimSpace(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")))
	if len(raw) == 0 {
		return fields{}
	}
	switch raw[0] {
	case '{':
		return decodeJSON(raw, tokenPath)
	case '<', '[', '"':
		return fields{}
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" || bytes.IndexByte(raw, '=') > 0 {
		return decodeForm(raw)
	}
	return fields{}
}

// decodeJSON reads a JSON object. Error members are looked up in the token
// object first and then at the top level.
func decodeJSON(raw []byte, tokenPath string) fields {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return fields{}
	}
	obj := top
	if tokenPath != "" {
		for _, seg := range strings.Split(tokenPath, ".") {
			next, ok := obj[seg]
			if !ok || len(next) == 0 || next[0] != '{' {
				obj = nil
				break
			}
			var m map[string]json.RawMessage
			if json.Unmarshal(next, &m) != nil {
				obj = nil
				break
			}
			obj = m
		}
	}
	var f fields
	if obj != nil {
		f.accessToken, _ = jsonString(obj["access_token"])
		f.refreshToken, _ = jsonString(obj["refresh_token"])
		f.tokenType, _ = jsonString(obj["token_type"])
		f.scopes = jsonScopes(obj["scope"])
		f.expiresIn = jsonSeconds(obj["expires_in"])
		f.refreshExpiresIn = firstPositive(
			jsonSeconds(obj["refresh_token_expires_in"]),
			jsonSeconds(obj["x_refresh_token_expires_in"]),
			jsonSeconds(obj["refresh_expires_in"]))
		f.readError(obj)
	}
	if f.errCode == "" && f.graphCode == 0 {
		f.readError(top)
	}
	if f.errDesc == "" {
		f.errDesc, _ = jsonString(top["message"])
	}
	if v, ok := top["ok"]; ok && string(v) == "false" {
		f.okFalse = true
	}
	f.retryAfter = min(jsonSeconds(top["retry_after"]), maxRetryAfter)
	return f
}

// readError reads "error" as a string (RFC 6749 §5.2) or as a Graph API object
// {"message":…, "type":…, "code":190}, and "error_description".
func (f *fields) readError(obj map[string]json.RawMessage) {
	raw := obj["error"]
	if s, ok := jsonString(raw); ok {
		f.errCode = s
		f.errDesc, _ = jsonString(obj["error_description"])
		return
	}
	if len(raw) == 0 || raw[0] != '{' {
		return
	}
	var g struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	if json.Unmarshal(raw, &g) != nil {
		return
	}
	code, _ := strconv.ParseInt(string(g.Code), 10, 64)
	f.graphCode = code
	f.errDesc = g.Message
	typ := strings.ToLower(g.Type)
	if typ == "" {
		typ = "error"
	}
	f.errCode = typ
	if code != 0 {
		f.errCode = typ + "_" + strconv.FormatInt(code, 10)
	}
}

// decodeForm reads an application/x-www-form-urlencoded answer (GitHub
// without Accept: application/json).
func decodeForm(raw []byte) fields {
	q, _ := url.ParseQuery(string(raw))
	return fields{
		accessToken:      q.Get("access_token"),
		refreshToken:     q.Get("refresh_token"),
		tokenType:        q.Get("token_type"),
		scopes:           splitScopes(q.Get("scope")),
		expiresIn:        parseSeconds(q.Get("expires_in")),
		refreshExpiresIn: firstPositive(parseSeconds(q.Get("refresh_token_expires_in")), parseSeconds(q.Get("x_refresh_token_expires_in"))),
		errCode:          q.Get("error"),
		errDesc:          q.Get("error_description"),
	}
}

// jsonString returns a JSON string's value; false when raw is not a string.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// jsonSeconds reads a number of seconds sent as a JSON number or string.
func jsonSeconds(raw json.RawMessage) time.Duration {
	if s, ok := jsonString(raw); ok {
		return parseSeconds(s)
	}
	return parseSeconds(string(raw))
}

// parseSeconds reads "3600", "3600.5" or "1e3" as a duration. Anything
// unparsable, infinite, NaN or not positive is 0; values above ten years are
// ten years.
func parseSeconds(s string) time.Duration {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return 0
	}
	if v >= maxLifetime.Seconds() {
		return maxLifetime
	}
	return time.Duration(math.Round(v * float64(time.Second)))
}

// jsonScopes reads "scope" as a space- or comma-separated string or as an
// array of strings.
func jsonScopes(raw json.RawMessage) []string {
	if s, ok := jsonString(raw); ok {
		return splitScopes(s)
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	var out []string
	for _, s := range list {
		out = append(out, splitScopes(s)...)
	}
	return out
}

// splitScopes splits a scope string on spaces and commas, dropping empties.
func splitScopes(s string) []string {
	if s == "" {
		return nil
	}
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' })
}

func firstPositive(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return 0
}
