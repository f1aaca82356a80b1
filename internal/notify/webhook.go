package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// SignatureHeader is the header that carries a webhook's signature.
const SignatureHeader = "Tokenkeeper-Signature"

// webhookEvent is the webhook body of DESIGN.md §4.
type webhookEvent struct {
	ID         string                    `json:"id"`
	Type       tokenkeeper.EventType     `json:"type"`
	OccurredAt time.Time                 `json:"occurred_at"`
	Connection webhookConnection         `json:"connection"`
	Failure    *tokenkeeper.EventFailure `json:"failure"`
}

type webhookConnection struct {
	ID        string             `json:"id"`
	UserID    string             `json:"user_id"`
	Provider  string             `json:"provider"`
	AccountID string             `json:"account_id"`
	Status    tokenkeeper.Status `json:"status"`
}

// WebhookBody returns the JSON body of the webhook for e: {id, type,
// occurred_at, connection: {id, user_id, provider, account_id, status},
// failure: {class, code, message, consecutive_failures,
// consecutive_transient_failures}}, failure null when the event has none.
// The id is the event's, the same on every attempt.
func WebhookBody(e tokenkeeper.Event) ([]byte, error) {
	b, err := json.Marshal(webhookEvent{
		ID: e.ID, Type: e.Type, OccurredAt: e.OccurredAt.UTC(),
		Connection: webhookConnection{ID: e.ConnectionID, UserID: e.UserID, Provider: e.Provider, AccountID: e.AccountID, Status: e.Status},
		Failure:    e.Failure,
	})
	if err != nil {
		return nil, fmt.Errorf("encode webhook of event %s: %w", e.ID, err)
	}
	return b, nil
}

// Sign returns the Tokenkeeper-Signature header value of body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<unix seconds>.<body>")>".
func Sign(secret tokenkeeper.Secret, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret tokenkeeper.Secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret.Reveal()))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a Tokenkeeper-Signature header against body, as a receiver
// should: some v1 signature must match, in constant time, and the timestamp
// must be within tolerance of now (replays of old requests fail).
func Verify(secret tokenkeeper.Secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("malformed signature header")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("signature timestamp outside the tolerance")
	}
	want := mac(secret, ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return errors.New("signature mismatch")
}

// sendWebhook posts a webhook delivery, signed now.
func (s *Service) sendWebhook(ctx context.Context, d *tokenkeeper.Delivery) error {
	if s.o.WebhookURL.IsZero() {
		return permanent("no webhook URL is configured")
	}
	h := http.Header{}
	h.Set(SignatureHeader, Sign(s.o.WebhookSecret, s.clock.Now(), d.Payload))
	h.Set("Tokenkeeper-Event-Id", d.EventID)
	h.Set("Tokenkeeper-Delivery-Id", d.ID)
	return s.post(ctx, s.o.WebhookURL, d.Payload, h)
}

// sendChat posts an operator alert in the target's shape: Slack {"text"},
// Discord {"content"}.
func (s *Service) sendChat(ctx context.Context, d *tokenkeeper.Delivery) error {
	var p chatPayload
	if err := json.Unmarshal(d.Payload, &p); err != nil {
		return permanent("the alert cannot be decoded")
	}
	var u tokenkeeper.Secret
	var body any
	switch d.Target {
	case targetSlack:
		u, body = s.o.SlackURL, map[string]string{"text": p.Text}
	case targetDiscord:
		u, body = s.o.DiscordURL, map[string]string{"content": p.Text}
	default:
		return permanent("unknown chat target " + strconv.Quote(d.Target))
	}
	if u.IsZero() {
		return permanent("no " + d.Target + " webhook URL is configured")
	}
	b, _ := json.Marshal(body) // a map of strings always encodes
	return s.post(ctx, u, b, http.Header{})
}

// post sends body as JSON to u within HTTPTimeout. Any 2xx answer is a
// success; its body is read up to 64 KiB and ignored. Errors never name the
// URL, which may embed a credential.
func (s *Service) post(ctx context.Context, u tokenkeeper.Secret, body []byte, h http.Header) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.Reveal(), bytes.NewReader(body))
	if err != nil {
		return permanent("the URL is not valid")
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tokenkeeper")
	resp, err := s.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return &sendError{msg: fmt.Sprintf("no answer within %s", s.o.HTTPTimeout)}
		}
		return &sendError{msg: "request failed: " + err.Error()}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return &sendError{msg: fmt.Sprintf("the receiver answered %d", resp.StatusCode), retryAfter: retryAfter(resp.Header.Get("Retry-After"), s.clock.Now())}
}

// retryAfter parses a Retry-After header (seconds or an HTTP date); 0 when
// absent or unparsable, at most a day.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), 24*time.Hour)
}
