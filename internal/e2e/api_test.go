package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"time"
)

// api calls the tokenkeeper HTTP API with one API key. Its methods return
// errors instead of failing the test, so goroutines can use them.
type api struct {
	key    string
	client *http.Client
}

func newAPI(key string) *api {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 512
	tr.MaxIdleConnsPerHost = 256
	return &api{key: key, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// close drops the client's idle connections.
func (a *api) close() { a.client.CloseIdleConnections() }

// apiError is the error body of the API.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// connectionView is the part of a connection object the tests read.
type connectionView struct {
	ID                           string    `json:"id"`
	Status                       string    `json:"status"`
	ConsecutiveFailures          int       `json:"consecutive_failures"`
	ConsecutiveTransientFailures int       `json:"consecutive_transient_failures"`
	ExpiresAt                    time.Time `json:"expires_at"`
	LastRefreshedAt              time.Time `json:"last_refreshed_at"`
	Version                      int64     `json:"version"`
	LastError                    *struct {
		Class   string `json:"class"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"last_error"`
}

// tokenView is GET …/token's answer.
type tokenView struct {
	AccessToken string    `json:"access_token"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// do sends a JSON request to base+path and decodes a 2xx answer into out
// and any other into an apiError. It returns the status, the error code of
// a non-2xx answer, and an error only when no answer came (or it did not
// decode).
func (a *api) do(ctx context.Context, method, url string, body, out any) (status int, code string, err error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", err
	}
	if resp.StatusCode/100 != 2 {
		var e apiError
		_ = json.Unmarshal(data, &e)
		return resp.StatusCode, e.Error.Code, nil
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, "", fmt.Errorf("%s %s: decode %d answer: %w", method, url, resp.StatusCode, err)
		}
	}
	return resp.StatusCode, "", nil
}

// importConnection links a connection through POST /v1/connections and
// returns its id.
func (a *api) importConnection(ctx context.Context, base string, body map[string]any) (string, error) {
	var c connectionView
	status, code, err := a.do(ctx, http.MethodPost, base+"/v1/connections", body, &c)
	switch {
	case err != nil:
		return "", err
	case status != http.StatusCreated || c.Status != "connected":
		return "", fmt.Errorf("import: %d %s, status %q", status, code, c.Status)
	}
	return c.ID, nil
}

// connection reads GET /v1/connections/{id}.
func (a *api) connection(ctx context.Context, base, id string) (connectionView, error) {
	var c connectionView
	status, code, err := a.do(ctx, http.MethodGet, base+"/v1/connections/"+id, nil, &c)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("get %s: %d %s", id, status, code)
	}
	return c, err
}

// token reads GET /v1/connections/{id}/token with an optional min_validity.
// retried reports that net/http's transport sent the request again on a
// new connection, which it does for a GET when the server closed a reused
// connection without answering.
func (a *api) token(ctx context.Context, base, id string, minValidity time.Duration) (tv tokenView, status int, code string, retried bool, err error) {
	url := base + "/v1/connections/" + id + "/token"
	if minValidity > 0 {
		url += "?min_validity=" + minValidity.String()
	}
	conns := 0
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { conns++ }})
	status, code, err = a.do(ctx, http.MethodGet, url, nil, &tv)
	return tv, status, code, conns > 1, err
}
