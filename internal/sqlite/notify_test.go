package sqlite

import (
	"testing"

	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
)

func TestNotificationConformance(t *testing.T) {
	t.Parallel()
	storetest.RunNotifications(t, func(t *testing.T) storetest.NotificationTestStore { return setup(t) })
}

// TestNotificationPlans: the claims read their partial indexes (INDEXED BY
// makes a statement fail rather than scan), so a claim's cost grows with the
// undispatched events and the pending deliveries, not with the tables.
func TestNotificationPlans(t *testing.T) {
	t.Parallel()
	s := setup(t)
	now := storetest.BaseTime()
	if _, err := s.ClaimEvents(t.Context(), "a", now, now, 10); err != nil {
		t.Errorf("ClaimEvents: %v", err)
	}
	if _, err := s.ClaimDeliveries(t.Context(), "a", now, now, 10); err != nil {
		t.Errorf("ClaimDeliveries: %v", err)
	}
	if _, err := s.PendingDigests(t.Context(), now, 10); err != nil {
		t.Errorf("PendingDigests: %v", err)
	}
	if _, err := s.CountUndispatchedEvents(t.Context()); err != nil {
		t.Errorf("CountUndispatchedEvents: %v", err)
	}
}
