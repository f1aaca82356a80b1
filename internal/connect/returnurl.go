package connect

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// maxReturnURLLen bounds a return URL.
const maxReturnURLLen = 2048

// AllowList is the set of URL prefixes the connect flow may send a browser
// back to (setting return_urls). A URL is allowed when, for one prefix, its
// scheme, host and port are the same (default ports made explicit) and its
// path starts with the prefix's path at a segment boundary: the prefix
// https://app.example/oauth allows /oauth and /oauth/done, not /oauthx. URLs
// with user info, a path with "." or ".." segments or backslashes, or
// control characters are never allowed. The zero AllowList allows nothing.
type AllowList struct {
	prefixes []*url.URL
}

// ParseAllowList parses comma-separated absolute http(s) URL prefixes. It
// fails on a prefix that is not one, has user info, a query or a fragment.
func ParseAllowList(csv string) (AllowList, error) {
	var l AllowList
	for part := range strings.SplitSeq(csv, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		u, err := parseAbsolute(part)
		if err != nil {
			return AllowList{}, fmt.Errorf("return URL prefix %q: %w", part, err)
		}
		if u.RawQuery != "" || u.Fragment != "" || strings.Contains(part, "?") || strings.Contains(part, "#") {
			return AllowList{}, fmt.Errorf("return URL prefix %q: a prefix has no query or fragment", part)
		}
		l.prefixes = append(l.prefixes, u)
	}
	return l, nil
}

// Len returns the number of prefixes.
func (l AllowList) Len() int { return len(l.prefixes) }

// Allowed reports whether raw may be redirected to, and returns it parsed.
func (l AllowList) Allowed(raw string) (*url.URL, bool) {
	u, err := parseAbsolute(raw)
	if err != nil {
		return nil, false
	}
	for _, p := range l.prefixes {
		if u.Scheme == p.Scheme && hostPort(u) == hostPort(p) && pathUnder(u.EscapedPath(), p.EscapedPath()) {
			return u, true
		}
	}
	return nil, false
}

// parseAbsolute parses an absolute http(s) URL without user info, control
// characters, backslashes or dot segments; its scheme is lower-cased and an
// empty path becomes "/".
func parseAbsolute(raw string) (*url.URL, error) {
	if raw == "" || len(raw) > maxReturnURLLen {
		return nil, fmt.Errorf("must be 1 to %d bytes", maxReturnURLLen)
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r == 0x7f || r == '\\' }) {
		return nil, fmt.Errorf("must not contain spaces, control characters or backslashes")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URL")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("must be an absolute http or https URL")
	}
	if u.User != nil {
		return nil, fmt.Errorf("must not contain user info")
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("has no host")
	}
	if u.Path == "" {
		u.Path, u.RawPath = "/", ""
	}
	unescaped, err := url.PathUnescape(u.EscapedPath())
	if err != nil {
		return nil, fmt.Errorf("has an invalid path")
	}
	for seg := range strings.SplitSeq(unescaped, "/") {
		if seg == "." || seg == ".." || strings.ContainsAny(seg, "\\") {
			return nil, fmt.Errorf("must not contain dot segments")
		}
	}
	return u, nil
}

// hostPort returns u's host lower-cased with its port, the scheme's default
// port when it has none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// pathUnder reports whether path is prefix or lies below it at a segment
// boundary.
func pathUnder(path, prefix string) bool {
	if path == prefix || strings.HasSuffix(prefix, "/") && strings.HasPrefix(path, prefix) {
		return true
	}
	return strings.HasPrefix(path, prefix+"/")
}

// withQuery returns u (copied) with the given query parameters set.
func withQuery(u *url.URL, kv ...string) string {
	c := *u
	q := c.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	c.RawQuery = q.Encode()
	return c.String()
}
