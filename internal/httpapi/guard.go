package httpapi

import (
	"crypto/sha256"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// shedLogEvery is how often at most the server logs that it sheds load.
const shedLogEvery = time.Minute

// limitInFlight answers 503 UNAVAILABLE (Retry-After: 1) at once, without
// queueing, when Config.MaxInFlight requests are already being served.
// GET /healthz is exempt: a liveness probe must not fail because the
// service is busy.
func (s *Server) limitInFlight(next http.Handler) http.Handler {
	if s.cfg.MaxInFlight <= 0 {
		return next
	}
	limit := int64(s.cfg.MaxInFlight)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		if s.inFlight.Add(1) > limit {
			s.inFlight.Add(-1)
			s.shed(w, r)
			return
		}
		defer s.inFlight.Add(-1)
		next.ServeHTTP(w, r)
	})
}

// shed refuses r because too many requests are in flight. Each refusal is
// logged at debug level only (an overload must not also flood the log); one
// warning per minute says that it happens.
func (s *Server) shed(w http.ResponseWriter, r *http.Request) {
	if info := infoFrom(r.Context()); info != nil {
		info.shed = true
	}
	now := s.cfg.Now()
	s.mu.Lock()
	warn := now.Sub(s.shedLogged) >= shedLogEvery
	if warn {
		s.shedLogged = now
	}
	s.mu.Unlock()
	if warn {
		s.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "shedding load: too many requests in flight",
			slog.Int("max_inflight", s.cfg.MaxInFlight))
	}
	s.writeError(w, r, &tokenkeeper.Error{
		Code:       tokenkeeper.CodeUnavailable,
		Message:    "too many requests in flight; try again shortly",
		RetryAfter: time.Second,
	})
}

// bearerKey returns the key of an "Authorization: Bearer <key>" header, and
// false when the header is missing or has another scheme.
func bearerKey(r *http.Request) (string, bool) {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(key), true
}

// admitUnauthenticated takes one request from the allowance of the
// client's address for requests without a valid API key
// (Config.AddrRateLimit) before the key is looked up, and answers
// RATE_LIMITED when none is left. A presented key that authenticated
// recently is exempt (until it is refused), so that a valid client is not
// locked out by another one behind the same address. The caller reports with settle whether the
// request turned out to count (the key was refused); if not, the request
// is given back.
func (s *Server) admitUnauthenticated(r *http.Request, presented string) (settle func(counts bool), err error) {
	noop := func(bool) {}
	if s.addrLimits == nil {
		return noop, nil
	}
	now := s.cfg.Now()
	if presented != "" {
		if hash := sha256.Sum256([]byte(presented)); s.known.has(hash, now) {
			// Known until refused: a key revoked since is forgotten at once.
			return func(counts bool) {
				if counts {
					s.known.forget(hash)
				}
			}, nil
		}
	}
	refund, ok, wait := s.addrLimits.take(clientAddr(r), now)
	if !ok {
		return nil, &tokenkeeper.Error{
			Code:       tokenkeeper.CodeRateLimited,
			Message:    "too many requests without a valid API key from this address",
			RetryAfter: wait,
		}
	}
	return func(counts bool) {
		if !counts {
			refund()
		}
	}, nil
}

// authSucceeded remembers the presented key as valid (see admitUnauthenticated)
// and takes one request from the key's allowance (Config.RateLimit): a key
// over its rate gets RATE_LIMITED with the time until it may send again.
func (s *Server) authSucceeded(presented string, k *tokenkeeper.APIKey) error {
	now := s.cfg.Now()
	if s.addrLimits != nil {
		s.known.add(sha256.Sum256([]byte(presented)), now)
	}
	if ok, wait := s.keyLimits.allow(k.ID, now); !ok {
		return &tokenkeeper.Error{
			Code:       tokenkeeper.CodeRateLimited,
			Message:    "this API key sends more requests than its rate limit allows",
			RetryAfter: wait,
		}
	}
	return nil
}
