package providertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
)

// rawRefresh refreshes rt with client c without the testing helpers, so it
// can run on any goroutine; it returns the status and the new refresh token.
func rawRefresh(ctx context.Context, c *http.Client, s *providertest.Server, rt string) (int, string, error) {
	p := s.Provider("fake")
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {p.ClientID}, "client_secret": {p.ClientSecret.Reveal()}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", err
	}
	var v struct {
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal(body, &v)
	return resp.StatusCode, v.RefreshToken, nil
}

func TestConcurrentRefreshes(t *testing.T) {
	t.Parallel()
	s := setup(t, providertest.Options{Rotate: true, ReuseDetection: true})
	c := s.Client()
	const workers, rounds = 16, 40
	first := make([]string, workers)
	for i := range first {
		first[i] = s.Grant().RefreshToken.Reveal()
	}
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rt := first[i]
			for range rounds {
				status, next, err := rawRefresh(t.Context(), c, s, rt)
				if err != nil || status != 200 || next == "" {
					errs <- fmt.Errorf("worker %d: status %d err %v", i, status, err)
					return
				}
				rt = next
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s.Refreshes() != workers*rounds || s.Reuses() != 0 {
		t.Errorf("refreshes %d reuses %d", s.Refreshes(), s.Reuses())
	}
	for _, rt := range first {
		if !s.Alive(rt) || s.RefreshesOf(rt) != 1 {
			t.Errorf("grant of %s: alive %v presented %d times", rt, s.Alive(rt), s.RefreshesOf(rt))
		}
	}
}

// TestRotationModel checks the fake against a model of one grant under any
// sequence of refreshes, replays, revocations and unknown tokens.
func TestRotationModel(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(rt *rapid.T) {
		rotate := rapid.Bool().Draw(rt, "rotate")
		detect := rotate && rapid.Bool().Draw(rt, "detect")
		s := providertest.New(providertest.Options{Rotate: rotate, ReuseDetection: detect})
		defer s.Close()
		c := s.Client()
		history := []string{s.Grant().RefreshToken.Reveal()}
		alive, reuses, refreshes := true, 0, 0

		rt.Repeat(map[string]func(*rapid.T){
			"refresh current": func(rt *rapid.T) {
				status, next, err := rawRefresh(context.Background(), c, s, history[len(history)-1])
				refreshes++
				if err != nil {
					rt.Fatal(err)
				}
				if !alive {
					if status != 400 {
						rt.Fatalf("dead grant refreshed: %d", status)
					}
					return
				}
				if status != 200 || (next != "") != rotate {
					rt.Fatalf("status %d new refresh token %q, rotate %v", status, next, rotate)
				}
				if rotate {
					history = append(history, next)
				}
			},
			"replay old": func(rt *rapid.T) {
				if len(history) < 2 {
					rt.Skip("nothing rotated yet")
				}
				old := history[rapid.IntRange(0, len(history)-2).Draw(rt, "old")]
				status, _, err := rawRefresh(context.Background(), c, s, old)
				refreshes++
				if err != nil || status != 400 {
					rt.Fatalf("replay answered %d %v", status, err)
				}
				reuses++
				if detect {
					alive = false
				}
			},
			"revoke": func(rt *rapid.T) {
				tok := rapid.SampledFrom(history).Draw(rt, "token")
				p := s.Provider("fake")
				resp, err := c.PostForm(p.RevokeURL, url.Values{"token": {tok}, "client_id": {p.ClientID}, "client_secret": {p.ClientSecret.Reveal()}})
				if err != nil || resp.StatusCode != 200 {
					rt.Fatalf("revoke: %v", err)
				}
				resp.Body.Close()
				alive = false
			},
			"unknown token": func(rt *rapid.T) {
				status, _, err := rawRefresh(context.Background(), c, s, "rt_never_issued")
				refreshes++
				if err != nil || status != 400 {
					rt.Fatalf("unknown token answered %d %v", status, err)
				}
			},
			"": func(rt *rapid.T) {
				for _, tok := range history {
					if s.Alive(tok) != alive {
						rt.Fatalf("Alive(%s) = %v, model %v", tok, s.Alive(tok), alive)
					}
				}
				if s.Reuses() != reuses || s.Refreshes() != refreshes || s.Current(history[0]) != history[len(history)-1] {
					rt.Fatalf("reuses %d/%d refreshes %d/%d", s.Reuses(), reuses, s.Refreshes(), refreshes)
				}
			},
		})
	})
}

// BenchmarkRefresh measures refreshes per second through HTTP, with rotation.
func BenchmarkRefresh(b *testing.B) {
	s := setup(b, providertest.Options{Rotate: true, ReuseDetection: true})
	c := s.Client()
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		rt := s.Grant().RefreshToken.Reveal()
		for pb.Next() {
			status, next, err := rawRefresh(context.Background(), c, s, rt)
			if err != nil || status != 200 {
				b.Errorf("refresh: %d %v", status, err)
				return
			}
			rt = next
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refreshes/s")
}
