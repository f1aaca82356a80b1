package oidctest

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOptionsEnviron(t *testing.T) {
	t.Setenv("PORT", "9090")
	t.Setenv("ROTATION_GRACE", "99")
	tests := []struct {
		name    string
		opts    Options
		want    []string // entries that must be present
		wantErr bool
	}{
		{name: "defaults", opts: Options{RedirectURIs: []string{"http://a/cb", "http://b/cb"}},
			want: []string{"REDIRECT_URIS=http://a/cb,http://b/cb", "EXIT_WITH_STDIN=1"}},
		{name: "all set", opts: Options{RedirectURIs: []string{"http://a/cb"}, AccessTokenTTL: 2 * time.Second,
			RefreshTokenTTL: time.Minute, RotationGrace: 5 * time.Second, StrictClientAuth: true, AnyLoopbackPort: true},
			want: []string{"AT_TTL=2", "RT_TTL=60", "ROTATION_GRACE=5", "STRICT_CLIENT_AUTH=1", "LOOPBACK_ANY_PORT=1"}},
		{name: "fractional seconds", opts: Options{AccessTokenTTL: 1500 * time.Millisecond}, wantErr: true},
		{name: "negative", opts: Options{RotationGrace: -time.Second}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := tt.opts.environ()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !slices.Contains(env, w) {
					t.Errorf("environment lacks %s", w)
				}
			}
			for _, kv := range env {
				if strings.HasPrefix(kv, "PORT=") || kv == "ROTATION_GRACE=99" {
					t.Errorf("environment keeps the caller's %s", kv)
				}
			}
		})
	}
}

// FuzzFirstLine checks that firstLine splits node's stdout at the first
// newline however the writes are chunked.
func FuzzFirstLine(f *testing.F) {
	f.Add([]byte("http://127.0.0.1:1234\nnotice\n"), uint8(3))
	f.Add([]byte("no newline"), uint8(0))
	f.Add([]byte("\n\n"), uint8(1))
	f.Fuzz(func(t *testing.T, out []byte, chunk uint8) {
		line := make(chan string, 1)
		var rest bytes.Buffer
		w := &firstLine{line: line, rest: &rest}
		size := int(chunk%16) + 1
		for p := out; len(p) > 0; {
			n := min(size, len(p))
			if m, err := w.Write(p[:n]); err != nil || m != n {
				t.Fatalf("Write = %d, %v; want %d, nil", m, err, n)
			}
			p = p[n:]
		}
		before, after, found := bytes.Cut(out, []byte("\n"))
		select {
		case got := <-line:
			if !found || got != strings.TrimSpace(string(before)) || rest.String() != string(after) {
				t.Fatalf("line %q rest %q for output %q", got, rest.String(), out)
			}
		default:
			if found || rest.Len() != 0 {
				t.Fatalf("no line for output %q", out)
			}
		}
	})
}
