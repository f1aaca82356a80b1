package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimiterEntries bounds the limiters kept per API key and per client
// address: an attacker with many addresses cannot grow them without bound.
// New keys beyond it share one overflow limiter until idle ones are dropped.
const maxLimiterEntries = 10000

// pruneEvery is how often at most a full limiter table is scanned for idle
// entries, so that a flood of new addresses does not scan on every request.
const pruneEvery = time.Second

// keyedLimiter is a token bucket (golang.org/x/time/rate) per key, driven by
// the injected clock. Its zero value is not usable; a nil *keyedLimiter
// allows everything.
type keyedLimiter struct {
	limit   rate.Limit
	burst   int
	max     int
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	pruned  time.Time
	spill   *rate.Limiter // shared by new keys while the table is full
}

// newKeyedLimiter returns a limiter of perSecond requests per second per key
// with bursts of burst (at least 1), or nil (no limit) when perSecond <= 0.
func newKeyedLimiter(perSecond float64, burst, maxEntries int) *keyedLimiter {
	if perSecond <= 0 {
		return nil
	}
	burst = max(burst, 1)
	return &keyedLimiter{
		limit:   rate.Limit(perSecond),
		burst:   burst,
		max:     maxEntries,
		buckets: make(map[string]*rate.Limiter),
		spill:   rate.NewLimiter(rate.Limit(perSecond), burst),
	}
}

// bucketLocked returns key's bucket, creating it; l.mu is held.
func (l *keyedLimiter) bucketLocked(key string, now time.Time) *rate.Limiter {
	if b, ok := l.buckets[key]; ok {
		return b
	}
	if len(l.buckets) >= l.max && now.Sub(l.pruned) >= pruneEvery {
		l.pruned = now
		for k, b := range l.buckets {
			if b.TokensAt(now) >= float64(l.burst) { // idle: full again
				delete(l.buckets, k)
			}
		}
	}
	if len(l.buckets) >= l.max {
		return l.spill
	}
	b := rate.NewLimiter(l.limit, l.burst)
	l.buckets[key] = b
	return b
}

// allow takes one token from key's bucket at now. When there is none it
// returns false and how long until there is one.
func (l *keyedLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(key, now)
	if b.AllowN(now, 1) {
		return true, 0
	}
	return false, l.waitLocked(b, now)
}

// take takes one token from key's bucket at now, like allow, and returns a
// refund that puts it back (for a request that turns out not to count).
func (l *keyedLimiter) take(key string, now time.Time) (refund func(), ok bool, wait time.Duration) {
	if l == nil {
		return func() {}, true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(key, now)
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); !r.OK() || d > 0 {
		r.CancelAt(now)
		return nil, false, d
	}
	return func() { r.CancelAt(now) }, true, 0
}

// waitLocked is how long until b holds one token.
func (l *keyedLimiter) waitLocked(b *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - b.TokensAt(now)
	return time.Duration(missing / float64(l.limit) * float64(time.Second))
}

// knownKeys remembers the hashes of API keys that authenticated recently, so
// that a client whose key is valid is not refused by the per-address limit
// that an attacker behind the same address (or proxy) exhausted.
type knownKeys struct {
	mu   sync.Mutex
	seen map[[32]byte]time.Time
}

// knownKeyTTL is how long a key stays known after its last successful use.
const knownKeyTTL = 10 * time.Minute

func (k *knownKeys) has(hash [32]byte, now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	at, ok := k.seen[hash]
	return ok && now.Sub(at) < knownKeyTTL
}

func (k *knownKeys) forget(hash [32]byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.seen, hash)
}

func (k *knownKeys) add(hash [32]byte, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.seen == nil {
		k.seen = make(map[[32]byte]time.Time)
	}
	if _, ok := k.seen[hash]; !ok && len(k.seen) >= maxLimiterEntries {
		for h, at := range k.seen {
			if now.Sub(at) >= knownKeyTTL {
				delete(k.seen, h)
			}
		}
		if len(k.seen) >= maxLimiterEntries {
			return
		}
	}
	k.seen[hash] = now
}

// clientAddr is the key of the per-address limit: the remote IP address of
// the connection, an IPv6 address by its /64 prefix (one host usually holds
// the whole prefix). It does not read X-Forwarded-For: behind a proxy every
// client shares the proxy's address (docs/config.md).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// NewHTTPServer returns the http.Server that serves h with tokenkeeper's
// limits: 10 s to read a request's headers, 30 s to read the whole request,
// writeTimeout to write the response (sweeps extend their own), 2 min idle
// keep-alive, and 64 KiB of request headers (a larger header block is
// answered 431 by net/http before any handler runs).
func NewHTTPServer(h http.Handler, writeTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// MaxHeaderBytes is the most bytes of request headers NewHTTPServer accepts.
const MaxHeaderBytes = 64 << 10
