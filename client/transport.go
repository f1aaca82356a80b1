package client

import (
	"io"
	"net/http"

	"golang.org/x/oauth2"
)

// HTTPClient returns an *http.Client that sends requests to a resource
// server (the provider's API) with the source's access token, over base's
// transport (nil: http.DefaultTransport). When the resource server answers
// 401, it reports the token as rejected (Rejected: tokenkeeper refreshes the
// connection once, whatever the number of callers) and sends the request
// once more with the new token, when the request can be replayed (no body,
// or one with GetBody, as http.NewRequest sets for in-memory bodies).
//
// Prefer it to oauth2.NewClient(ctx, s), which works too but caches the
// token a second time and so keeps using a rejected one until it expires.
func (s *TokenSource) HTTPClient(base *http.Client) *http.Client {
	c := &http.Client{}
	if base != nil {
		*c = *base
	}
	c.Transport = &retryTransport{s: s, next: &oauth2.Transport{Source: s, Base: c.Transport}}
	return c
}

// retryTransport retries a request answered 401 once with a new token.
type retryTransport struct {
	s    *TokenSource
	next *oauth2.Transport
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.s.Token()
	if err != nil {
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	replay := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil
		}
		if replay.Body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	if err := t.s.Rejected(req.Context(), tok); err != nil {
		return resp, nil // the 401 stands; the next Token call explains (NEEDS_REAUTH)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return t.next.RoundTrip(replay)
}
