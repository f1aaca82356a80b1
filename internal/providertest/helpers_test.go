package providertest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

// answer is a decoded token endpoint answer.
type answer struct {
	Status       int
	AccessToken  string  `json:"access_token"`
	RefreshToken string  `json:"refresh_token"`
	TokenType    string  `json:"token_type"`
	ExpiresIn    float64 `json:"expires_in"`
	Scope        string  `json:"scope"`
	Error        string  `json:"error"`
	Description  string  `json:"error_description"`
}

// style is how a test request authenticates the client.
type style int

const (
	stylePost style = iota
	styleBasic
	styleBoth
	styleNone
)

// setup starts a fake provider and closes it when the test ends.
func setup(t testing.TB, o providertest.Options) *providertest.Server {
	t.Helper()
	s := providertest.New(o)
	t.Cleanup(s.Close)
	return s
}

// post sends params to path on s, authenticated in style st with secret.
func post(t testing.TB, s *providertest.Server, path string, params url.Values, st style, secret string) answer {
	t.Helper()
	p := s.Provider("fake")
	params = cloneValues(params)
	if st == stylePost || st == styleBoth {
		params.Set("client_id", p.ClientID)
		params.Set("client_secret", secret)
	}
	req, err := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(params.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if st == styleBasic || st == styleBoth {
		req.SetBasicAuth(url.QueryEscape(p.ClientID), url.QueryEscape(secret))
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	a := answer{Status: resp.StatusCode}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatalf("answer %d %q is not JSON: %v", resp.StatusCode, body, err)
		}
	}
	return a
}

// refresh runs a refresh_token grant with the right credentials in the
// server's own style.
func refresh(t testing.TB, s *providertest.Server, rt string) answer {
	t.Helper()
	p := s.Provider("fake")
	st := stylePost
	if p.AuthMethod == tokenkeeper.AuthBasic {
		st = styleBasic
	}
	return post(t, s, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, st, p.ClientSecret.Reveal())
}

// userinfo calls /userinfo with access token at and returns the status and id.
func userinfo(t testing.TB, s *providertest.Server, at string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	defer resp.Body.Close()
	var v struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v.ID
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
