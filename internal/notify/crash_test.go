package notify

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// crashingStore is the real store of a replica that dies right after each
// send: the receiver got the message, but the attempt is never recorded and
// the delivery's lease stays held until it expires.
type crashingStore struct {
	Store
}

func (crashingStore) FinishDelivery(context.Context, string, string, tokenkeeper.DeliveryResult) error {
	return errors.New("the process died before recording the attempt")
}

// TestReplayAfterCrash is issue 4's second check: the same sequence, with
// crashes between commit and delivery, loses nothing and, once receivers
// deduplicate by id, repeats nothing; the outbox ends empty.
//
// Replica A claims the first events and dies before dispatching them.
// Replica B dispatches the others and sends their messages, then dies
// before recording any send. After the leases expire, replica C dispatches
// A's events and sends everything still pending: B's messages a second time.
func TestReplayAfterCrash(t *testing.T) {
	t.Parallel()
	f := setup(t)
	runSequence(f)

	claimed, err := f.store.ClaimEvents(t.Context(), "replica-a", f.clock.Now(), f.clock.Now().Add(time.Minute), 3)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("replica A's claim = %d, %v", len(claimed), err)
	}
	b := f.service(func(o *Options) { o.Store = crashingStore{f.store}; o.Owner = "replica-b"; o.Workers = 4 })
	pb := f.drain(b)
	if pb.Events != 4 || pb.Claimed != 5 {
		t.Fatalf("replica B: %+v; want the 4 unclaimed events and their 5 deliveries", pb)
	}
	sentByB := len(f.webhook.received()) + len(f.smtp.messages())
	if sentByB != 5 {
		t.Fatalf("replica B sent %d messages, want 5", sentByB)
	}

	// Nothing moves while the leases hold, even for another replica.
	c := f.service(func(o *Options) { o.Owner = "replica-c"; o.Workers = 4 })
	if p := f.drain(c); p.busy() {
		t.Fatalf("replica C worked on leased rows: %+v", p)
	}
	f.clock.Advance(time.Minute + time.Second)
	pc := f.drain(c)
	if pc.Events != 3 || pc.Delivered != 9 {
		t.Errorf("replica C: %+v; want A's 3 events and all 9 deliveries", pc)
	}

	// At least once, and exactly once after deduplication by id.
	hookIDs := map[string]int{}
	for _, req := range f.webhook.received() {
		hookIDs[decodeWebhook(t, req.Body).ID]++
	}
	mailIDs := map[string]int{}
	for _, m := range f.smtp.messages() {
		mailIDs[m.MessageID+" "+m.EventIDs]++
	}
	evs, err := f.store.ListEvents(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	repeats := 0
	for _, e := range evs {
		n := hookIDs[e.ID]
		if n == 0 {
			t.Errorf("the webhook of %s (%s) never arrived", e.ID, e.Type)
		}
		repeats += n - 1
	}
	if len(hookIDs) != len(evs) || len(mailIDs) != 2 {
		t.Errorf("distinct webhooks %d (want %d), e-mails %d (want 2)", len(hookIDs), len(evs), len(mailIDs))
	}
	for id, n := range mailIDs {
		repeats += n - 1
		if n > 2 {
			t.Errorf("e-mail %s arrived %d times", id, n)
		}
	}
	if repeats != 5 {
		t.Errorf("%d repeated messages, want B's 5 (sent again after B died)", repeats)
	}
	// In-app notifications are rows, unique by event: none repeated.
	ns, _, err := f.store.ListNotifications(t.Context(), tokenkeeper.NotificationFilter{UserID: "u1"})
	if err != nil || len(ns) != 5 {
		t.Errorf("in-app notifications = %d, %v; want 5", len(ns), err)
	}
	assertOutboxDone(t, f, 9)
	f.assertNoSecrets()
}
