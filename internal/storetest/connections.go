package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

var connectionTests = map[string]func(*testing.T, OpenFunc){
	"CreateGetEveryField":      testCreateGetEveryField,
	"CreateGetZeroValues":      testCreateGetZeroValues,
	"CreateTruncatesToMillis":  testCreateTruncatesToMillis,
	"CreateDuplicate":          testCreateDuplicate,
	"GetUnknown":               testGetUnknown,
	"Find":                     testFind,
	"FindNewestWithoutAccount": testFindNewestWithoutAccount,
	"Ping":                     testPing,
	"MigrationStatus":          testMigrationStatus,
}

// fullConnection sets every field of a connection to a non-zero value.
func fullConnection(now time.Time) *tokenkeeper.Connection {
	return NewConnection(now, func(c *tokenkeeper.Connection) {
		c.Scopes = []string{"openid", "email", "offline_access"}
		c.RefreshTokenExpiresAt = now.Add(180 * 24 * time.Hour)
		c.Lifetime = 3599 * time.Second
		c.ConsecutiveFailures = 2
		c.ConsecutiveTransientFailures = 3
		c.LastRefreshedAt = now.Add(-time.Minute)
		c.LastError = &tokenkeeper.LastError{
			Class:      tokenkeeper.ClassPermanent,
			Code:       "invalid_grant",
			HTTPStatus: 400,
			Message:    "grant request is invalid",
			At:         now.Add(-30 * time.Second),
		}
		c.Notice = tokenkeeper.EventRefreshWarning
		c.LeaseOwner = "replica-1"
		c.LeaseUntil = now.Add(30 * time.Second)
		c.CreatedAt = now.Add(-24 * time.Hour)
		c.UpdatedAt = now.Add(-time.Second)
	})
}

func testCreateGetEveryField(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := fullConnection(f.now)
	ev := tokenkeeper.NewEvent(tokenkeeper.EventConnected, c, f.now)
	if err := f.s.CreateConnection(t.Context(), c, []tokenkeeper.Event{ev}); err != nil {
		t.Fatalf("CreateConnection: %v", err)
	}
	if c.Version != 1 {
		t.Errorf("Version after create = %d, want 1", c.Version)
	}
	got := f.get(c.ID)
	equal(t, "connection read back", c, got)
	if d := Diff(fullConnection(f.now), c); d == "" {
		t.Fatal("fullConnection produced equal random connections; the test proves nothing")
	}
	evs := f.events()
	if len(evs) != 1 {
		t.Fatalf("got %d events after create, want 1", len(evs))
	}
	equal(t, "event", ev, evs[0].Event)
}

func testCreateGetZeroValues(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	c := NewConnection(f.now, func(c *tokenkeeper.Connection) {
		c.AccountID = ""
		c.Scopes = nil
		c.Status = tokenkeeper.StatusNeedsReauth
		c.ExpiresAt = time.Time{}
		c.Lifetime = 0
		c.LastRefreshedAt = time.Time{}
		c.NextRefreshAt = time.Time{}
		c.SealedAccessToken = nil
		c.SealedRefreshToken = nil
	})
	if err := f.s.CreateConnection(t.Context(), c, nil); err != nil {
		t.Fatalf("CreateConnection: %v", err)
	}
	got := f.get(c.ID)
	equal(t, "connection read back", c, got)
	for name, tm := range map[string]time.Time{
		"ExpiresAt": got.ExpiresAt, "RefreshTokenExpiresAt": got.RefreshTokenExpiresAt,
		"LastRefreshedAt": got.LastRefreshedAt, "NextRefreshAt": got.NextRefreshAt, "LeaseUntil": got.LeaseUntil,
	} {
		if !tm.IsZero() {
			t.Errorf("%s = %v, want the zero time", name, tm)
		}
	}
	if got.LastError != nil {
		t.Errorf("LastError = %+v, want nil", got.LastError)
	}
	if got.HasRefreshToken() || len(got.SealedAccessToken) != 0 {
		t.Error("empty sealed tokens came back non-empty")
	}
	if len(f.events()) != 0 {
		t.Error("CreateConnection without events stored events")
	}
}

func testCreateTruncatesToMillis(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	fine := f.now.Add(123*time.Millisecond + 456789*time.Nanosecond)
	c := NewConnection(f.now, func(c *tokenkeeper.Connection) {
		c.ExpiresAt = fine
		c.NextRefreshAt = fine
		c.UpdatedAt = fine
		c.Lifetime = time.Hour + 999*time.Microsecond
	})
	if err := f.s.CreateConnection(t.Context(), c, nil); err != nil {
		t.Fatalf("CreateConnection: %v", err)
	}
	got := f.get(c.ID)
	want := fine.Truncate(time.Millisecond)
	for name, tm := range map[string]time.Time{"ExpiresAt": got.ExpiresAt, "NextRefreshAt": got.NextRefreshAt, "UpdatedAt": got.UpdatedAt} {
		if !tm.Equal(want) {
			t.Errorf("%s = %s, want %s (truncated to ms)", name, fmtTime(tm), fmtTime(want))
		}
	}
	if got.Lifetime != time.Hour {
		t.Errorf("Lifetime = %s, want 1h (truncated to ms)", got.Lifetime)
	}
}

