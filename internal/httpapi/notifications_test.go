package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// notificationStore returns the env's store as a NotificationStore.
func (e *env) notificationStore() tokenkeeper.NotificationStore {
	e.t.Helper()
	ns, ok := e.store.(tokenkeeper.NotificationStore)
	if !ok {
		e.t.Fatal("the test store is not a NotificationStore")
	}
	return ns
}

// notify stores an event for user and dispatches it as one in-app
// notification created at `at`, plus the given deliveries.
func (e *env) notify(user string, at time.Time, ds ...*tokenkeeper.Delivery) *tokenkeeper.Notification {
	e.t.Helper()
	ns := e.notificationStore()
	c := storetest.NewConnection(baseTime, func(c *tokenkeeper.Connection) { c.UserID = user })
	ev := tokenkeeper.NewEvent(tokenkeeper.EventNeedsReauth, c, at)
	if err := e.store.CreateConnection(e.t.Context(), c, []tokenkeeper.Event{ev}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := ns.ClaimEvents(e.t.Context(), "test", at, at.Add(time.Minute), 100); err != nil {
		e.t.Fatal(err)
	}
	n := &tokenkeeper.Notification{
		ID: tokenkeeper.NewID("ntf_"), EventID: ev.ID, UserID: user, ConnectionID: c.ID, Provider: c.Provider,
		Type: ev.Type, Message: "Reconnect acme.", CreatedAt: at,
	}
	err := ns.DispatchEvent(e.t.Context(), tokenkeeper.Dispatch{EventID: ev.ID, Owner: "test", At: at, Notifications: []*tokenkeeper.Notification{n}, Deliveries: ds})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestListNotifications(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var mine []*tokenkeeper.Notification
	for i := range 3 {
		mine = append(mine, e.notify("user_1", baseTime.Add(time.Duration(i)*time.Minute)))
	}
	e.notify("user_2", baseTime)
	res := e.do("GET", "/v1/users/user_1/notifications?limit=2", e.reader, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("list: %d %s", res.Status, res.Body)
	}
	body := res.JSON(t)
	list := body["notifications"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["id"] != mine[2].ID || list[1].(map[string]any)["id"] != mine[1].ID {
		t.Fatalf("first page: %s", res.Body)
	}
	next := body["next_cursor"].(string)
	res = e.do("GET", "/v1/users/user_1/notifications?limit=2&cursor="+next, e.writer, nil)
	if list := res.JSON(t)["notifications"].([]any); len(list) != 1 || list[0].(map[string]any)["id"] != mine[0].ID {
		t.Fatalf("second page: %s", res.Body)
	}
	// Read one: it leaves the unread list.
	res = e.do("POST", "/v1/notifications/"+mine[1].ID+"/read", e.writer, nil)
	if res.Status != http.StatusOK || res.JSON(t)["read_at"] == nil {
		t.Fatalf("read: %d %s", res.Status, res.Body)
	}
	res = e.do("GET", "/v1/users/user_1/notifications?unread=true", e.reader, nil)
	if list := res.JSON(t)["notifications"].([]any); len(list) != 2 {
		t.Errorf("unread after one read: %s", res.Body)
	}
	tests := map[string]struct {
		method, target, key string
		status              int
		code                tokenkeeper.Code
	}{
		"no key":           {"GET", "/v1/users/user_1/notifications", "", 401, tokenkeeper.CodeUnauthorized},
		"bad cursor":       {"GET", "/v1/users/user_1/notifications?cursor=abc", e.reader, 400, tokenkeeper.CodeInvalidRequest},
		"bad unread":       {"GET", "/v1/users/user_1/notifications?unread=maybe", e.reader, 400, tokenkeeper.CodeInvalidRequest},
		"bad user":         {"GET", "/v1/users/a%20b/notifications", e.reader, 400, tokenkeeper.CodeInvalidRequest},
		"read needs write": {"POST", "/v1/notifications/" + mine[0].ID + "/read", e.reader, 403, tokenkeeper.CodeForbidden},
		"read unknown":     {"POST", "/v1/notifications/ntf_unknown/read", e.writer, 404, tokenkeeper.CodeAccountNotFound},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			wantError(t, e.do(tc.method, tc.target, tc.key, nil), tc.status, tc.code)
		})
	}
}

func TestDeliveries(t *testing.T) {
	t.Parallel()
	e := setup(t)
	dead := &tokenkeeper.Delivery{
		ID: tokenkeeper.NewID("dlv_"), Key: "k1", Channel: tokenkeeper.ChannelWebhook, Payload: []byte("{}"),
		Status: tokenkeeper.DeliveryDead, Attempts: 9, LastError: "the receiver answered 500", CreatedAt: baseTime, UpdatedAt: baseTime,
	}
	pending := &tokenkeeper.Delivery{
		ID: tokenkeeper.NewID("dlv_"), Key: "k2", Channel: tokenkeeper.ChannelEmail, UserID: "user_1", Payload: []byte("{}"),
		Status: tokenkeeper.DeliveryPending, NextAttemptAt: baseTime, CreatedAt: baseTime, UpdatedAt: baseTime,
	}
	e.notify("user_1", baseTime, dead, pending)
	res := e.do("GET", "/v1/deliveries?status=dead", e.admin, nil)
	list := res.JSON(t)["deliveries"].([]any)
	if res.Status != http.StatusOK || len(list) != 1 || list[0].(map[string]any)["id"] != dead.ID {
		t.Fatalf("dead deliveries: %d %s", res.Status, res.Body)
	}
	if strings.Contains(string(res.Body), "payload") {
		t.Errorf("a delivery's payload is listed: %s", res.Body)
	}
	res = e.do("POST", "/v1/deliveries/"+dead.ID+"/retry", e.admin, nil)
	if got := res.JSON(t); res.Status != http.StatusOK || got["status"] != "pending" || got["attempts"].(float64) != 0 {
		t.Fatalf("retry: %d %s", res.Status, res.Body)
	}
	if list := e.do("GET", "/v1/deliveries?status=pending", e.admin, nil).JSON(t)["deliveries"].([]any); len(list) != 2 {
		t.Errorf("pending after the retry: %d", len(list))
	}
	tests := map[string]struct {
		method, target, key string
		status              int
		code                tokenkeeper.Code
	}{
		"list needs admin":  {"GET", "/v1/deliveries", e.writer, 403, tokenkeeper.CodeForbidden},
		"retry needs admin": {"POST", "/v1/deliveries/" + dead.ID + "/retry", e.writer, 403, tokenkeeper.CodeForbidden},
		"bad status":        {"GET", "/v1/deliveries?status=lost", e.admin, 400, tokenkeeper.CodeInvalidRequest},
		"bad limit":         {"GET", "/v1/deliveries?limit=0", e.admin, 400, tokenkeeper.CodeInvalidRequest},
		"retry pending":     {"POST", "/v1/deliveries/" + pending.ID + "/retry", e.admin, 409, tokenkeeper.CodeConflict},
		"retry unknown":     {"POST", "/v1/deliveries/dlv_unknown/retry", e.admin, 404, tokenkeeper.CodeAccountNotFound},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			wantError(t, e.do(tc.method, tc.target, tc.key, nil), tc.status, tc.code)
		})
	}
}

