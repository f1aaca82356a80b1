// Package notify turns outbox events into messages and delivers them: in-app
// notifications for users, e-mail over SMTP (or to the log until SMTP is
// configured), signed webhooks to the application, and chat alerts (Slack,
// Discord) for operators.
//
// The Service is a start/stop service with one loop. Each pass it
//
//  1. dispatches undispatched events: it claims them with a lease and, per
//     event, writes the in-app notification and the deliveries the policy
//     asks for, and marks the event dispatched, in one transaction
//     (NotificationStore.DispatchEvent), so an event is neither lost nor
//     turned into messages twice;
//  2. turns the day's pending digest items into one e-mail per user;
//  3. claims due deliveries with a lease (one replica sends a message at a
//     time), sends them, and records the attempt: delivered, retried later
//     with backoff, or dead once MaxAge has passed since it was created.
//
// Delivery is at least once: a replica that crashes after sending and
// before recording it sends again when its lease expires. Every message
// carries a stable id (the event id in webhooks, a Message-ID in e-mails)
// so that receivers can deduplicate.
//
// The policy (Policy) follows DESIGN.md §2 and issue 4: in-app for
// refresh_warning, needs_reauth, rate_limited and recovered; e-mail for
// needs_reauth only, when the user has an address and e-mail on, and at most
// one digest a day for digest users; a webhook for every event when a
// webhook URL is set; a chat alert for connection.error and for provider
// outages (Service.BreakerChanged).
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// Store is what the notifier reads and writes.
type Store interface {
	tokenkeeper.NotificationStore
	// GetUser returns a user's sealed e-mail and preferences, or ErrNotFound.
	GetUser(ctx context.Context, id string) (*tokenkeeper.User, error)
}

// Options configure a Service. Store is required; Sealer is required to
// send e-mail (it opens the users' sealed addresses).
type Options struct {
	Store   Store
	Sealer  tokenkeeper.Sealer
	Catalog tokenkeeper.Catalog // provider display names; nil uses the provider ids
	Clock   tokenkeeper.Clock
	Logger  *slog.Logger
	// Owner names this process in leases; default a random name.
	Owner string

	// Policy says which events become which messages; nil means DefaultPolicy().
	Policy *Policy
	// Mailer sends e-mail; nil writes a one-line summary of each e-mail to
	// the log instead (LogMailer).
	Mailer Mailer
	// RecipientHash stands for an e-mail address in logs; default a SHA-256 prefix.
	RecipientHash func(address string) string

	// WebhookURL and WebhookSecret: the application's webhook; none when the
	// URL is empty. The secret signs every request (DESIGN.md §4).
	WebhookURL    tokenkeeper.Secret
	WebhookSecret tokenkeeper.Secret
	// SlackURL and DiscordURL are incoming-webhook URLs for operator alerts.
	// They embed credentials, hence Secret.
	SlackURL   tokenkeeper.Secret
	DiscordURL tokenkeeper.Secret
	// HTTPClient sends webhooks and chat alerts; nil means a client of its own.
	HTTPClient *http.Client
	// HTTPTimeout bounds one webhook or chat request (10 s).
	HTTPTimeout time.Duration

	// Templates renders e-mails; nil means the embedded templates.
	Templates *Templates
	// ReconnectURL is the application's reconnect page, a template with
	// {connection_id}, {provider}, {user_id} and {account_id} placeholders
	// (their values query-escaped). Used when ReconnectLink is nil.
	ReconnectURL string
	// ReconnectLink, when set, returns the reconnect link of a connection
	// (tokenkeeper's signed connect-flow link); it wins over ReconnectURL.
	ReconnectLink func(c *tokenkeeper.Connection) (string, error)

	// Workers is the most deliveries sent at once (4); a pass claims that many.
	Workers int
	// BatchSize is the most events dispatched per claim (100).
	BatchSize int
	// PollInterval is the longest the loop sleeps between passes (2 s).
	PollInterval time.Duration
	// LeaseTTL is how long a claim holds an event or a delivery (2 min); it
	// must exceed the longest send.
	LeaseTTL time.Duration
	// BackoffBase and BackoffMax bound the delay between attempts (10 s, 1 h).
	BackoffBase, BackoffMax time.Duration
	// MaxAge: a delivery still failing this long after it was created (or
	// retried by an operator) is marked dead (24 h).
	MaxAge time.Duration
	// DigestHour is the hour of the day, in UTC, at which digest e-mails go
	// out; the zero value is midnight (the notify_digest_hour setting
	// defaults to 8).
	DigestHour int
	// Rand returns a uniform number in [0,1) for backoff jitter.
	Rand func() float64
	// Idle, when set, receives the time of every sleep of the loop (tests use
	// it to move a fake clock instead of sleeping).
	Idle chan<- time.Time
}

// Service dispatches events and delivers messages until Stop.
type Service struct {
	o      Options
	store  Store
	clock  tokenkeeper.Clock
	log    *slog.Logger
	policy Policy
	mailer Mailer
	tmpl   *Templates
	http   *http.Client

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Service with o's settings and defaults, or an error when a
// required option is missing or a setting is invalid.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, fmt.Errorf("notify: Store is required")
	}
	if !o.WebhookURL.IsZero() && o.WebhookSecret.IsZero() {
		return nil, fmt.Errorf("notify: a webhook URL needs a webhook secret to sign with")
	}
	if o.DigestHour < 0 || o.DigestHour > 23 {
		return nil, fmt.Errorf("notify: the digest hour must be 0 to 23, not %d", o.DigestHour)
	}
	defaults(&o)
	s := &Service{o: o, store: o.Store, clock: o.Clock, log: o.Logger, mailer: o.Mailer, tmpl: o.Templates, http: o.HTTPClient}
	s.policy = DefaultPolicy()
	if o.Policy != nil {
		s.policy = *o.Policy
	}
	if s.mailer == nil {
		s.mailer = &LogMailer{Logger: o.Logger, Hash: o.RecipientHash}
	}
	if s.tmpl == nil {
		t, err := LoadTemplates("")
		if err != nil {
			return nil, err
		}
		s.tmpl = t
	}
	return s, nil
}

func defaults(o *Options) {
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Owner == "" {
		o.Owner = "notify-" + tokenkeeper.NewID("")[:12]
	}
	if o.RecipientHash == nil {
		o.RecipientHash = HashRecipient
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	setDuration(&o.HTTPTimeout, 10*time.Second)
	setDuration(&o.PollInterval, 2*time.Second)
	setDuration(&o.LeaseTTL, 2*time.Minute)
	setDuration(&o.BackoffBase, 10*time.Second)
	setDuration(&o.BackoffMax, time.Hour)
	setDuration(&o.MaxAge, 24*time.Hour)
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Owner returns the name this service uses in leases.
func (s *Service) Owner() string { return s.o.Owner }

// CountOutbox returns what the outbox holds for metrics: pending, the
// deliveries waiting to be sent (retries included) plus the events not yet
// turned into deliveries; dead, the deliveries given up on. Its signature
// fits internal/metrics' OutboxCounter.
func CountOutbox(ctx context.Context, store tokenkeeper.NotificationStore) (pending, dead int, err error) {
	counts, err := store.CountDeliveries(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, c := range counts {
		switch c.Status {
		case tokenkeeper.DeliveryPending:
			pending += c.Count
		case tokenkeeper.DeliveryDead:
			dead += c.Count
		}
	}
	events, err := store.CountUndispatchedEvents(ctx)
	if err != nil {
		return 0, 0, err
	}
	return pending + events, dead, nil
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
