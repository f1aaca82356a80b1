package sqlite

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
)

// insertBulk stores n connected connections in one transaction through one
// prepared statement, the first `due` of them due at now (spread over the
// minute before it), the others due in the hours after it, spread over three
// providers. It is how tests and benchmarks build large tables fast.
func insertBulk(tb testing.TB, s *Store, n, due int, now time.Time) {
	tb.Helper()
	template := storetest.NewConnection(now)
	err := s.write(tb.Context(), func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(tb.Context(), `INSERT INTO connections (`+connColumns+`) VALUES (`+connPlaceholders+`)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range n {
			c := *template
			c.ID = fmt.Sprintf("conn_bulk%09d", i)
			c.UserID = fmt.Sprintf("user_bulk%09d", i)
			c.Provider = []string{"acme", "globex", "initech"}[i%3]
			if i < due {
				c.NextRefreshAt = now.Add(-time.Duration(i%60_000) * time.Millisecond)
			} else {
				c.NextRefreshAt = now.Add(time.Hour + time.Duration(i)*time.Millisecond)
			}
			vals, err := connValues(&c, 1)
			if err != nil {
				return err
			}
			if _, err := stmt.ExecContext(tb.Context(), vals...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("insert %d connections: %v", n, err)
	}
}
