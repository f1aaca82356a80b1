package httpapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
)

// requestInfo collects, while a request is served, what its log line says.
type requestInfo struct {
	keyID string
	code  tokenkeeper.Code
	cause error
	shed  bool // refused by the in-flight limit: logged at debug only
}

type infoKey struct{}

type apiKeyKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// APIKeyFrom returns the API key that authenticated the request whose
// context is ctx, and false on routes that need no key.
func APIKeyFrom(ctx context.Context) (*tokenkeeper.APIKey, bool) {
	k, ok := ctx.Value(apiKeyKey{}).(*tokenkeeper.APIKey)
	return k, ok
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe sets the common headers, turns a panic into 500 INTERNAL and logs
// one line per request: method, route pattern, status, duration, API key id,
// error code, and the cause of a 5xx. It never logs the path, the query
// string, a header or a body, which may carry user ids and secrets.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.cfg.Now()
		info := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		sw := &statusWriter{ResponseWriter: w}
		sw.Header().Set("X-Content-Type-Options", "nosniff")
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				err := fmt.Errorf("panic serving request: %v\n%s", v, debug.Stack())
				if sw.status == 0 {
					s.writeError(sw, r, err)
				} else {
					info.cause = err
				}
			}
			d := s.cfg.Now().Sub(start)
			s.logRequest(r, sw.status, d, info)
			if s.cfg.OnResponse != nil {
				s.cfg.OnResponse(r.Pattern, cmp.Or(sw.status, http.StatusOK), d)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

func (s *Server) logRequest(r *http.Request, status int, d time.Duration, info *requestInfo) {
	if status == 0 {
		status = http.StatusOK
	}
	level := slog.LevelDebug
	if status >= http.StatusInternalServerError && !info.shed {
		level = slog.LevelInfo
	}
	ctx := r.Context()
	if !s.cfg.Logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", r.Pattern),
		slog.Int("status", status),
		slog.Duration("duration", d),
	}
	if info.keyID != "" {
		attrs = append(attrs, slog.String("api_key_id", info.keyID))
	}
	if info.code != "" {
		attrs = append(attrs, slog.String("code", string(info.code)))
	}
	if info.cause != nil {
		attrs = append(attrs, slog.String("error", info.cause.Error()))
	}
	s.cfg.Logger.LogAttrs(ctx, level, "http request", attrs...)
}

// handlerFunc is a route handler; a returned error is answered in the JSON
// error shape.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// public adapts a handler of a route that needs no API key.
func (s *Server) public(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// authed adapts a handler of a route that needs an API key carrying one of
// scopes (admin carries every scope): 401 UNAUTHORIZED without a valid key,
// 403 FORBIDDEN without the scope, 429 RATE_LIMITED past the key's rate or
// past the client address's allowance of requests without a valid key.
func (s *Server) authed(h handlerFunc, scopes ...tokenkeeper.Scope) http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		presented, _ := bearerKey(r)
		settle, err := s.admitUnauthenticated(r, presented)
		if err != nil {
			return err
		}
		k, err := s.authenticate(r)
		settle(tokenkeeper.ErrorCode(err) == tokenkeeper.CodeUnauthorized)
		if err != nil {
			return err
		}
		if info := infoFrom(r.Context()); info != nil {
			info.keyID = k.ID
		}
		if err := s.authSucceeded(presented, k); err != nil {
			return err
		}
		if !allows(k, scopes) {
			return tokenkeeper.Errorf(tokenkeeper.CodeForbidden, "this API key lacks the scope %s", scopeList(scopes))
		}
		s.touch(r.Context(), k)
		return h(w, r.WithContext(context.WithValue(r.Context(), apiKeyKey{}, k)))
	})
}

// authenticate checks the request's bearer key: from the key cache when it
// authenticated less than Config.APIKeyCacheTTL ago, else in the store
// (and, when it is valid there, caches it).
func (s *Server) authenticate(r *http.Request) (*tokenkeeper.APIKey, error) {
	if r.Header.Get("Authorization") == "" {
		return nil, tokenkeeper.Errorf(tokenkeeper.CodeUnauthorized, "missing API key: send Authorization: Bearer <key>")
	}
	key, ok := bearerKey(r)
	if !ok {
		return nil, tokenkeeper.Errorf(tokenkeeper.CodeUnauthorized, "the Authorization header must be Bearer <key>")
	}
	var hash [32]byte
	if s.keys != nil {
		hash = [32]byte(apikey.Hash(key))
	}
	// The entry's age counts from before the read, so that it is never
	// used longer than the TTL after what the store said.
	now := s.cfg.Now()
	if k, ok := s.keys.get(hash, now); ok {
		return k, nil
	}
	k, err := apikey.Authenticate(r.Context(), s.cfg.Store, key)
	if err != nil {
		if tokenkeeper.ErrorCode(err) == tokenkeeper.CodeUnauthorized {
			return nil, err
		}
		return nil, fmt.Errorf("authenticate api key: %w", err)
	}
	s.keys.put(hash, k, now)
	return k, nil
}

func allows(k *tokenkeeper.APIKey, scopes []tokenkeeper.Scope) bool {
	for _, sc := range scopes {
		if k.Allows(sc) {
			return true
		}
	}
	return false
}

func scopeList(scopes []tokenkeeper.Scope) string {
	names := make([]string, len(scopes))
	for i, sc := range scopes {
		names[i] = string(sc)
	}
	return strings.Join(names, " or ")
}

// touch records the key's last use at most once per touchInterval per key,
// so that reads do not write on every request. A failure is logged, not
// answered: the request was authenticated.
func (s *Server) touch(ctx context.Context, k *tokenkeeper.APIKey) {
	now := s.cfg.Now()
	s.mu.Lock()
	last, seen := s.touched[k.ID]
	if !seen {
		last = k.LastUsedAt
	}
	due := now.Sub(last) >= touchInterval
	if due {
		s.touched[k.ID] = now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	if err := s.cfg.Store.TouchAPIKey(ctx, k.ID, now); err != nil && !errors.Is(err, context.Canceled) {
		s.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "record api key use", slog.String("api_key_id", k.ID), slog.String("error", err.Error()))
	}
}
