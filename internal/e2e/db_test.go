package e2e

import (
	"context"
	"fmt"
	"time"
)

// refreshStats are the refreshes the database recorded as committed: every
// successful refresh writes one history row in the same transaction as its
// new tokens, so these count the rotations tokenkeeper kept.
type refreshStats struct {
	// ByConnection is the successful refreshes of each connection.
	ByConnection map[string]int
	// ByTrigger is the successful refreshes by trigger (scheduler, read…).
	ByTrigger map[string]int
	// Total is the sum of ByConnection.
	Total int
	// Failed is the history rows of refresh attempts that did not succeed.
	Failed int
	// Unanswered counts the failed attempts that got no answer (a timeout,
	// a dropped connection): the provider may have rotated the refresh token
	// all the same.
	Unanswered int
}

// refreshStats reads the refresh history of the cluster's schema.
func (c *cluster) refreshStats(ctx context.Context) (refreshStats, error) {
	st := refreshStats{ByConnection: map[string]int{}, ByTrigger: map[string]int{}}
	rows, err := c.db.Query(ctx, `SELECT connection_id, trigger, class, http_status = 0, count(*) FROM refresh_attempts
		WHERE trigger <> 'revoke' GROUP BY 1, 2, 3, 4`)
	if err != nil {
		return st, fmt.Errorf("read refresh history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, trigger, class string
		var unanswered bool
		var n int
		if err := rows.Scan(&id, &trigger, &class, &unanswered, &n); err != nil {
			return st, fmt.Errorf("read refresh history: %w", err)
		}
		if class != "success" {
			st.Failed += n
			if unanswered {
				st.Unanswered += n
			}
			continue
		}
		st.ByConnection[id] += n
		st.ByTrigger[trigger] += n
		st.Total += n
	}
	return st, rows.Err()
}

// minRefreshes returns the fewest successful refreshes of any of ids.
func (st refreshStats) minRefreshes(ids []string) int {
	least := -1
	for _, id := range ids {
		if n := st.ByConnection[id]; least < 0 || n < least {
			least = n
		}
	}
	return max(least, 0)
}

// waitRefreshed polls the refresh history until each of ids has at least
// n successful refreshes and returns it; it fails the test at deadline.
// The database is the only witness of other processes' work: it is polled.
func (c *cluster) waitRefreshed(ctx context.Context, ids []string, n int, deadline time.Time) refreshStats {
	c.t.Helper()
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for {
		st, err := c.refreshStats(ctx)
		if err != nil {
			c.t.Fatal(err)
		}
		if st.minRefreshes(ids) >= n {
			return st
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the least refreshed connection has %d refreshes, want %d", st.minRefreshes(ids), n)
		}
		select {
		case <-poll.C:
		case <-ctx.Done():
			c.t.Fatal(ctx.Err())
		}
	}
}

// leasesHeldBy returns the connections whose refresh lease names an owner
// in process pid (expired or not).
func (c *cluster) leasesHeldBy(ctx context.Context, pid int) ([]string, error) {
	rows, err := c.db.Query(ctx, `SELECT id, lease_owner FROM connections WHERE lease_owner IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("read leases: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id, owner string
		if err := rows.Scan(&id, &owner); err != nil {
			return nil, fmt.Errorf("read leases: %w", err)
		}
		if ownerPID(owner) == pid {
			ids = append(ids, id)
		}
	}
	return ids, rows.Err()
}

// statusCounts returns how many connections are in each status.
func (c *cluster) statusCounts(ctx context.Context) (map[string]int, error) {
	rows, err := c.db.Query(ctx, `SELECT status, count(*) FROM connections GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count statuses: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("count statuses: %w", err)
		}
		out[s] = n
	}
	return out, rows.Err()
}

// watchLeases reports, on the returned channel, the owner of every refresh
// lease taken from now on (a connection's lease_owner set to a new owner),
// moments after the statement that took it committed. The cluster's schema
// must be migrated. A trigger in the schema sends a notification per lease
// on a channel named after the schema; the watch ends with ctx. Owners
// arriving while the channel is full are dropped.
func (c *cluster) watchLeases(ctx context.Context) (<-chan string, error) {
	var schema string
	if err := c.db.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	channel := "leases_" + schema
	_, err := c.db.Exec(ctx, `CREATE OR REPLACE FUNCTION e2e_notify_lease() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.lease_owner IS NOT NULL AND NEW.lease_owner IS DISTINCT FROM OLD.lease_owner THEN
				PERFORM pg_notify('`+channel+`', NEW.lease_owner);
			END IF;
			RETURN NEW;
		END $$;
		CREATE OR REPLACE TRIGGER e2e_lease_taken AFTER UPDATE OF lease_owner ON connections
			FOR EACH ROW EXECUTE FUNCTION e2e_notify_lease();`)
	if err != nil {
		return nil, fmt.Errorf("create the lease trigger: %w", err)
	}
	conn, err := c.db.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire a listening connection: %w", err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+channel); err != nil {
		conn.Release()
		return nil, fmt.Errorf("listen: %w", err)
	}
	out := make(chan string, 1024)
	go func() {
		defer close(out)
		defer conn.Release()
		for {
			n, err := conn.Conn().WaitForNotification(ctx)
			if err != nil {
				return
			}
			select {
			case out <- n.Payload:
			default:
			}
		}
	}()
	return out, nil
}
