package tokenkeeper

import (
	"context"
	"time"
)

// Channel is the way a delivery reaches its recipient.
type Channel string

// The delivery channels. In-app notifications are not deliveries: they are
// rows the application reads (Notification).
const (
	ChannelEmail   Channel = "email"   // to the user, over SMTP (or the log until SMTP is configured)
	ChannelWebhook Channel = "webhook" // to the application, signed JSON
	ChannelChat    Channel = "chat"    // to operators: Slack or Discord incoming webhooks
)

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

// The delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"   // waiting for its next attempt
	DeliveryDelivered DeliveryStatus = "delivered" // the receiver accepted it
	DeliveryDead      DeliveryStatus = "dead"      // given up; an operator may retry it
)

// ErrDeliveryNotDead is returned by NotificationStore.RetryDelivery for a
// delivery that is pending or delivered: only dead deliveries are retried.
var ErrDeliveryNotDead = &Error{Code: CodeConflict, Message: "only a dead delivery can be retried"}

// Notification is an in-app message to a user, made from one event.
type Notification struct {
	ID           string
	EventID      string
	UserID       string
	ConnectionID string
	Provider     string
	Type         EventType
	// Message says what happened and what to do, in one sentence safe to
	// show: never a token or an e-mail address.
	Message   string
	CreatedAt time.Time
	// ReadAt is zero while unread.
	ReadAt time.Time
	// DigestPending is true while the notification waits for the user's
	// daily digest e-mail.
	DigestPending bool
}

// Delivery is one message to send over one channel, retried until the
// receiver accepts it or the notifier gives up.
type Delivery struct {
	ID string
	// Key makes enqueueing idempotent: a delivery whose key exists is not
	// added again. For an event it is "<event id>:<channel>[:<target>]".
	Key     string
	EventID string // "" for messages not made from one event (digests, outage alerts)
	Channel Channel
	// Target is the destination within the channel: "slack" or "discord" for
	// chat, "" otherwise. Addresses and URLs are resolved when sending, from
	// the user's sealed e-mail and the notifier's settings, never stored here.
	Target string
	UserID string // the user an e-mail goes to; "" for other channels
	// Payload is the message content, opaque to the store.
	Payload       []byte
	Status        DeliveryStatus
	Attempts      int
	NextAttemptAt time.Time
	// LastError says why the last attempt failed: never a secret, a URL or
	// an address.
	LastError   string
	LeaseOwner  string
	LeaseUntil  time.Time
	CreatedAt   time.Time
	RetriedAt   time.Time // the last manual retry of a dead delivery; zero if none
	UpdatedAt   time.Time
	DeliveredAt time.Time
}

// Since returns the start of the delivery's current run: its creation, or
// its last manual retry. The notifier gives up a fixed time after it.
func (d *Delivery) Since() time.Time {
	if d.RetriedAt.After(d.CreatedAt) {
		return d.RetriedAt
	}
	return d.CreatedAt
}

// Dispatch is what one outbox event becomes, written by
// NotificationStore.DispatchEvent in one transaction.
type Dispatch struct {
	EventID string
	// Owner must hold the event's lease (from ClaimEvents).
	Owner         string
	At            time.Time
	Notifications []*Notification
	Deliveries    []*Delivery
}

// DeliveryResult is the outcome of one attempt, for FinishDelivery.
type DeliveryResult struct {
	At time.Time
	// Status is DeliveryDelivered, DeliveryDead, or DeliveryPending for a
	// retry at NextAttemptAt.
	Status        DeliveryStatus
	NextAttemptAt time.Time
	Error         string
}

// DeliveryFilter selects deliveries for ListDeliveries.
type DeliveryFilter struct {
	Status DeliveryStatus // "" for all
	After  string         // cursor from the previous page
	Limit  int            // 0 means 100
}

// NotificationFilter selects a user's notifications for ListNotifications.
type NotificationFilter struct {
	UserID     string
	UnreadOnly bool
	After      string // cursor from the previous page
	Limit      int    // 0 means 100
}

