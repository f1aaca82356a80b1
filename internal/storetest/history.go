package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

var historyTests = map[string]func(*testing.T, OpenFunc){
	"AttemptsNewestFirst": testAttemptsNewestFirst,
	"AddAttempts":         testAddAttempts,
	"EventsInOrder":       testEventsInOrder,
}

func testAttemptsNewestFirst(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := f.create()
	other := f.create()
	var written []tokenkeeper.RefreshAttempt
	classes := []tokenkeeper.Class{tokenkeeper.ClassTransient, tokenkeeper.ClassPermanent, tokenkeeper.ClassSuccess}
	for i := range 6 {
		a := attempt(c.ID, f.now.Add(time.Duration(i)*time.Minute), classes[i%len(classes)])
		a.Trigger = []tokenkeeper.Trigger{tokenkeeper.TriggerRead, tokenkeeper.TriggerManual}[i%2]
		a.HTTPStatus = 500 + i
		a.Duration = time.Duration(i+1) * 250 * time.Millisecond
		written = append(written, a)
		c.ConsecutiveFailures = i
		if err := f.s.SaveConnection(t.Context(), tokenkeeper.Write{Connection: c, Attempts: []tokenkeeper.RefreshAttempt{a}}); err != nil {
			t.Fatalf("SaveConnection %d: %v", i, err)
		}
	}
	if err := f.s.AddAttempts(t.Context(), []tokenkeeper.RefreshAttempt{attempt(other.ID, f.now, tokenkeeper.ClassSuccess)}); err != nil {
		t.Fatalf("AddAttempts: %v", err)
	}
	newest := slices.Clone(written)
	slices.Reverse(newest)
	got, err := f.s.ListAttempts(t.Context(), c.ID, 4)
	if err != nil {
		t.Fatalf("ListAttempts: %v", err)
	}
	equal(t, "attempts (limit 4)", newest[:4], got)
	got, err = f.s.ListAttempts(t.Context(), c.ID, 100)
	if err != nil {
		t.Fatalf("ListAttempts: %v", err)
	}
	equal(t, "attempts (all)", newest, got)
	none, err := f.s.ListAttempts(t.Context(), tokenkeeper.NewID("conn_"), 10)
	if err != nil || len(none) != 0 {
		t.Errorf("ListAttempts(unknown) = %v, %v; want none, nil", none, err)
	}
}

func testAddAttempts(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	a, b := f.create(), f.create()
	batch := []tokenkeeper.RefreshAttempt{
		attempt(a.ID, f.now, tokenkeeper.ClassTransient),
		attempt(b.ID, f.now.Add(time.Second), tokenkeeper.ClassTransient),
		attempt(a.ID, f.now.Add(2*time.Second), tokenkeeper.ClassSuccess),
	}
	if err := f.s.AddAttempts(t.Context(), batch); err != nil {
		t.Fatalf("AddAttempts: %v", err)
	}
	if err := f.s.AddAttempts(t.Context(), nil); err != nil {
		t.Fatalf("AddAttempts(nil): %v", err)
	}
	equal(t, "attempts of a", []tokenkeeper.RefreshAttempt{batch[2], batch[0]}, f.attempts(a.ID))
	equal(t, "attempts of b", []tokenkeeper.RefreshAttempt{batch[1]}, f.attempts(b.ID))
	if got := f.get(a.ID); got.Version != 1 {
		t.Errorf("AddAttempts changed the connection's Version to %d", got.Version)
	}
}

func testEventsInOrder(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := NewConnection(f.now)
	var want []tokenkeeper.Event
	first := tokenkeeper.NewEvent(tokenkeeper.EventConnected, c, f.now)
	want = append(want, first)
	if err := f.s.CreateConnection(t.Context(), c, []tokenkeeper.Event{first}); err != nil {
		t.Fatalf("CreateConnection: %v", err)
	}
	c.ConsecutiveFailures = 2
	c.LastError = &tokenkeeper.LastError{Class: tokenkeeper.ClassPermanent, Code: "invalid_grant", Message: "bad", At: f.now}
	warn := tokenkeeper.NewEvent(tokenkeeper.EventRefreshWarning, c, f.now.Add(time.Minute))
	if warn.Failure == nil {
		t.Fatal("the warning event has no failure; the round trip would not cover it")
	}
	c.Status = tokenkeeper.StatusNeedsReauth
	reauth := tokenkeeper.NewEvent(tokenkeeper.EventNeedsReauth, c, f.now.Add(2*time.Minute))
	want = append(want, warn, reauth)
	if err := f.s.SaveConnection(t.Context(), tokenkeeper.Write{Connection: c, Events: []tokenkeeper.Event{warn, reauth}}); err != nil {
		t.Fatalf("SaveConnection: %v", err)
	}
	for range 3 {
		o := f.create()
		e := tokenkeeper.NewEvent(tokenkeeper.EventDisconnected, o, f.now.Add(3*time.Minute))
		o.Status = tokenkeeper.StatusDisconnected
		if err := f.s.SaveConnection(t.Context(), tokenkeeper.Write{Connection: o, Events: []tokenkeeper.Event{e}}); err != nil {
			t.Fatalf("SaveConnection: %v", err)
		}
		want = append(want, e)
	}

	all := f.events()
	var got []tokenkeeper.Event
	for i, se := range all {
		if i > 0 && se.Seq <= all[i-1].Seq {
			t.Errorf("event %d: Seq %d after %d, want increasing", i, se.Seq, all[i-1].Seq)
		}
		got = append(got, se.Event)
	}
	equal(t, "events", want, got)
	if len(all) != len(want) {
		t.FailNow()
	}

	page, err := f.s.ListEvents(t.Context(), all[1].Seq, 2)
	if err != nil {
		t.Fatalf("ListEvents(after, limit): %v", err)
	}
	equal(t, "events after the 2nd, limit 2", all[2:4], page)
	tail, err := f.s.ListEvents(t.Context(), all[len(all)-1].Seq, 10)
	if err != nil || len(tail) != 0 {
		t.Errorf("ListEvents after the last = %v, %v; want none", tail, err)
	}
}
