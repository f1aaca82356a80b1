package oauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// Defaults for Options.
const (
	DefaultTimeout      = 15 * time.Second
	DefaultMaxBodyBytes = 1 << 20
	DefaultUserAgent    = "tokenkeeper"
)

// Options configure a Client. The zero value is usable.
type Options struct {
	// HTTPClient sends the requests; nil means a client with its own pooled
	// transport. Its CheckRedirect is replaced: redirects are never followed.
	HTTPClient *http.Client
	// Timeout bounds each request, body included (default 15s).
	Timeout time.Duration
	// MaxBodyBytes bounds the response body read (default 1 MiB); at most
	// MaxBodyBytes+1 bytes are read from a larger one.
	MaxBodyBytes int64
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives a debug record of each request (provider, grant, class,
	// code, status, duration) and a warning when a provider not marked
	// no_expires_in answers without a usable expiry; never a secret or a raw
	// error (default: discard).
	Logger *slog.Logger
	// UserAgent is sent unless the provider's quirks set one (default "tokenkeeper").
	UserAgent string
}

// Client talks to token endpoints. It is safe for concurrent use.
type Client struct {
	hc        *http.Client
	timeout   time.Duration
	maxBody   int64
	now       func() time.Time
	log       *slog.Logger
	userAgent string
}

// New returns a Client with o's settings, defaults filled in.
func New(o Options) *Client {
	c := &Client{timeout: o.Timeout, maxBody: o.MaxBodyBytes, now: o.Now, log: o.Logger, userAgent: o.UserAgent}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	hc := o.HTTPClient
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		hc = &http.Client{Transport: t}
	}
	cp := *hc
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &cp
	return c
}

// Refresh sends one refresh request for p with refreshToken (or, with
// RefreshQuirks.RefreshWithAccessToken, accessToken) and classifies the
// answer. It sends exactly one HTTP request, or none when p is not usable
// (a config outcome) or there is no token to send (permanent,
// "no_refresh_token"). Client credentials are required except with
// RefreshWithAccessToken, which sends none.
func (c *Client) Refresh(ctx context.Context, p *tokenkeeper.Provider, refreshToken, accessToken tokenkeeper.Secret) tokenkeeper.Outcome {
	if p == nil {
		return *configOutcome("provider_unknown", "no provider configuration")
	}
	s, o := refreshSpec(p, refreshToken, accessToken)
	if o != nil {
		return *o
	}
	return c.send(ctx, p, s, refreshToken, accessToken)
}

// Exchange redeems an authorization code (with its PKCE verifier, when not
// empty) at p's token endpoint, in one HTTP request, classified like Refresh.
func (c *Client) Exchange(ctx context.Context, p *tokenkeeper.Provider, code, redirectURI, codeVerifier string) tokenkeeper.Outcome {
	if p == nil {
		return *configOutcome("provider_unknown", "no provider configuration")
	}
	return c.send(ctx, p, exchangeSpec(p, code, redirectURI, codeVerifier), "", "", tokenkeeper.Secret(code), tokenkeeper.Secret(codeVerifier))
}

// Revoke asks p to revoke token (RFC 7009) with hint as token_type_hint
// ("refresh_token", "access_token" or ""). Any 2xx is success; failures are
// classified like Refresh. Without p.RevokeURL it sends nothing and returns
// a permanent outcome with Code "revocation_unsupported".
func (c *Client) Revoke(ctx context.Context, p *tokenkeeper.Provider, token tokenkeeper.Secret, hint string) tokenkeeper.Outcome {
	if p == nil {
		return *configOutcome("provider_unknown", "no provider configuration")
	}
	if p.RevokeURL == "" {
		return tokenkeeper.Outcome{Class: tokenkeeper.ClassPermanent, Code: "revocation_unsupported", Message: "the provider has no revocation endpoint"}
	}
	if token.IsZero() {
		return tokenkeeper.Outcome{Class: tokenkeeper.ClassPermanent, Code: "no_token", Message: "there is no token to revoke"}
	}
	return c.send(ctx, p, revokeSpec(p, token, hint), "", "", token)
}

