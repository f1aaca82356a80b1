package tokenkeeper

import (
	"context"
	"time"
)

// HistoryStore deletes old history: the refresh attempts, the dispatched
// outbox events, the finished notification deliveries and the in-app
// notifications that would otherwise grow without limit. SQLite
// (internal/sqlite) and PostgreSQL (internal/postgres) implement it next to
// Store; internal/storetest checks both. internal/retention calls it on a
// schedule.
type HistoryStore interface {
	// PurgeHistory deletes the history older than before and returns how
	// many rows it deleted from each table, also when it returns an error
	// (ctx ended, the database failed) after deleting some. It deletes
	//
	//   - the refresh attempts of the UTC hours that ended at or before
	//     `before`, each hour only once its totals are in the hourly
	//     statistics (StatsStore.CountAttempts): it rolls the hour up first
	//     where that has not happened yet, so charts and counts of those
	//     hours are unchanged;
	//   - the outbox events that occurred before `before` and have been
	//     dispatched; an undispatched event is never deleted, however old;
	//   - the deliveries that are finished (delivered or dead) and were last
	//     updated before `before`; a pending delivery is never deleted;
	//   - the in-app notifications created before `before`, read or unread,
	//     except those still waiting for a digest e-mail.
	//
	// Nothing refers to these rows by a foreign key, so no delete fails on
	// one. Rows are deleted in statements of at most batch rows
	// (DefaultPurgeBatch when batch <= 0), each its own transaction, until
	// none older is left or ctx ends: a purge never holds the database for
	// long. Attempts are final StatsGrace after their hour ends, so before
	// must be at least that far in the past.
	PurgeHistory(ctx context.Context, before time.Time, batch int) (PurgeCounts, error)
}

// DefaultPurgeBatch is the most rows PurgeHistory deletes in one statement
// when its batch is 0 or less.
const DefaultPurgeBatch = 5000

// PurgeCounts is the number of rows PurgeHistory deleted from each table.
type PurgeCounts struct {
	Attempts      int64 // refresh_attempts
	Events        int64 // events (the outbox)
	Deliveries    int64 // deliveries
	Notifications int64 // notifications (in-app)
}

// Total returns the rows deleted from all tables.
func (c PurgeCounts) Total() int64 {
	return c.Attempts + c.Events + c.Deliveries + c.Notifications
}
