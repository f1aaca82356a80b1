package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// The payloads of deliveries, as stored (Delivery.Payload). A webhook's
// payload is the request body itself, so every attempt sends the same bytes.

// emailPayload is an e-mail to render when it is sent (its reconnect links
// are made then, so a signed link is fresh on every attempt).
type emailPayload struct {
	Kind  string      `json:"kind"` // "notice" or "digest"
	Items []emailItem `json:"items"`
}

type emailItem struct {
	Event        tokenkeeper.Event `json:"event"`
	ProviderName string            `json:"provider_name"`
}

// chatPayload is an operator alert; the target decides its JSON shape.
type chatPayload struct {
	Text string `json:"text"`
}

// The chat targets.
const (
	targetSlack   = "slack"
	targetDiscord = "discord"
)

// dispatchEvents claims a batch of undispatched events and dispatches each.
// It returns how many it claimed. An event that fails is left to its lease,
// and dispatched again after it expires.
func (s *Service) dispatchEvents(ctx context.Context) (int, error) {
	now := s.clock.Now()
	evs, err := s.store.ClaimEvents(ctx, s.o.Owner, now, now.Add(s.o.LeaseTTL), s.o.BatchSize)
	if err != nil {
		return 0, err
	}
	for _, e := range evs {
		d, err := s.plan(ctx, e.Event, s.clock.Now())
		if err == nil {
			err = s.store.DispatchEvent(ctx, d)
		}
		if err != nil {
			s.log.Warn("dispatch event", "event_id", e.ID, "type", e.Type, "err", err)
			continue
		}
		s.log.Debug("event dispatched", "event_id", e.ID, "type", e.Type,
			"notifications", len(d.Notifications), "deliveries", len(d.Deliveries))
	}
	return len(evs), nil
}

// plan returns what event e becomes under the policy: an in-app notification,
// an e-mail (or a digest item), a webhook, chat alerts.
func (s *Service) plan(ctx context.Context, e tokenkeeper.Event, now time.Time) (tokenkeeper.Dispatch, error) {
	name := s.providerName(e.Provider)
	text := Describe(e, name)
	d := tokenkeeper.Dispatch{EventID: e.ID, Owner: s.o.Owner, At: now}
	var n *tokenkeeper.Notification
	if s.policy.inApp(e.Type) && e.UserID != "" {
		n = &tokenkeeper.Notification{
			ID: tokenkeeper.NewID("ntf_"), EventID: e.ID, UserID: e.UserID, ConnectionID: e.ConnectionID,
			Provider: e.Provider, Type: e.Type, Message: text.Detail, CreatedAt: now,
		}
		d.Notifications = append(d.Notifications, n)
	}
	if s.policy.email(e.Type) && e.UserID != "" {
		u, err := s.store.GetUser(ctx, e.UserID)
		switch {
		case errors.Is(err, tokenkeeper.ErrNotFound):
		case err != nil:
			return d, fmt.Errorf("read the preferences of the user: %w", err)
		case !u.EmailEnabled || len(u.SealedEmail) == 0:
		case u.Digest && n != nil:
			n.DigestPending = true
		default:
			p, err := json.Marshal(emailPayload{Kind: "notice", Items: []emailItem{{Event: e, ProviderName: name}}})
			if err != nil {
				return d, err
			}
			d.Deliveries = append(d.Deliveries, newDelivery(e.ID+":email", e.ID, tokenkeeper.ChannelEmail, "", e.UserID, p, now))
		}
	}
	if !s.o.WebhookURL.IsZero() && s.policy.webhook(e.Type) {
		body, err := WebhookBody(e)
		if err != nil {
			return d, err
		}
		d.Deliveries = append(d.Deliveries, newDelivery(e.ID+":webhook", e.ID, tokenkeeper.ChannelWebhook, "", "", body, now))
	}
	if s.policy.chat(e.Type) {
		text := fmt.Sprintf("tokenkeeper: connection %s at %s is in error (%s): %s",
			e.ConnectionID, name, failureCode(e), text.Detail)
		d.Deliveries = append(d.Deliveries, s.chatDeliveries(e.ID, e.ID, text, now)...)
	}
	return d, nil
}

// chatDeliveries returns one delivery of text per configured chat target,
// keyed key:chat:<target>.
func (s *Service) chatDeliveries(key, eventID, text string, now time.Time) []*tokenkeeper.Delivery {
	p, _ := json.Marshal(chatPayload{Text: text}) // a struct of one string always encodes
	var out []*tokenkeeper.Delivery
	for _, t := range []struct {
		name string
		url  tokenkeeper.Secret
	}{{targetSlack, s.o.SlackURL}, {targetDiscord, s.o.DiscordURL}} {
		if !t.url.IsZero() {
			out = append(out, newDelivery(key+":chat:"+t.name, eventID, tokenkeeper.ChannelChat, t.name, "", p, now))
		}
	}
	return out
}

func failureCode(e tokenkeeper.Event) string {
	if e.Failure == nil || e.Failure.Code == "" {
		return "no code"
	}
	return e.Failure.Code
}

// newDelivery returns a pending delivery due now.
func newDelivery(key, eventID string, ch tokenkeeper.Channel, target, userID string, payload []byte, now time.Time) *tokenkeeper.Delivery {
	return &tokenkeeper.Delivery{
		ID: tokenkeeper.NewID("dlv_"), Key: key, EventID: eventID, Channel: ch, Target: target, UserID: userID,
		Payload: payload, Status: tokenkeeper.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
	}
}

// providerName returns the provider's display name, or its id when unknown.
func (s *Service) providerName(id string) string {
	if s.o.Catalog != nil {
		if p, ok := s.o.Catalog.Provider(id); ok && p.DisplayName != "" {
			return p.DisplayName
		}
	}
	return id
}

// outageTimeout bounds the write of an outage alert.
const outageTimeout = 10 * time.Second

// BreakerChanged records a chat alert that a provider's circuit breaker
// opened (most refreshes at the provider fail transiently: refreshes are
// paused, no user is told their connection is broken) or closed again. It
// is the refresh gate's OnBreakerChange hook, which calls it once per
// opening and once per closing, so there is one alert per change. The
// alert is a delivery like any other: retried, and visible when dead.
// Without a chat URL it only logs.
func (s *Service) BreakerChanged(provider string, open bool) {
	now := s.clock.Now()
	name := s.providerName(provider)
	state, text := "closed", fmt.Sprintf("tokenkeeper: %s answers again; refreshes resumed.", name)
	if open {
		state = "open"
		text = fmt.Sprintf("tokenkeeper: %s is failing for most refreshes (outage or rate limiting). "+
			"Refreshes there are paused and retried; users are not notified.", name)
	}
	s.log.Warn("provider circuit breaker changed", "provider", provider, "state", state)
	key := "outage:" + provider + ":" + state + ":" + s.o.Owner + ":" + strconv.FormatInt(now.UnixMilli(), 10)
	ds := s.chatDeliveries(key, "", text, now)
	if len(ds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), outageTimeout)
	defer cancel()
	if _, err := s.store.EnqueueDeliveries(ctx, ds); err != nil {
		s.log.Error("record the outage alert", "provider", provider, "state", state, "err", err)
	}
}
