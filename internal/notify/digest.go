package notify

import (
	"context"
	"encoding/json"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// digestBatch is the most pending digest items read per pass.
const digestBatch = 500

// digestCut returns the digest time that now belongs to: today's at
// DigestHour (UTC) once it has passed, else yesterday's. Items created before
// it go into that day's digest.
func digestCut(now time.Time, hour int) time.Time {
	now = now.UTC()
	cut := time.Date(now.Year(), now.Month(), now.Day(), hour, 0, 0, 0, time.UTC)
	if now.Before(cut) {
		cut = cut.AddDate(0, 0, -1)
	}
	return cut
}

// digests turns pending digest items created before the last digest time
// into one e-mail per user and day ("digest:<user>:<date>"; the key makes
// it one e-mail a day whatever the replicas do). Items arriving after that
// time wait for the next day. It returns how many digests it created.
func (s *Service) digests(ctx context.Context) (int, error) {
	now := s.clock.Now()
	cut := digestCut(now, s.o.DigestHour)
	ns, err := s.store.PendingDigests(ctx, cut, digestBatch)
	if err != nil {
		return 0, err
	}
	created := 0
	for len(ns) > 0 {
		user := ns[0].UserID
		var items []emailItem
		var ids []string
		for len(ns) > 0 && ns[0].UserID == user {
			n := ns[0]
			ns = ns[1:]
			items = append(items, emailItem{
				Event: tokenkeeper.Event{
					ID: n.EventID, Type: n.Type, OccurredAt: n.CreatedAt, ConnectionID: n.ConnectionID,
					UserID: n.UserID, Provider: n.Provider,
				},
				ProviderName: s.providerName(n.Provider),
			})
			ids = append(ids, n.ID)
		}
		p, err := json.Marshal(emailPayload{Kind: "digest", Items: items})
		if err != nil {
			return created, err
		}
		d := newDelivery("digest:"+user+":"+cut.Format(time.DateOnly), "", tokenkeeper.ChannelEmail, "", user, p, now)
		ok, err := s.store.CreateDigest(ctx, d, ids)
		if err != nil {
			return created, err
		}
		if ok {
			created++
		}
	}
	return created, nil
}