// DeliveryCount is the number of deliveries of one channel in one status.
type DeliveryCount struct {
	Channel Channel
	Status  DeliveryStatus
	Count   int
}

// NotificationStore persists what the notifier makes of outbox events:
// in-app notifications and deliveries, with leases so that several replicas
// share the work and one message is sent by one replica at a time. SQLite
// and PostgreSQL implement it next to Store; internal/storetest checks both.
// A lease is held through its `until` instant and free strictly after it.
type NotificationStore interface {
	// ClaimEvents leases to owner, until `until`, up to limit undispatched
	// events whose lease is free or expired at now, oldest first, and returns
	// them in that order. Concurrent claimers never get the same event.
	ClaimEvents(ctx context.Context, owner string, now, until time.Time, limit int) ([]StoredEvent, error)
	// DispatchEvent inserts d's notifications and deliveries and marks the
	// event dispatched, in one transaction, if d.Owner still holds the event's
	// lease and it is undispatched; otherwise it writes nothing and returns an
	// error wrapping ErrLeaseHeld. Notifications are unique by event id and
	// deliveries by key: rows that exist already are kept, not duplicated.
	DispatchEvent(ctx context.Context, d Dispatch) error
	// EnqueueDeliveries inserts deliveries that no event produced (operator
	// alerts), skipping those whose key exists, and returns how many it added.
	EnqueueDeliveries(ctx context.Context, ds []*Delivery) (int, error)

	// ClaimDeliveries leases to owner, until `until`, up to limit pending
	// deliveries due at now (next_attempt_at <= now) whose lease is free or
	// expired, earliest due first, and returns them in that order.
	// Concurrent claimers never get the same delivery.
	ClaimDeliveries(ctx context.Context, owner string, now, until time.Time, limit int) ([]*Delivery, error)
	// FinishDelivery records one attempt of a delivery owner holds: attempts
	// +1, the result's status, next attempt and error, lease released. It
	// returns an error wrapping ErrLeaseHeld, writing nothing, when owner no
	// longer holds it, and ErrNotFound for an unknown id.
	FinishDelivery(ctx context.Context, id, owner string, r DeliveryResult) error
	// GetDelivery returns a delivery, or ErrNotFound.
	GetDelivery(ctx context.Context, id string) (*Delivery, error)
	// ListDeliveries returns deliveries matching f, oldest first, and the
	// cursor of the next page ("" at the end).
	ListDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, string, error)
	// RetryDelivery makes a dead delivery pending again, due at now, with its
	// attempts reset and RetriedAt set to now, and returns it. It returns
	// ErrNotFound for an unknown id and ErrDeliveryNotDead when the delivery
	// is not dead.
	RetryDelivery(ctx context.Context, id string, now time.Time) (*Delivery, error)
	// CountDeliveries returns the number of deliveries by channel and status.
	CountDeliveries(ctx context.Context) ([]DeliveryCount, error)
	// CountUndispatchedEvents returns the number of events not yet dispatched.
	CountUndispatchedEvents(ctx context.Context) (int, error)

	// ListNotifications returns a user's notifications, newest first, and
	// the cursor of the next page ("" at the end).
	ListNotifications(ctx context.Context, f NotificationFilter) ([]*Notification, string, error)
	// MarkNotificationRead sets ReadAt to now unless it is set already, and
	// returns the notification; ErrNotFound for an unknown id.
	MarkNotificationRead(ctx context.Context, id string, now time.Time) (*Notification, error)
	// PendingDigests returns up to limit notifications waiting for a digest
	// e-mail created before `before`, ordered by user, then creation.
	PendingDigests(ctx context.Context, before time.Time, limit int) ([]*Notification, error)
	// CreateDigest inserts the digest delivery d and clears DigestPending on
	// the notifications named, in one transaction. When d.Key exists already
	// it writes nothing and returns false.
	CreateDigest(ctx context.Context, d *Delivery, notificationIDs []string) (bool, error)
}