// send performs s once and classifies the answer. sent is the refresh token
// kept when the answer has none; every secret in extra is kept out of the
// outcome's text along with sent and the client secret.
func (c *Client) send(ctx context.Context, p *tokenkeeper.Provider, s *spec, sent tokenkeeper.Secret, extra ...tokenkeeper.Secret) tokenkeeper.Outcome {
	secrets := []string{sent.Reveal(), p.ClientSecret.Reveal()}
	for _, e := range extra {
		secrets = append(secrets, e.Reveal())
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, bad := c.newRequest(ctx, p, s)
	if bad != nil {
		c.logOutcome(ctx, p, s, *bad, 0)
		return *bad
	}
	start := c.now()
	o := c.roundTrip(ctx, req, p, s, sent, start, secrets)
	c.logOutcome(ctx, p, s, o, c.now().Sub(start))
	return o
}

// roundTrip sends req, reads at most maxBody+1 bytes of the answer and
// classifies it.
func (c *Client) roundTrip(ctx context.Context, req *http.Request, p *tokenkeeper.Provider, s *spec, sent tokenkeeper.Secret, start time.Time, secrets []string) tokenkeeper.Outcome {
	resp, err := c.hc.Do(req)
	if err != nil {
		return transportOutcome(ctx, err, 0)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if int64(len(body)) > c.maxBody {
		return failure(tokenkeeper.ClassTransient, "response_too_large", "the token endpoint's answer exceeds the size limit", resp.StatusCode)
	}
	if err != nil {
		return transportOutcome(ctx, err, resp.StatusCode)
	}
	if s.grant == "revoke" {
		return revokeOutcome(resp.StatusCode, resp.Header, body, p, start, secrets)
	}
	return parseResponse(resp.StatusCode, resp.Header, body, p, sent, start, secrets)
}

// revokeOutcome classifies a revocation answer: any 2xx is success, whatever
// the body (RFC 7009 §2.2); the rest like a token answer.
func revokeOutcome(status int, h http.Header, body []byte, p *tokenkeeper.Provider, now time.Time, secrets []string) tokenkeeper.Outcome {
	if status >= 200 && status <= 299 {
		return tokenkeeper.Outcome{Class: tokenkeeper.ClassSuccess, HTTPStatus: status}
	}
	return parseResponse(status, h, body, p, "", now, secrets)
}

// logOutcome writes one debug record per request: provider, grant, class,
// code, status and duration, never a token or the raw error (a GET URL may
// carry a token).
func (c *Client) logOutcome(ctx context.Context, p *tokenkeeper.Provider, s *spec, o tokenkeeper.Outcome, d time.Duration) {
	if o.Class == tokenkeeper.ClassSuccess && o.Token != nil && o.Token.ExpiresAt.IsZero() && !p.Refresh.NoExpiresIn {
		c.log.LogAttrs(ctx, slog.LevelWarn, "token response has no usable expiry; set no_expires_in and access_token_lifetime for this provider",
			slog.String("provider", p.Name), slog.String("grant", s.grant))
	}
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "token endpoint request",
		slog.String("provider", p.Name), slog.String("grant", s.grant),
		slog.String("class", string(o.Class)), slog.String("code", o.Code),
		slog.Int("http_status", o.HTTPStatus), slog.Bool("rotated", o.Rotated),
		slog.Duration("duration", d))
}

// transportOutcome classifies an error from sending a request or reading
// its answer; status is the answer's HTTP status when one arrived. ctx is the
// request's context: when it is done, the cause is our timeout, the caller's
// deadline ("timeout") or the caller's cancellation ("canceled"). The message
// is ours: the error's own text can hold the request URL, and a GET refresh
// URL can hold a token.
func transportOutcome(ctx context.Context, err error, status int) tokenkeeper.Outcome {
	code, msg := "network", "a network error interrupted the request to the provider"
	var (
		dns      *net.DNSError
		netErr   net.Error
		certErr  *tls.CertificateVerificationError
		alertErr tls.AlertError
		recErr   tls.RecordHeaderError
		authErr  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invErr   x509.CertificateInvalidError
	)
	switch {
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled):
		code, msg = "canceled", "the request to the provider was canceled"
	case ctx.Err() != nil, errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		code, msg = "timeout", "the provider did not answer in time"
	case errors.As(err, &dns):
		msg = "the provider's host name could not be resolved"
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = "the provider refused the connection"
	case errors.Is(err, syscall.ECONNRESET):
		msg = "the provider reset the connection"
	case errors.As(err, &certErr), errors.As(err, &alertErr), errors.As(err, &recErr),
		errors.As(err, &authErr), errors.As(err, &hostErr), errors.As(err, &invErr):
		msg = "the TLS handshake with the provider failed"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		msg = "the provider closed the connection before the answer was complete"
	}
	return tokenkeeper.Outcome{Class: tokenkeeper.ClassTransient, Code: code, Message: msg, HTTPStatus: status}
}
