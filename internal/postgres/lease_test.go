package postgres

import (
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
)

// leaseModel is the contract of store.go for one connection's lease and
// version: held through `until`, free strictly after it.
type leaseModel struct {
	owner   string
	until   time.Time
	version int64
}

func (m *leaseModel) heldByOther(owner string, now time.Time) bool {
	return m.owner != "" && m.owner != owner && !now.After(m.until)
}

// TestLeaseProperties drives AcquireLease, ReleaseLease and SaveConnection
// (with and without a lease owner) in random order, at random times, by
// random owners, and compares every answer and the stored row with the model.
func TestLeaseProperties(t *testing.T) {
	t.Parallel()
	s := setup(t)
	owners := rapid.SampledFrom([]string{"a", "b", "c"})
	rapid.Check(t, func(rt *rapid.T) {
		now := baseTime()
		c := storetest.NewConnection(now)
		if err := s.CreateConnection(t.Context(), c, nil); err != nil {
			rt.Fatalf("CreateConnection: %v", err)
		}
		m := &leaseModel{version: 1}
		check := func(step string) {
			got, err := s.GetConnection(t.Context(), c.ID)
			if err != nil {
				rt.Fatalf("%s: GetConnection: %v", step, err)
			}
			if got.LeaseOwner != m.owner || !got.LeaseUntil.Equal(m.until) || got.Version != m.version {
				rt.Fatalf("%s: stored lease %q until %s version %d, want %q until %s version %d",
					step, got.LeaseOwner, got.LeaseUntil, got.Version, m.owner, m.until, m.version)
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"acquire": func(rt *rapid.T) {
				owner := owners.Draw(rt, "owner")
				now = now.Add(time.Duration(rapid.IntRange(0, 60_000).Draw(rt, "advance_ms")) * time.Millisecond)
				until := now.Add(time.Duration(rapid.IntRange(0, 60_000).Draw(rt, "lease_ms")) * time.Millisecond)
				got, err := s.AcquireLease(t.Context(), c.ID, owner, now, until)
				if m.heldByOther(owner, now) {
					if !errors.Is(err, tokenkeeper.ErrLeaseHeld) || got == nil || got.LeaseOwner != m.owner || !got.LeaseUntil.Equal(m.until) {
						rt.Fatalf("AcquireLease(%s) at %s of a lease held by %s until %s = %v, %v; want ErrLeaseHeld with the holder",
							owner, now, m.owner, m.until, leaseOf(got), err)
					}
				} else {
					if err != nil {
						rt.Fatalf("AcquireLease(%s) of a free lease: %v", owner, err)
					}
					m.owner, m.until = owner, until
				}
				check("acquire")
			},
			"release": func(rt *rapid.T) {
				owner := owners.Draw(rt, "owner")
				if err := s.ReleaseLease(t.Context(), c.ID, owner); err != nil {
					rt.Fatalf("ReleaseLease: %v", err)
				}
				if owner == m.owner {
					m.owner, m.until = "", time.Time{}
				}
				check("release")
			},
			"save": func(rt *rapid.T) {
				owner := rapid.SampledFrom([]string{"", "a", "b"}).Draw(rt, "lease_owner")
				w := c.Clone()
				stale := rapid.Bool().Draw(rt, "stale")
				w.Version = m.version
				if stale {
					w.Version--
				}
				w.ConsecutiveFailures++
				wantOK := !stale && (owner == "" || owner == m.owner)
				err := s.SaveConnection(t.Context(), tokenkeeper.Write{Connection: w, LeaseOwner: owner})
				switch {
				case wantOK && err != nil:
					rt.Fatalf("SaveConnection(owner %q): %v", owner, err)
				case !wantOK && !errors.Is(err, tokenkeeper.ErrVersionConflict):
					rt.Fatalf("SaveConnection(owner %q, lease %q) = %v, want ErrVersionConflict", owner, m.owner, err)
				case err == nil:
					m.version++
					if owner != "" {
						m.owner, m.until = "", time.Time{}
					}
				}
				check("save")
			},
		})
	})
}

// leaseOf describes a connection's lease for failure messages (without the
// sealed tokens).
func leaseOf(c *tokenkeeper.Connection) string {
	if c == nil {
		return "no connection"
	}
	return c.ID + " leased to " + c.LeaseOwner + " until " + c.LeaseUntil.String()
}
