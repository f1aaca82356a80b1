package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/catalog"
	"github.com/tokenkeeper/tokenkeeper/internal/notify"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// validateNotify checks the notification settings (docs/config.md
// "Notifications"). Secret references are resolved when the notifier starts.
func (c Config) validateNotify() error {
	switch {
	case c.NotifyDigestHour < 0 || c.NotifyDigestHour > 23:
		return fmt.Errorf("notify_digest_hour must be 0 to 23, not %d", c.NotifyDigestHour)
	case c.NotifyWorkers < 1:
		return fmt.Errorf("notify_workers must be at least 1")
	case c.NotifyPollInterval <= 0 || c.NotifyBackoffBase <= 0 || c.NotifyBackoffMax <= 0 || c.NotifyMaxAge <= 0 || c.WebhookTimeout <= 0:
		return fmt.Errorf("notify_poll_interval, notify_backoff_base, notify_backoff_max, notify_max_age and webhook_timeout must be positive")
	case c.NotifyBackoffMax < c.NotifyBackoffBase:
		return fmt.Errorf("notify_backoff_max must not be shorter than notify_backoff_base")
	case c.WebhookURL != "" && c.WebhookSecret == "":
		return fmt.Errorf("webhook_url needs webhook_secret: every webhook is signed")
	case c.SMTPURL != "" && c.MailFrom == "":
		return fmt.Errorf("smtp_url needs mail_from, the sender address")
	}
	if _, err := c.emailEvents(); err != nil {
		return err
	}
	return nil
}

// emailEvents parses notify_email_events, a comma-separated list of event types.
func (c Config) emailEvents() ([]tokenkeeper.EventType, error) {
	var names []string
	for _, n := range strings.Split(c.NotifyEmailEvents, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	types, err := notify.ParseEventTypes(names)
	if err != nil {
		return nil, fmt.Errorf("notify_email_events: %w", err)
	}
	return types, nil
}

// startNotifier starts the notifier of serve (unless notify is false) and
// hooks provider outage alerts to the refresh gate. reconnect, when not nil,
// makes the reconnect links of e-mails (the connect flow's signed links);
// otherwise reconnect_url is used. The returned function stops it; it is
// never nil.
func (a *app) startNotifier(ctx context.Context, reconnect func(*tokenkeeper.Connection) (string, error)) (stop func(), err error) {
	if !a.cfg.Notify {
		return func() {}, nil
	}
	o, err := a.notifyOptions()
	if err != nil {
		return nil, err
	}
	o.ReconnectLink = reconnect
	svc, err := notify.New(o)
	if err != nil {
		return nil, err
	}
	if err := svc.Start(ctx); err != nil {
		return nil, err
	}
	if a.gate != nil {
		a.gate.SetOnBreakerChange(svc.BreakerChanged)
	}
	if o.Mailer == nil {
		a.log.Warn("SMTP is not configured (smtp_url): e-mails are written to the log as one-line summaries")
	}
	return func() {
		if a.gate != nil {
			a.gate.SetOnBreakerChange(nil)
		}
		svc.Stop()
	}, nil
}

// notifyOptions turns the settings into the notifier's options, resolving
// env:/file: references.
func (a *app) notifyOptions() (notify.Options, error) {
	ns, ok := a.store.(notify.Store)
	if !ok {
		return notify.Options{}, fmt.Errorf("the %s store keeps no notifications", a.cfg.databaseKind())
	}
	secret := func(key, ref string) (tokenkeeper.Secret, error) {
		if ref == "" {
			return "", nil
		}
		s, err := catalog.ResolveSecret(ref, a.env.getenv, os.ReadFile)
		if err != nil {
			return "", fmt.Errorf("%s: %w", key, err)
		}
		return s, nil
	}
	events, err := a.cfg.emailEvents()
	if err != nil {
		return notify.Options{}, err
	}
	policy := notify.DefaultPolicy()
	policy.Email = events
	o := notify.Options{
		Store: ns, Sealer: a.ring, Catalog: a.catalog, Logger: a.log.With("component", "notify"),
		Owner: refresh.NewOwner(), Policy: &policy, RecipientHash: recipientHasher(a.ring),
		HTTPTimeout: a.cfg.WebhookTimeout, ReconnectURL: a.cfg.ReconnectURL,
		Workers: a.cfg.NotifyWorkers, PollInterval: a.cfg.NotifyPollInterval,
		BackoffBase: a.cfg.NotifyBackoffBase, BackoffMax: a.cfg.NotifyBackoffMax,
		MaxAge: a.cfg.NotifyMaxAge, DigestHour: a.cfg.NotifyDigestHour,
	}
	if o.WebhookURL, err = secret("webhook_url", a.cfg.WebhookURL); err != nil {
		return o, err
	}
	if o.WebhookSecret, err = secret("webhook_secret", a.cfg.WebhookSecret); err != nil {
		return o, err
	}
	if o.SlackURL, err = secret("slack_webhook_url", a.cfg.SlackWebhookURL); err != nil {
		return o, err
	}
	if o.DiscordURL, err = secret("discord_webhook_url", a.cfg.DiscordWebhookURL); err != nil {
		return o, err
	}
	if o.Templates, err = notify.LoadTemplates(a.cfg.NotifyTemplates); err != nil {
		return o, err
	}
	smtpURL, err := secret("smtp_url", a.cfg.SMTPURL)
	if err != nil || smtpURL.IsZero() {
		return o, err
	}
	mailer, err := notify.NewSMTPMailer(notify.SMTPConfig{URL: smtpURL, From: a.cfg.MailFrom, Timeout: 2 * a.cfg.RequestTimeout})
	if err != nil {
		return o, err
	}
	o.Mailer = mailer
	return o, nil
}

// recipientHasher returns the keyed hash that stands for an e-mail address
// in logs.
func recipientHasher(ring *vault.Ring) func(string) string {
	hash := keyedHasher(ring, "tokenkeeper/log-recipient", "r_")
	return func(address string) string { return hash(strings.ToLower(address)) }
}
