package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
)

// statusCounts counts responses by status, safely from many goroutines.
type statusCounts struct {
	mu sync.Mutex
	m  map[int]int
}

func (c *statusCounts) add(status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[int]int{}
	}
	c.m[status]++
}

func (c *statusCounts) get() map[int]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int]int{}
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

// TestRequestStorm sends, over real HTTP from 16 goroutines, at least 10×
// the capacity of one API key (its burst: the server's clock stands still,
// so the key gets no more) and 10× the allowance of one address for
// requests without a valid key, with the in-flight limit far below the
// concurrency. Meanwhile a real scheduler must refresh connections that
// fall due, and another application's token read must succeed. The service
// answers only 200/429/503 to the storming key and 401/429/503 to the
// guesser, every response matches the OpenAPI document, and it serves
// normally afterwards.
func TestRequestStorm(t *testing.T) {
	t.Parallel()
	const (
		burst       = 20 // the storming key's capacity while the clock stands still
		addrBurst   = 10 // the guessing address's capacity
		maxInFlight = 4
		goroutines  = 16
		due         = 5     // connections the scheduler refreshes during the storm
		minRequests = 400   // 300 reads (15× burst) and 100 guesses (10× addrBurst) at least
		maxRequests = 10000 // the storm's bound, should the scheduler stall
	)
	s := setupReal(t, func(c *Config) {
		c.RateLimit, c.Burst = 1, burst
		c.AddrRateLimit, c.AddrBurst = 1, addrBurst
		c.MaxInFlight = maxInFlight
	})
	sched := refresh.NewScheduler(refresh.SchedulerOptions{
		Refresher: s.refresher, Store: s.store, Catalog: s.catalog, Workers: 4, PollInterval: 100 * time.Millisecond,
	})
	s.refresher.OnSchedule(sched.Wake)
	if err := sched.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sched.Stop)

	ts := httptest.NewUnstartedServer(s.srv)
	ts.Config = NewHTTPServer(s.srv, 30*time.Second)
	ts.Start()
	t.Cleanup(ts.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: goroutines}}
	t.Cleanup(client.CloseIdleConnections)
	var specErrors atomic.Int64
	get := func(target, key string) int {
		req, _ := http.NewRequest("GET", ts.URL+target, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Errorf("GET %s: %v", target, err)
			return 0
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if err := checkResponse(req, &response{Status: res.StatusCode, Header: res.Header, Body: body}); err != nil && specErrors.Add(1) <= 3 {
			t.Errorf("GET %s: %v", target, err)
		}
		return res.StatusCode
	}

	reading, _ := s.link("reader-app-user", time.Now().Add(time.Hour))
	tokenPath := "/v1/connections/" + reading.ID + "/token"
	other := s.newKey(tokenkeeper.ScopeTokensRead)
	// Both applications were in use before the storm (their keys are known
	// to the per-address limit).
	for _, k := range []string{s.reader, other} {
		if st := get(tokenPath, k); st != http.StatusOK {
			t.Fatalf("warm-up read: %d", st)
		}
	}

	var sent atomic.Int64
	var stop atomic.Bool
	started := make(chan struct{})
	var reads, guesses statusCounts
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for {
				n := sent.Add(1)
				if n > maxRequests || (stop.Load() && n > minRequests) {
					return
				}
				if n == 50 {
					close(started)
				}
				if n%4 == 0 {
					guesses.add(get("/v1/connections", "tk_"+string(bytes.Repeat([]byte{'g'}, 43))))
				} else {
					reads.add(get(tokenPath, s.reader))
				}
			}
		})
	}

	<-started
	var linked []string
	for i := range due {
		c, _ := s.link("due-user-"+string(rune('a'+i)), time.Now().Add(-time.Minute))
		linked = append(linked, c.ID)
	}
	otherRead := 0
	for range 10000 {
		otherRead = get(tokenPath, other)
		if otherRead != http.StatusServiceUnavailable {
			break
		}
	}
	if otherRead != http.StatusOK {
		t.Errorf("another key's token read during the storm: %d", otherRead)
	}
	guard := time.NewTimer(60 * time.Second)
	defer guard.Stop()
	for refreshed := 0; refreshed < due; {
		select {
		case a := <-s.attempts:
			if a.Class == tokenkeeper.ClassSuccess {
				refreshed++
			}
		case <-guard.C:
			t.Fatalf("the scheduler refreshed %d of %d connections in 60s of storm", refreshed, due)
		}
	}
	duringStorm := sent.Load() < maxRequests
	stop.Store(true)
	wg.Wait()

	sched.Stop() // let the refreshes counted above commit
	if !duringStorm {
		t.Errorf("the storm (%d requests) ended before the scheduler had refreshed", maxRequests)
	}
	r, g := reads.get(), guesses.get()
	t.Logf("storm: %d requests; storming key %v; guesser %v", min(sent.Load(), maxRequests), r, g)
	for st := range r {
		if st != http.StatusOK && st != http.StatusTooManyRequests && st != http.StatusServiceUnavailable {
			t.Errorf("the storming key got %d", st)
		}
	}
	for st := range g {
		if st != http.StatusUnauthorized && st != http.StatusTooManyRequests && st != http.StatusServiceUnavailable {
			t.Errorf("the guesser got %d", st)
		}
	}
	if r[http.StatusOK] > burst-1 || r[http.StatusTooManyRequests] == 0 {
		t.Errorf("the storming key got %d answers past its burst of %d (1 used before)", r[http.StatusOK], burst)
	}
	if g[http.StatusUnauthorized] > addrBurst || g[http.StatusTooManyRequests] == 0 {
		t.Errorf("the guesser got %d refusals past its allowance of %d", g[http.StatusUnauthorized], addrBurst)
	}
	for _, id := range linked {
		c, err := s.store.GetConnection(t.Context(), id)
		if err != nil || c.Status != tokenkeeper.StatusConnected || c.LastRefreshedAt.IsZero() {
			t.Errorf("connection %s after the storm: %+v %v", id, c, err)
		}
	}
	for _, target := range []string{"/healthz", "/readyz"} {
		if st := get(target, ""); st != http.StatusOK {
			t.Errorf("%s after the storm: %d", target, st)
		}
	}
	if st := get(tokenPath, other); st != http.StatusOK {
		t.Errorf("a read after the storm: %d", st)
	}
}