func testCreateDuplicate(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	first := f.create()
	dup := NewConnection(f.now, withUser(first.UserID), withAccount(first.AccountID))
	ev := tokenkeeper.NewEvent(tokenkeeper.EventConnected, dup, f.now)
	err := f.s.CreateConnection(t.Context(), dup, []tokenkeeper.Event{ev})
	if !errors.Is(err, tokenkeeper.ErrDuplicate) {
		t.Fatalf("CreateConnection of the same (user, provider, account) = %v, want ErrDuplicate", err)
	}
	if _, err := f.s.GetConnection(t.Context(), dup.ID); !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Errorf("the duplicate was stored: GetConnection = %v", err)
	}
	if n := len(f.events()); n != 0 {
		t.Errorf("a failed create stored %d events", n)
	}
	// Each part of the key may be shared on its own.
	for name, c := range map[string]*tokenkeeper.Connection{
		"other account":  NewConnection(f.now, withUser(first.UserID)),
		"other provider": NewConnection(f.now, withUser(first.UserID), withAccount(first.AccountID), withProvider("other")),
		"other user":     NewConnection(f.now, withAccount(first.AccountID)),
	} {
		if err := f.s.CreateConnection(t.Context(), c, nil); err != nil {
			t.Errorf("%s: CreateConnection = %v, want success", name, err)
		}
	}
}

func testGetUnknown(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	f.create()
	_, err := f.s.GetConnection(t.Context(), tokenkeeper.NewID("conn_"))
	if !errors.Is(err, tokenkeeper.ErrNotFound) {
		t.Fatalf("GetConnection(unknown) = %v, want ErrNotFound", err)
	}
	if tokenkeeper.ErrorCode(err) != tokenkeeper.CodeAccountNotFound {
		t.Errorf("ErrorCode = %s, want %s", tokenkeeper.ErrorCode(err), tokenkeeper.CodeAccountNotFound)
	}
}

func testFind(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	a := f.create(withUser("u1"), withProvider("acme"), withAccount("a1"))
	b := f.create(withUser("u1"), withProvider("other"), withAccount("a1"))
	f.create(withUser("u2"), withProvider("acme"), withAccount("a1"))
	tests := []struct {
		name                    string
		user, provider, account string
		want                    *tokenkeeper.Connection
	}{
		{"with account", "u1", "acme", "a1", a},
		{"without account", "u1", "acme", "", a},
		{"other provider", "u1", "other", "", b},
		{"unknown account", "u1", "acme", "a2", nil},
		{"unknown user", "u3", "acme", "", nil},
		{"unknown provider", "u1", "none", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.s.FindConnection(t.Context(), tt.user, tt.provider, tt.account)
			if tt.want == nil {
				if !errors.Is(err, tokenkeeper.ErrNotFound) {
					t.Fatalf("FindConnection = %v, %v; want ErrNotFound", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("FindConnection: %v", err)
			}
			equal(t, "found connection", tt.want, got)
		})
	}
}

func testFindNewestWithoutAccount(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	at := func(d time.Duration) func(*tokenkeeper.Connection) {
		return func(c *tokenkeeper.Connection) { c.UpdatedAt = f.now.Add(d) }
	}
	f.create(withUser("u"), withAccount("older"), at(time.Minute))
	newest := f.create(withUser("u"), withAccount("newest"), at(3*time.Minute))
	f.create(withUser("u"), withAccount("middle"), at(2*time.Minute))
	got, err := f.s.FindConnection(t.Context(), "u", "acme", "")
	if err != nil {
		t.Fatalf("FindConnection: %v", err)
	}
	if got.ID != newest.ID {
		t.Errorf("FindConnection without account = %s (account %s), want the most recently updated %s",
			got.ID, got.AccountID, newest.ID)
	}
	got, err = f.s.FindConnection(t.Context(), "u", "acme", "older")
	if err != nil || got.AccountID != "older" {
		t.Errorf("FindConnection(older) = %v, %v; want the connection of account older", got, err)
	}
}

func testPing(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	if err := f.s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testMigrationStatus(t *testing.T, open OpenFunc) {
	f := setup(t, open)
	current, latest, err := f.s.MigrationStatus(t.Context())
	if err != nil {
		t.Fatalf("MigrationStatus: %v", err)
	}
	if latest < 1 || current != latest {
		t.Errorf("MigrationStatus = current %d, latest %d; want current == latest >= 1", current, latest)
	}
}
