package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
)

// Cookie names. The session cookie is scoped to Prefix.
const (
	sessionCookie = "tk_admin_session"
	loginCookie   = "tk_admin_login" // the login form's CSRF token (double submit)
	csrfField     = "csrf"
)

// session is a signed login: the API key it was opened with, its expiry and
// a random nonce from which the CSRF token is derived. The cookie holds
// "v1.<key id>.<expiry unix>.<nonce>.<mac>", the MAC an HMAC-SHA256 over
// the rest under the first of Config.SessionKeys, so any replica sharing the
// key ring can check it. The key's revocation ends its sessions: every request checks
// that the key is still unrevoked and carries the admin scope.
type session struct {
	keyID   string
	expires time.Time
	nonce   string
	csrf    string
}

type sessionKey struct{}

func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	return s
}

// mac returns the base64url HMAC-SHA256 of parts joined by "." under key,
// with a purpose prefix so that a CSRF token is never a valid session MAC
// and the reverse.
func mac(key []byte, purpose string, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose + "\x00" + strings.Join(parts, ".")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// newSession returns the cookie value of a new session for key.
func (h *Handler) newSession(keyID string) (string, time.Time) {
	exp := h.cfg.Now().Add(h.cfg.SessionTTL)
	payload := strings.Join([]string{"v1", keyID, strconv.FormatInt(exp.Unix(), 10), randomHex(16)}, ".")
	return payload + "." + mac(h.cfg.SessionKeys[0], "session", payload), exp
}

// parseSession checks a session cookie's MAC and expiry.
func (h *Handler) parseSession(value string) (*session, bool) {
	parts := strings.Split(value, ".")
	if len(parts) != 5 || parts[0] != "v1" {
		return nil, false
	}
	payload := strings.Join(parts[:4], ".")
	var key []byte
	for _, k := range h.cfg.SessionKeys {
		if subtle.ConstantTimeCompare([]byte(mac(k, "session", payload)), []byte(parts[4])) == 1 {
			key = k
			break
		}
	}
	if key == nil {
		return nil, false
	}
	unix, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return nil, false
	}
	exp := time.Unix(unix, 0)
	if !h.cfg.Now().Before(exp) {
		return nil, false
	}
	return &session{keyID: parts[1], expires: exp, nonce: parts[3], csrf: mac(key, "csrf", parts[3])}, true
}

// currentSession returns the request's valid session whose API key is still
// an unrevoked admin key, or nil.
func (h *Handler) currentSession(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	s, ok := h.parseSession(c.Value)
	if !ok {
		return nil, nil
	}
	keys, err := h.cfg.Store.ListAPIKeys(r.Context())
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.ID == s.keyID && k.RevokedAt.IsZero() && k.Allows(tokenkeeper.ScopeAdmin) {
			return s, nil
		}
	}
	return nil, nil
}

// authed wraps a page that needs a login: without a session it redirects
// to the login page.
func (h *Handler) authed(page func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := h.currentSession(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if s == nil {
			http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, s))
		if err := page(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

// form wraps a POST handler: it needs a session (401 otherwise) and the
// session's CSRF token in the form field "csrf" (403 otherwise).
func (h *Handler) form(action func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		s, err := h.currentSession(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if s == nil {
			h.renderStatus(w, r, http.StatusUnauthorized, "error.html", errorPage{Title: "Logged out", Message: "Your session has ended. Log in again."})
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.PostFormValue(csrfField)), []byte(s.csrf)) != 1 {
			h.cfg.Logger.Warn("admin form refused: missing or wrong CSRF token", "route", r.Pattern, "api_key_id", s.keyID)
			h.renderStatus(w, r, http.StatusForbidden, "error.html", errorPage{Title: "Form expired", Message: "This form is out of date or did not come from this page. Reload the page and try again."})
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, s))
		if err := action(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

// cookie returns a cookie of the admin page with the shared attributes.
func (h *Handler) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteStrictMode,
	}
}

type loginPage struct {
	CSRF  string
	Error string
}

// loginPage shows the login form with a fresh double-submit CSRF token.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if s, err := h.currentSession(r); err == nil && s != nil {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	h.showLogin(w, r, http.StatusOK, "")
}

func (h *Handler) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	token := randomHex(16)
	http.SetCookie(w, h.cookie(loginCookie, token, 3600))
	h.renderStatus(w, r, status, "login.html", loginPage{CSRF: token, Error: msg})
}

// login checks the admin API key posted in the form field "key" and opens a
// session. The key never leaves this function: it is neither logged nor
// echoed back.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(r.PostFormValue(csrfField)), []byte(c.Value)) != 1 {
		h.showLogin(w, r, http.StatusForbidden, "The login form expired. Try again.")
		return
	}
	k, err := apikey.Authenticate(r.Context(), h.cfg.Store, strings.TrimSpace(r.PostFormValue("key")))
	switch {
	case tokenkeeper.ErrorCode(err) == tokenkeeper.CodeUnauthorized:
		h.cfg.Logger.Info("admin login refused: invalid API key")
		h.showLogin(w, r, http.StatusUnauthorized, "That API key is not valid.")
		return
	case err != nil:
		h.fail(w, r, err)
		return
	case !k.Allows(tokenkeeper.ScopeAdmin):
		h.cfg.Logger.Info("admin login refused: the key lacks the admin scope", "api_key_id", k.ID)
		h.showLogin(w, r, http.StatusForbidden, "That API key lacks the admin scope.")
		return
	}
	value, _ := h.newSession(k.ID)
	http.SetCookie(w, h.cookie(sessionCookie, value, int(h.cfg.SessionTTL/time.Second)))
	http.SetCookie(w, h.cookie(loginCookie, "", -1))
	h.cfg.Logger.Info("admin login", "api_key_id", k.ID)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// logout deletes the session cookie.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, h.cookie(sessionCookie, "", -1))
	if s := sessionFrom(r.Context()); s != nil {
		h.cfg.Logger.Info("admin logout", "api_key_id", s.keyID)
	}
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
	return nil
}
