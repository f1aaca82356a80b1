package providertest

import (
	"bufio"
	"fmt"
	"net/http"
	"time"
)

// Response is an injected answer of the token or revocation endpoint.
type Response struct {
	// Status, Header and Body are written as they are (Content-Type defaults
	// to application/json when Body is set). Status 0 means "no canned
	// answer": after Delay the request is processed normally.
	Status int
	Header http.Header
	Body   string
	// Delay is waited before answering (or before normal processing).
	Delay time.Duration
	// Started, when not nil, receives a value when a request starts being
	// served with this response; the send does not block, so give the
	// channel a buffer. Tests use it to know a request is in flight.
	Started chan<- struct{}
	// Release, when not nil, holds the answer (after Delay) until it is
	// closed, the client gives up or the server closes.
	Release <-chan struct{}
	// Hang never answers: the handler waits until the client gives up, then
	// returns; on Close the connection is dropped.
	Hang bool
	// CloseConnection drops the connection: at once when Status is 0, else
	// after writing the status line, headers with the full Content-Length and
	// the first half of Body.
	CloseConnection bool
}

// Script queues responses served one each, in order, to the next token or
// revocation requests, before normal processing and before FailAll.
func (s *Server) Script(responses ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, responses...)
}

// FailAll makes every token and revocation request (after the script runs
// out) get r, until Heal: an outage.
func (s *Server) FailAll(r Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll = &r
}

// Heal ends FailAll and drops what is left of the script.
func (s *Server) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll = nil
	s.script = nil
}

// nextInjectedLocked pops the next scripted response or returns the FailAll
// one; nil when none applies. s.mu is held.
func (s *Server) nextInjectedLocked() *Response {
	if len(s.script) > 0 {
		r := s.script[0]
		s.script = s.script[1:]
		return &r
	}
	if s.failAll != nil {
		r := *s.failAll
		return &r
	}
	return nil
}

// serveInjected answers with r; it returns false when r has no canned
// answer and the request should be processed normally.
func (s *Server) serveInjected(w http.ResponseWriter, req *http.Request, r *Response) bool {
	if r.Started != nil {
		select {
		case r.Started <- struct{}{}:
		default:
		}
	}
	if r.Delay > 0 {
		t := time.NewTimer(r.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-req.Context().Done():
			return true
		case <-s.done:
			dropConnection(w, nil)
			return true
		}
	}
	if r.Release != nil {
		select {
		case <-r.Release:
		case <-req.Context().Done():
			return true
		case <-s.done:
			dropConnection(w, nil)
			return true
		}
	}
	switch {
	case r.Hang:
		select {
		case <-req.Context().Done():
		case <-s.done:
			dropConnection(w, nil)
		}
		return true
	case r.CloseConnection:
		dropConnection(w, r)
		return true
	case r.Status == 0:
		return false
	}
	for k, vs := range r.Header {
		w.Header()[k] = vs
	}
	if r.Body != "" && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(r.Status)
	_, _ = w.Write([]byte(r.Body))
	return true
}

// dropConnection closes the client connection, after a truncated answer when
// r has a Status.
func dropConnection(w http.ResponseWriter, r *Response) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("providertest: connection cannot be hijacked")
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	if r == nil || r.Status == 0 {
		return
	}
	writeTruncated(buf, r)
}

func writeTruncated(buf *bufio.ReadWriter, r *Response) {
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", r.Status, http.StatusText(r.Status))
	ctype := "application/json"
	for k, vs := range r.Header {
		for _, v := range vs {
			if http.CanonicalHeaderKey(k) == "Content-Type" {
				ctype = v
				continue
			}
			fmt.Fprintf(buf, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(buf, "Content-Type: %s\r\nContent-Length: %d\r\n\r\n%s", ctype, len(r.Body), r.Body[:len(r.Body)/2])
	_ = buf.Flush()
}
