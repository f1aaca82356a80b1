package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is what a load run measured.
type loadResult struct {
	requests int64
	rate     float64
	// lat holds the latencies, sorted.
	lat    []time.Duration
	errors int64
	err    error
}

// request sends the i-th request of a run.
type request func(ctx context.Context, i int64) error

// closedLoop runs conc clients back to back for warm+d and measures the
// rate and the latencies of the requests that started after warm. When no
// such request has finished by the end (a starved machine), it waits for
// the first one, so that a rate can always be given.
func closedLoop(ctx context.Context, conc int, warm, d time.Duration, do request) loadResult {
	var seq, errs, counted atomic.Int64
	var last atomic.Int64 // unix nanoseconds of the last counted completion
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	begin := time.Now()
	from, until := begin.Add(warm), begin.Add(warm+d)
	for range conc {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(until) && (counted.Load() > 0 || errs.Load() > 0) {
					break
				}
				err := do(ctx, seq.Add(1))
				t1 := time.Now()
				if err != nil {
					if errs.Add(1) == 1 {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					continue
				}
				if !t0.Before(from) && (t1.Before(until) || counted.Load() == 0) {
					lat = append(lat, t1.Sub(t0))
					counted.Add(1)
					last.Store(t1.UnixNano())
				}
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := max(time.Unix(0, last.Load()).Sub(from), d)
	return loadResult{requests: counted.Load(), rate: float64(counted.Load()) / elapsed.Seconds(), lat: sortDurations(all), errors: errs.Load(), err: firstErr}
}

// openLoop sends requests at a fixed rate for d, whatever the answers'
// pace, from up to workers requests in flight, and measures each latency
// from the request's scheduled start (so a stall counts against every
// request it delays: no coordinated omission).
func openLoop(ctx context.Context, rate float64, workers int, d time.Duration, do request) loadResult {
	interval := time.Duration(float64(time.Second) / rate)
	total := max(int64(d/interval), 5)
	jobs := make(chan time.Time, total+1)
	var errs atomic.Int64
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	var seq atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1024)
			for at := range jobs {
				if err := do(ctx, seq.Add(1)); err != nil {
					if errs.Add(1) == 1 {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					continue
				}
				lat = append(lat, time.Since(at))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	start := time.Now()
	for i := range total {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- at
	}
	close(jobs)
	wg.Wait()
	n := int64(len(all))
	return loadResult{requests: n, rate: float64(n) / time.Since(start).Seconds(), lat: sortDurations(all), errors: errs.Load(), err: firstErr}
}

// httpGetter returns a request that GETs urls in turn with an API key and
// reads the whole answer, which must be 200.
func httpGetter(hc *http.Client, urls []string, apiKey string) request {
	return func(ctx context.Context, i int64) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, urls[i%int64(len(urls))], nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET answered %d", resp.StatusCode)
		}
		return err
	}
}

// newLoadClient returns an HTTP client that keeps up to conns connections
// to one host open.
func newLoadClient(conns int) (*http.Client, func()) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns * 2
	t.MaxIdleConnsPerHost = conns * 2
	return &http.Client{Transport: t, Timeout: 10 * time.Second}, t.CloseIdleConnections
}
