package notify

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// sendError is a failed attempt: a message safe to store, the receiver's
// Retry-After, and whether trying again is pointless.
type sendError struct {
	msg        string
	retryAfter time.Duration
	permanent  bool
}

func (e *sendError) Error() string { return e.msg }

// permanent returns an error that makes the delivery dead at once.
func permanent(msg string) error { return &sendError{msg: msg, permanent: true} }

// errStopped marks an attempt cut short because the service stopped.
var errStopped = errors.New("interrupted: the notifier stopped; it is retried at once on the next start")

// scrubbers remove what must never be stored or logged from an error text:
// URLs (webhook URLs embed credentials) and e-mail addresses.
var scrubbers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"']+`), "[url]"},
	{regexp.MustCompile(`[^\s<>"',;:()]+@[^\s<>"',;:()]+`), "[address]"},
}

// errorText returns err's message without URLs or e-mail addresses, at most
// 300 bytes.
func errorText(err error) string {
	s := err.Error()
	for _, sc := range scrubbers {
		s = sc.re.ReplaceAllString(s, sc.with)
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// outcome counts what a delivery pass did.
type outcome struct {
	delivered, retried, dead int
}

// deliverDue claims up to Workers due deliveries, sends them at once, and
// records each attempt. It returns how many it claimed and what became of them.
func (s *Service) deliverDue(ctx context.Context) (int, outcome, error) {
	now := s.clock.Now()
	ds, err := s.store.ClaimDeliveries(ctx, s.o.Owner, now, now.Add(s.o.LeaseTTL), s.o.Workers)
	if err != nil {
		return 0, outcome{}, err
	}
	var mu sync.Mutex
	var out outcome
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Go(func() {
			st := s.deliver(ctx, d)
			mu.Lock()
			defer mu.Unlock()
			switch st {
			case tokenkeeper.DeliveryDelivered:
				out.delivered++
			case tokenkeeper.DeliveryDead:
				out.dead++
			default:
				out.retried++
			}
		})
	}
	wg.Wait()
	return len(ds), out, nil
}

// deliver makes one attempt at d, records it, and returns d's new status.
func (s *Service) deliver(ctx context.Context, d *tokenkeeper.Delivery) tokenkeeper.DeliveryStatus {
	err := s.send(ctx, d)
	if err != nil && ctx.Err() != nil {
		err = errStopped
	}
	r := s.result(d, err, s.clock.Now())
	log := s.log.With("delivery_id", d.ID, "event_id", d.EventID, "channel", d.Channel, "target", d.Target, "attempt", d.Attempts+1)
	if ferr := s.store.FinishDelivery(context.WithoutCancel(ctx), d.ID, s.o.Owner, r); ferr != nil {
		// The lease lapsed and another replica took the delivery, or the
		// database failed: either way the delivery is attempted again.
		log.Warn("record delivery attempt", "err", ferr)
		return tokenkeeper.DeliveryPending
	}
	switch r.Status {
	case tokenkeeper.DeliveryDelivered:
		log.Debug("delivered")
	case tokenkeeper.DeliveryDead:
		log.Error("delivery dead: given up", "err", r.Error)
	default:
		log.Info("delivery failed; retrying", "err", r.Error, "next_attempt_at", r.NextAttemptAt)
	}
	return r.Status
}

// send makes one attempt by d's channel.
func (s *Service) send(ctx context.Context, d *tokenkeeper.Delivery) error {
	switch d.Channel {
	case tokenkeeper.ChannelWebhook:
		return s.sendWebhook(ctx, d)
	case tokenkeeper.ChannelChat:
		return s.sendChat(ctx, d)
	case tokenkeeper.ChannelEmail:
		return s.sendEmail(ctx, d)
	}
	return permanent("unknown channel " + string(d.Channel))
}

// result turns an attempt's error into the delivery's next state: delivered;
// dead when the error is permanent or MaxAge has passed since the delivery's
// run began; else pending, retried after a backoff that grows with the
// attempts (never before the receiver's Retry-After), and at the latest when
// MaxAge ends, so the last attempt happens then.
func (s *Service) result(d *tokenkeeper.Delivery, err error, now time.Time) tokenkeeper.DeliveryResult {
	if err == nil {
		return tokenkeeper.DeliveryResult{At: now, Status: tokenkeeper.DeliveryDelivered}
	}
	msg := errorText(err)
	if errors.Is(err, errStopped) {
		return tokenkeeper.DeliveryResult{At: now, Status: tokenkeeper.DeliveryPending, NextAttemptAt: now, Error: msg}
	}
	var se *sendError
	if errors.As(err, &se) && se.permanent {
		return tokenkeeper.DeliveryResult{At: now, Status: tokenkeeper.DeliveryDead, Error: msg}
	}
	deadline := d.Since().Add(s.o.MaxAge)
	if !now.Before(deadline) {
		return tokenkeeper.DeliveryResult{At: now, Status: tokenkeeper.DeliveryDead, Error: "gave up after " + s.o.MaxAge.String() + ": " + msg}
	}
	var after time.Duration
	if se != nil {
		after = se.retryAfter
	}
	// Full jitter may draw no wait at all; a floor keeps a failing receiver
	// from being hit again in the same instant.
	delay := max(tokenkeeper.Backoff(d.Attempts+1, s.o.BackoffBase, s.o.BackoffMax, after, s.o.Rand()), min(time.Second, s.o.BackoffBase))
	next := now.Add(delay)
	if next.After(deadline) {
		next = deadline
	}
	return tokenkeeper.DeliveryResult{At: now, Status: tokenkeeper.DeliveryPending, NextAttemptAt: next, Error: msg}
}
