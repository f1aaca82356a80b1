package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

func TestJSONDepth(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   string
		want int
	}{
		"scalar":             {`"a"`, 0},
		"empty object":       {`{}`, 1},
		"nested":             {`{"a":[{"b":[]}]}`, 4},
		"brackets in string": {`{"a":"[[[[{{{{"}`, 1},
		"escaped quote":      {`{"a":"\"[[["}`, 1},
		"escaped backslash":  {`{"a":"\\","b":[[]]}`, 3},
		"siblings":           {`[[],[],[[]]]`, 3},
		"32 levels":          {strings.Repeat("[", 32) + strings.Repeat("]", 32), 32},
		"stops counting":     {strings.Repeat("[", 100000), maxJSONDepth + 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := jsonDepth([]byte(tc.in)); got != tc.want {
				t.Errorf("jsonDepth(%.40s) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

// TestDecodeDepthLimit: 32 levels pass the depth check, 33 do not.
func TestDecodeDepthLimit(t *testing.T) {
	t.Parallel()
	var v struct {
		A any `json:"a"`
	}
	nest := func(n int) []byte { // the object itself is level 1
		return []byte(`{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`)
	}
	if err := decodeJSON(nest(32), &v); err != nil {
		t.Errorf("32 levels: %v", err)
	}
	if err := decodeJSON(nest(33), &v); err == nil || !strings.Contains(err.Error(), "deeper than 32") {
		t.Errorf("33 levels: %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	good := map[string]time.Duration{
		"0": 0, "300": 5 * time.Minute, "5m": 5 * time.Minute, "1h30m": 90 * time.Minute, "1.5s": 1500 * time.Millisecond,
		"876000h": maxDuration,
	}
	for in, want := range good {
		if got, err := parseDuration("d", in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "-5m", "abc", "5 m", "1e3", "9223372036854775807", "876001h", "2562047h47m16.854775808s"} {
		_, err := parseDuration("min_validity", in)
		if tokenkeeper.ErrorCode(err) != tokenkeeper.CodeInvalidRequest || !strings.Contains(err.Error(), "min_validity") {
			t.Errorf("parseDuration(%q) = %v, want INVALID_REQUEST naming the parameter", in, err)
		}
	}
}

// FuzzDecodeJSON feeds arbitrary bodies to the link body decoder: it never
// panics, refuses with INVALID_REQUEST only, accepts only valid JSON
// objects, and its depth check agrees with encoding/json's own walk.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"user_id":"u","provider":"acme","access_token":"a","expires_in":60,"scopes":["r"]}`,
		`{"user_id":`, `[]`, `null`, `{} {}`, `{"x":1}`, "{\"a\":\"\xff\"}", `{"scopes":[[[]]]}`,
		`{"user_id":"\u00e9\"[["}`, `  {"expires_in": 1e3}  `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b linkBody
		err := decodeJSON(data, &b)
		if err != nil {
			if tokenkeeper.ErrorCode(err) != tokenkeeper.CodeInvalidRequest {
				t.Fatalf("error %v is not INVALID_REQUEST", err)
			}
		} else if !json.Valid(data) || bytes.TrimSpace(data)[0] != '{' {
			t.Fatalf("accepted %q", data)
		}
		if json.Valid(data) {
			if got, want := jsonDepth(data), refDepth(data); got != want {
				t.Fatalf("jsonDepth(%q) = %d, encoding/json says %d", data, got, want)
			}
		}
	})
}

// refDepth is the nesting depth of valid JSON by encoding/json's tokens,
// capped like jsonDepth.
func refDepth(data []byte) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) || err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
			if deepest > maxJSONDepth {
				return deepest
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// FuzzParseDuration: accepted durations are within [0, maxDuration].
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"5m", "300", "-1", "1h30m", "9223372036854775807s", ".5s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration("d", s)
		if err != nil {
			if tokenkeeper.ErrorCode(err) != tokenkeeper.CodeInvalidRequest {
				t.Fatalf("error %v is not INVALID_REQUEST", err)
			}
			return
		}
		if d < 0 || d > maxDuration {
			t.Fatalf("parseDuration(%q) = %v", s, d)
		}
	})
}
