package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/time/rate"

	"github.com/tokenkeeper/tokenkeeper/internal/oidctest"
)

// grantAll runs n authorization code flows at the oidc-provider for
// clientID, workers at a time, and returns the tokens in order.
func grantAll(t *testing.T, as *oidctest.Server, clientID string, n, workers int) []*oauth2.Token {
	t.Helper()
	toks := make([]*oauth2.Token, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				toks[i] = as.Grant(t, clientID, "") // a failure ends this goroutine only
			}
		})
	}
	for i := range n {
		if t.Failed() {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return toks
}

// importAll imports every token as a connection of provider for user
// u<i>, spreading the requests over the replicas, workers at a time, and
// returns the connection ids in order.
func importAll(ctx context.Context, a *api, rs []*replica, provider string, toks []*oauth2.Token, workers int) ([]string, error) {
	ids := make([]string, len(toks))
	errs := make([]error, len(toks))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				tok := toks[i]
				body := map[string]any{
					"user_id": fmt.Sprintf("u%d", i), "provider": provider, "account_id": "alice",
					"access_token": tok.AccessToken, "refresh_token": tok.RefreshToken,
					"scopes": []string{"read", "write"},
				}
				// A token that expired while the grants ran (on a slow
				// machine) is imported as expired: it is refreshed at once.
				if left := int64(time.Until(tok.Expiry) / time.Second); left > 0 {
					body["expires_in"] = left
				} else {
					body["expires_at"] = tok.Expiry.UTC().Format(time.RFC3339)
				}
				ids[i], errs[i] = a.importConnection(ctx, rs[i%len(rs)].URL(), body)
			}
		})
	}
	for i := range toks {
		next <- i
	}
	close(next)
	wg.Wait()
	return ids, errors.Join(errs...)
}

// Outcomes of reads that a replica dropped (closed the connection without
// an answer) while it kept running: retried by net/http's transport and
// then answered, or retried by the caller on another replica.
const (
	droppedThenAnswered  = "200 after the replica dropped the first attempt"
	droppedByLiveReplica = "dropped by a live replica"
)

// readers are concurrent GET …/token callers spread over the replicas.
// Each answer is counted by outcome; a 200 must carry an access token that
// has not expired.
type readers struct {
	mu       sync.Mutex
	outcomes map[string]int  // "200", "503 TOKEN_REFRESH_ERROR", "down" (no replica answered)…
	expired  int             // 200 answers whose token had already expired
	took     []time.Duration // latency of each 200 answer
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// startReaders starts n callers, making perSecond requests a second in
// all (0: as many as they can). Caller i asks replica i%len(rs) first and
// moves on to the next replica when one is down (its URL is empty or the
// connection is refused), for a random connection each time, with
// min_validity minValidity[i%len(minValidity)] (0: none). Stop ends them.
func startReaders(a *api, rs []*replica, ids []string, n int, perSecond float64, minValidity ...time.Duration) *readers {
	ctx, cancel := context.WithCancel(context.Background())
	r := &readers{outcomes: map[string]int{}, cancel: cancel}
	if len(minValidity) == 0 {
		minValidity = []time.Duration{0}
	}
	limit := rate.NewLimiter(rate.Inf, 1)
	if perSecond > 0 {
		limit = rate.NewLimiter(rate.Limit(perSecond), n)
	}
	for i := range n {
		mv := minValidity[i%len(minValidity)]
		r.wg.Go(func() {
			for limit.Wait(ctx) == nil {
				r.read(ctx, a, rs, i, ids[rand.IntN(len(ids))], mv)
			}
		})
	}
	return r
}

// read asks replicas in turn, from the caller's own, until one answers,
// as a client behind a load balancer retries a request whose replica died
// (reading a token is idempotent). It gives up after three rounds.
func (r *readers) read(ctx context.Context, a *api, rs []*replica, caller int, id string, mv time.Duration) {
	for k := range 3 * len(rs) {
		base := rs[(caller+k)%len(rs)].URL()
		if base == "" {
			continue
		}
		began := time.Now()
		tv, status, code, retried, err := a.token(ctx, base, id, mv)
		took := time.Since(began)
		if ctx.Err() != nil {
			return
		}
		if err != nil && (errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
			errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			if rs[(caller+k)%len(rs)].URL() == base {
				// The replica still runs: it dropped the request.
				r.mu.Lock()
				r.outcomes[droppedByLiveReplica]++
				r.mu.Unlock()
			}
			continue // killed while we asked: try the next replica
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case err != nil:
			r.outcomes["error: "+err.Error()]++
		case status == http.StatusOK:
			outcome := "200"
			if retried && rs[(caller+k)%len(rs)].URL() == base {
				// Answered on net/http's own retry: the replica, still up,
				// dropped the first attempt.
				outcome = droppedThenAnswered
			}
			r.outcomes[outcome]++
			r.took = append(r.took, took)
			if tv.AccessToken == "" || !tv.ExpiresAt.After(time.Now()) {
				r.expired++
			}
		default:
			r.outcomes[fmt.Sprintf("%d %s", status, code)]++
		}
		return
	}
	r.mu.Lock()
	r.outcomes["down"]++
	r.mu.Unlock()
}

// Stop ends the callers and returns their counts.
func (r *readers) Stop() (outcomes map[string]int, expired int) {
	r.cancel()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.outcomes, r.expired
}

// latency returns the median, 99th percentile and longest time to a 200
// answer, after Stop.
func (r *readers) latency() (p50, p99, longest time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.took) == 0 {
		return 0, 0, 0
	}
	d := slices.Clone(r.took)
	slices.Sort(d)
	return d[len(d)/2], d[len(d)*99/100], d[len(d)-1]
}

// summary prints outcome counts in a stable order.
func summary(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %d; ", k, m[k])
	}
	return strings.TrimSuffix(b.String(), "; ")
}
