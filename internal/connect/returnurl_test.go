package connect

import (
	"strings"
	"testing"
)

func TestAllowList(t *testing.T) {
	t.Parallel()
	l, err := ParseAllowList(" https://app.example/oauth , http://localhost:3000/, https://Other.Example:8443/cb/ ")
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 3 {
		t.Fatalf("Len = %d, want 3", l.Len())
	}
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://app.example/oauth", true},
		{"https://app.example/oauth/done?x=1#frag", true},
		{"https://APP.example:443/oauth/done", true},
		{"HTTPS://app.example/oauth/done", true},
		{"https://app.example/oauthx", false},
		{"https://app.example/other", false},
		{"https://app.example/oauth/../admin", false},
		{"https://app.example/oauth/%2e%2e/admin", false},
		{"https://app.example/oauth/./x", false},
		{"https://app.example/oauth\\x", false},
		{"http://app.example/oauth/done", false},
		{"https://app.example:444/oauth/done", false},
		{"https://app.example.evil.com/oauth/done", false},
		{"https://evil.com/https://app.example/oauth", false},
		{"https://user:pass@app.example/oauth/done", false},
		{"//app.example/oauth/done", false},
		{"/oauth/done", false},
		{"javascript:alert(1)", false},
		{"https://app.example/oauth/do ne", false},
		{"https://app.example/oauth/\ndone", false},
		{"http://localhost:3000/", true},
		{"http://localhost:3000/anything/below", true},
		{"http://localhost/", false},
		{"https://other.example:8443/cb/x", true},
		{"https://other.example:8443/cb", false},
		{"https://other.example/cb/x", false},
		{"https://app.example/oauth/" + strings.Repeat("x", 3000), false},
		{"", false},
	}
	for _, tc := range tests {
		if _, ok := l.Allowed(tc.url); ok != tc.ok {
			t.Errorf("Allowed(%q) = %v, want %v", tc.url, ok, tc.ok)
		}
	}
	var empty AllowList
	if _, ok := empty.Allowed("https://app.example/oauth"); ok {
		t.Error("the empty allow-list allowed a URL")
	}
}

func TestParseAllowListErrors(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"app.example/oauth", "ftp://x/", "https://app.example/?q=1", "https://app.example/#f", "https://u@app.example/", "https:///x"} {
		if _, err := ParseAllowList(bad); err == nil {
			t.Errorf("ParseAllowList(%q) succeeded", bad)
		}
	}
	if l, err := ParseAllowList(" , "); err != nil || l.Len() != 0 {
		t.Errorf("ParseAllowList(blank) = %d prefixes, %v", l.Len(), err)
	}
}

func FuzzAllowList(f *testing.F) {
	l, _ := ParseAllowList("https://app.example/oauth/")
	for _, s := range []string{"https://app.example/oauth/x", "https://app.example/oauth/../x", "https://app.example%2f@evil/oauth/", "https://app.example/oauth/%2e%2e/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, ok := l.Allowed(raw)
		if !ok {
			return
		}
		if u.Scheme != "https" || !strings.EqualFold(u.Hostname(), "app.example") || !strings.HasPrefix(u.EscapedPath(), "/oauth/") || u.User != nil {
			t.Errorf("Allowed(%q) accepted %s", raw, u)
		}
	})
}
