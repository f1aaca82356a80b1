package apikey

import (
	"slices"
	"strings"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
)

// FuzzParseScopes checks that ParseScopes accepts exactly lists of known
// scopes and returns each at most once.
func FuzzParseScopes(f *testing.F) {
	for _, s := range []string{"", "admin", "tokens:read, connections:write", ",,admin,", "root", "admin\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, csv string) {
		got, err := ParseScopes(csv)
		if err != nil {
			if tokenkeeper.ErrorCode(err) != tokenkeeper.CodeInvalidRequest {
				t.Fatalf("error %v is not INVALID_REQUEST", err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("no scopes and no error")
		}
		for i, s := range got {
			if !slices.Contains(tokenkeeper.Scopes, s) || slices.Contains(got[i+1:], s) {
				t.Fatalf("ParseScopes(%q) = %v", csv, got)
			}
			if !strings.Contains(csv, string(s)) {
				t.Fatalf("scope %q is not in the input", s)
			}
		}
	})
}
