package sqlite

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestFileURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dsn     string
		want    string
		wantErr bool
	}{
		{dsn: "tokenkeeper.db", want: "file:tokenkeeper.db"},
		{dsn: "data/tk.db", want: "file:data/tk.db"},
		{dsn: "/var/lib/tk.db", want: "file:///var/lib/tk.db"},
		{dsn: "//srv/tk.db", want: "file:////srv/tk.db"},
		{dsn: "sqlite:tk.db", want: "file:tk.db"},
		{dsn: "sqlite:/abs/tk.db", want: "file:///abs/tk.db"},
		{dsn: "sqlite://tk.db", want: "file:tk.db"},
		{dsn: "sqlite:///abs/tk.db", want: "file:///abs/tk.db"},
		{dsn: "file:tk.db?mode=rwc", want: "file:tk.db?mode=rwc"},
		{dsn: "sqlite:file:/abs/tk.db", want: "file:/abs/tk.db"},
		{dsn: "odd?name#with%chars .db", want: "file:odd%3Fname%23with%25chars%20.db"},
		{dsn: "é.db", want: "file:%C3%A9.db"},
		{dsn: "", wantErr: true},
		{dsn: "sqlite:", wantErr: true},
		{dsn: ":memory:", wantErr: true},
		{dsn: "sqlite::memory:", wantErr: true},
		{dsn: "file::memory:", wantErr: true},
		{dsn: "file:x?mode=memory&cache=shared", wantErr: true},
		{dsn: "file:x?a=%zz", wantErr: true},
		{dsn: "nul\x00.db", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.dsn), func(t *testing.T) {
			t.Parallel()
			got, err := fileURI(tt.dsn)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("fileURI = %q, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("fileURI = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestOpenOddPath proves that SQLite opens the very file named, whatever
// characters its name holds.
func TestOpenOddPath(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "odd?name#x%41 é.db")
	s, err := Open(t.Context(), "sqlite:"+path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not at the path given: %v", err)
	}
}

func TestWithParams(t *testing.T) {
	t.Parallel()
	if got := withParams("file:a.db", "x=1"); got != "file:a.db?x=1" {
		t.Errorf("withParams without query = %q", got)
	}
	if got := withParams("file:a.db?mode=rw", "x=1"); got != "file:a.db?mode=rw&x=1" {
		t.Errorf("withParams with query = %q", got)
	}
}

// unescapeURIPath decodes %HH the way SQLite decodes a URI path.
func unescapeURIPath(t *testing.T, p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' {
			n, err := strconv.ParseUint(p[i+1:i+3], 16, 8)
			if err != nil {
				t.Fatalf("bad escape in %q", p)
			}
			b.WriteByte(byte(n))
			i += 2
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// FuzzFileURI checks that any plain path becomes a file: URI whose path
// part, as SQLite decodes it, is that path, with no query or fragment.
func FuzzFileURI(f *testing.F) {
	for _, seed := range []string{"tokenkeeper.db", "/var/lib/tk.db", "//x", "a?b#c%d", "sqlite:x", "file:x?y", ":memory:", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		uri, err := fileURI(dsn)
		if err != nil {
			return
		}
		if !strings.HasPrefix(uri, "file:") {
			t.Fatalf("fileURI(%q) = %q, not a file: URI", dsn, uri)
		}
		path, ok := strings.CutPrefix(dsn, "sqlite://")
		if !ok {
			path = strings.TrimPrefix(dsn, "sqlite:")
		}
		if strings.HasPrefix(path, "file:") {
			return // given as a URI: kept
		}
		rest := strings.TrimPrefix(uri, "file:")
		if strings.HasPrefix(rest, "//") {
			rest = strings.TrimPrefix(rest, "//") // empty authority
		}
		if strings.ContainsAny(rest, "?#") {
			t.Fatalf("fileURI(%q) = %q has a query or fragment", dsn, uri)
		}
		if got := unescapeURIPath(t, rest); got != path {
			t.Fatalf("fileURI(%q) = %q decodes to %q, want %q", dsn, uri, got, path)
		}
	})
}
