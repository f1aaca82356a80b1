package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// Mail is one rendered e-mail.
type Mail struct {
	// To is the recipient's address. It is never logged.
	To      string
	Subject string
	Text    string // plain-text body
	HTML    string // HTML body
	// MessageID is stable across retries ("<delivery id>@tokenkeeper"), so
	// that a resent e-mail can be recognised.
	MessageID string
	// Date is when the e-mail was rendered.
	Date time.Time
	// EventIDs are the events the e-mail tells of (X-Tokenkeeper-Event-Id).
	EventIDs []string
	// Kind ("notice" or "digest"), EventType and Provider describe the mail
	// in logs.
	Kind      string
	EventType tokenkeeper.EventType
	Provider  string
}

// Mailer sends e-mail. SMTPMailer sends it over SMTP; LogMailer logs it.
type Mailer interface {
	// Send sends m; an error means it was not accepted and may be retried.
	Send(ctx context.Context, m *Mail) error
}

// LogMailer stands in for SMTP until it is configured: it writes one line per
// e-mail with its kind, event type, provider and hashed recipient, never the
// address, the body or a link.
type LogMailer struct {
	Logger *slog.Logger
	// Hash stands for the recipient; nil means HashRecipient.
	Hash func(address string) string
}

// Send logs m's summary and succeeds.
func (l *LogMailer) Send(ctx context.Context, m *Mail) error {
	hash := l.Hash
	if hash == nil {
		hash = HashRecipient
	}
	l.Logger.InfoContext(ctx, "e-mail not sent: SMTP is not configured",
		"kind", m.Kind, "event_type", m.EventType, "provider", m.Provider, "recipient", hash(m.To))
	return nil
}

// HashRecipient returns a short unkeyed hash of an address ("r_" + 16 hex
// digits). Deployments pass a keyed hash instead (Options.RecipientHash).
func HashRecipient(address string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(address)))
	return "r_" + hex.EncodeToString(sum[:8])
}

// sendEmail opens the user's address, renders the e-mail and sends it.
func (s *Service) sendEmail(ctx context.Context, d *tokenkeeper.Delivery) error {
	var p emailPayload
	if err := json.Unmarshal(d.Payload, &p); err != nil || len(p.Items) == 0 {
		return permanent("the e-mail cannot be decoded")
	}
	u, err := s.store.GetUser(ctx, d.UserID)
	switch {
	case errors.Is(err, tokenkeeper.ErrNotFound):
		return permanent("the user is unknown")
	case err != nil:
		return &sendError{msg: "read the user: " + err.Error()}
	case !u.EmailEnabled || len(u.SealedEmail) == 0:
		return permanent("the user has no e-mail address or turned e-mail off")
	case s.o.Sealer == nil:
		return permanent("no key ring to open e-mail addresses with")
	}
	addr, err := s.o.Sealer.Open(u.SealedEmail, tokenkeeper.AdditionalData(u.ID, tokenkeeper.FieldUserEmail))
	if err != nil {
		return permanent("the user's e-mail address cannot be decrypted")
	}
	m, err := s.render(d, p)
	if err != nil {
		return err
	}
	m.To = string(addr)
	return s.mailer.Send(ctx, m)
}

// render renders the e-mail of a delivery, with fresh reconnect links.
func (s *Service) render(d *tokenkeeper.Delivery, p emailPayload) (*Mail, error) {
	data := MailData{}
	m := &Mail{Kind: p.Kind, MessageID: d.ID + "@tokenkeeper", Date: s.clock.Now()}
	for _, it := range p.Items {
		text := Describe(it.Event, it.ProviderName)
		item := MailItem{
			Type: it.Event.Type, Provider: it.Event.Provider, ProviderName: it.ProviderName,
			Headline: text.Headline, Detail: text.Detail, ConnectionID: it.Event.ConnectionID,
			AccountID: it.Event.AccountID, OccurredAt: it.Event.OccurredAt,
		}
		if text.Reconnect {
			link, err := s.reconnectLink(it.Event)
			if err != nil {
				return nil, &sendError{msg: "make the reconnect link: " + err.Error()}
			}
			item.ReconnectURL = link
		}
		data.Items = append(data.Items, item)
		m.EventIDs = append(m.EventIDs, it.Event.ID)
	}
	data.MailItem = data.Items[0]
	m.EventType, m.Provider = data.Type, data.Provider
	if p.Kind == "digest" {
		m.EventType = "digest"
	}
	var err error
	if m.Subject, m.Text, m.HTML, err = s.tmpl.Render(p.Kind, data); err != nil {
		return nil, permanent("render the e-mail: " + err.Error())
	}
	return m, nil
}

// reconnectLink returns where the user reconnects the event's connection:
// ReconnectLink's answer, else the ReconnectURL template filled in, else "".
func (s *Service) reconnectLink(e tokenkeeper.Event) (string, error) {
	if s.o.ReconnectLink != nil {
		return s.o.ReconnectLink(&tokenkeeper.Connection{
			ID: e.ConnectionID, UserID: e.UserID, Provider: e.Provider, AccountID: e.AccountID, Status: e.Status,
		})
	}
	return ExpandReconnectURL(s.o.ReconnectURL, e), nil
}

// ExpandReconnectURL fills in a reconnect_url template: {connection_id},
// {provider}, {user_id} and {account_id} are replaced by the event's values,
// query-escaped. An empty template gives "".
func ExpandReconnectURL(tmpl string, e tokenkeeper.Event) string {
	if tmpl == "" {
		return ""
	}
	return strings.NewReplacer(
		"{connection_id}", url.QueryEscape(e.ConnectionID),
		"{provider}", url.QueryEscape(e.Provider),
		"{user_id}", url.QueryEscape(e.UserID),
		"{account_id}", url.QueryEscape(e.AccountID),
	).Replace(tmpl)
}