func TestPreferences(t *testing.T) {
	t.Parallel()
	key, err := vault.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := vault.NewRing(key)
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, func(c *Config) { c.Sealer = ring })
	const address = "alice@example.com"
	res := e.do("PUT", "/v1/users/user_1/preferences", e.writer, map[string]any{"email": address, "digest": true})
	if res.Status != http.StatusOK {
		t.Fatalf("put: %d %s", res.Status, res.Body)
	}
	want := map[string]any{"user_id": "user_1", "email_enabled": true, "digest": true, "has_email": true}
	for k, v := range want {
		if got := res.JSON(t)[k]; got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	u, err := e.store.GetUser(t.Context(), "user_1")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ring.Open(u.SealedEmail, tokenkeeper.AdditionalData("user_1", tokenkeeper.FieldUserEmail))
	if err != nil || string(plain) != address {
		t.Fatalf("the stored address does not open as the user's e-mail: %v", err)
	}
	if strings.Contains(string(u.SealedEmail), address) {
		t.Error("the address is stored in the clear")
	}
	// Absent fields are kept; "" removes the address.
	res = e.do("PUT", "/v1/users/user_1/preferences", e.writer, map[string]any{"email_enabled": false})
	if got := res.JSON(t); got["email_enabled"] != false || got["digest"] != true || got["has_email"] != true {
		t.Errorf("partial update: %s", res.Body)
	}
	res = e.do("PUT", "/v1/users/user_1/preferences", e.writer, map[string]any{"email": ""})
	if got := res.JSON(t); got["has_email"] != false {
		t.Errorf("removal: %s", res.Body)
	}
	wantError(t, e.do("PUT", "/v1/users/user_1/preferences", e.writer, map[string]any{"email": "Alice <a@b.example>"}), 400, tokenkeeper.CodeInvalidRequest)
	wantError(t, e.do("PUT", "/v1/users/user_1/preferences", e.reader, map[string]any{"digest": true}), 403, tokenkeeper.CodeForbidden)
	wantError(t, e.do("PUT", "/v1/users/user_1/preferences", e.writer, map[string]any{"digest": "yes"}), 400, tokenkeeper.CodeInvalidRequest)
	if strings.Contains(e.logs.String(), address) {
		t.Error("the address appears in the logs")
	}
	// Without a key ring, addresses are refused rather than stored in the clear.
	plainEnv := setup(t)
	wantError(t, plainEnv.do("PUT", "/v1/users/user_1/preferences", plainEnv.writer, map[string]any{"email": address}), 503, tokenkeeper.CodeUnavailable)
}
