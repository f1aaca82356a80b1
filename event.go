package tokenkeeper

import "time"

// EventType names a state change that someone may need to hear about.
type EventType string

// The event types (DESIGN.md §4). One event per state change, never one per
// failed attempt.
const (
	EventConnected      EventType = "connection.connected"       // linked or reconnected
	EventRefreshWarning EventType = "connection.refresh_warning" // 2nd permanent failure in a row
	EventNeedsReauth    EventType = "connection.needs_reauth"    // the user must reconnect
	EventRecovered      EventType = "connection.recovered"       // refreshed again after a notice
	EventRateLimited    EventType = "connection.rate_limited"    // transient failures in a row (info)
	EventError          EventType = "connection.error"           // our configuration is wrong (operators)
	EventDisconnected   EventType = "connection.disconnected"    // removed
)

// Event is one entry of the transactional outbox: written in the same
// transaction as the state change it describes, delivered later. ID is
// stable, so receivers can deduplicate.
type Event struct {
	ID         string    `json:"id"`
	Type       EventType `json:"type"`
	OccurredAt time.Time `json:"occurred_at"`

	ConnectionID string `json:"connection_id"`
	UserID       string `json:"user_id"`
	Provider     string `json:"provider"`
	AccountID    string `json:"account_id"`
	Status       Status `json:"status"`

	// Failure describes the failure that caused the event, if any.
	Failure *EventFailure `json:"failure,omitempty"`
}

// EventFailure is the failure part of an event.
type EventFailure struct {
	Class                        Class  `json:"class"`
	Code                         string `json:"code"`
	Message                      string `json:"message"`
	ConsecutiveFailures          int    `json:"consecutive_failures"`
	ConsecutiveTransientFailures int    `json:"consecutive_transient_failures"`
}

// NewEvent returns an event of the given type about c as it is now.
func NewEvent(typ EventType, c *Connection, now time.Time) Event {
	e := Event{
		ID:           NewID("evt_"),
		Type:         typ,
		OccurredAt:   now,
		ConnectionID: c.ID,
		UserID:       c.UserID,
		Provider:     c.Provider,
		AccountID:    c.AccountID,
		Status:       c.Status,
	}
	if c.LastError != nil && typ != EventRecovered && typ != EventConnected && typ != EventDisconnected {
		e.Failure = &EventFailure{
			Class:                        c.LastError.Class,
			Code:                         c.LastError.Code,
			Message:                      c.LastError.Message,
			ConsecutiveFailures:          c.ConsecutiveFailures,
			ConsecutiveTransientFailures: c.ConsecutiveTransientFailures,
		}
	}
	return e
}
