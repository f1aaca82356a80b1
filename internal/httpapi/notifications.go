package httpapi

import (
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// notificationView is the JSON shape of an in-app notification.
type notificationView struct {
	ID           string     `json:"id"`
	EventID      string     `json:"event_id"`
	UserID       string     `json:"user_id"`
	ConnectionID string     `json:"connection_id"`
	Provider     string     `json:"provider"`
	Type         string     `json:"type"`
	Message      string     `json:"message"`
	CreatedAt    *time.Time `json:"created_at"`
	ReadAt       *time.Time `json:"read_at"`
}

// deliveryView is the JSON shape of a delivery, without its payload.
type deliveryView struct {
	ID            string     `json:"id"`
	EventID       string     `json:"event_id"`
	Channel       string     `json:"channel"`
	Target        string     `json:"target"`
	UserID        string     `json:"user_id"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	LastError     string     `json:"last_error"`
	CreatedAt     *time.Time `json:"created_at"`
	UpdatedAt     *time.Time `json:"updated_at"`
	DeliveredAt   *time.Time `json:"delivered_at"`
}

// preferencesBody is the JSON body of PUT /v1/users/{user_id}/preferences;
// absent fields keep their stored value, "email": "" removes the address.
type preferencesBody struct {
	EmailEnabled *bool   `json:"email_enabled"`
	Digest       *bool   `json:"digest"`
	Email        *string `json:"email"`
}

// preferencesView answers it; the address itself is never sent back.
type preferencesView struct {
	UserID       string `json:"user_id"`
	EmailEnabled bool   `json:"email_enabled"`
	Digest       bool   `json:"digest"`
	HasEmail     bool   `json:"has_email"`
}

func viewNotification(n *tokenkeeper.Notification) notificationView {
	return notificationView{
		ID: n.ID, EventID: n.EventID, UserID: n.UserID, ConnectionID: n.ConnectionID, Provider: n.Provider,
		Type: string(n.Type), Message: n.Message, CreatedAt: timePtr(n.CreatedAt), ReadAt: timePtr(n.ReadAt),
	}
}

func viewDelivery(d *tokenkeeper.Delivery) deliveryView {
	return deliveryView{
		ID: d.ID, EventID: d.EventID, Channel: string(d.Channel), Target: d.Target, UserID: d.UserID,
		Status: string(d.Status), Attempts: d.Attempts, NextAttemptAt: timePtr(d.NextAttemptAt), LastError: d.LastError,
		CreatedAt: timePtr(d.CreatedAt), UpdatedAt: timePtr(d.UpdatedAt), DeliveredAt: timePtr(d.DeliveredAt),
	}
}

// notifications returns the notification store: Config.Notifications, else
// the Store when it is one.
func (s *Server) notifications() (tokenkeeper.NotificationStore, error) {
	if s.cfg.Notifications != nil {
		return s.cfg.Notifications, nil
	}
	if ns, ok := s.cfg.Store.(tokenkeeper.NotificationStore); ok {
		return ns, nil
	}
	return nil, tokenkeeper.Errorf(tokenkeeper.CodeUnavailable, "notifications are not available")
}

// pageParams reads the cursor and limit query parameters of a list.
func pageParams(q url.Values) (cursor string, limit int, err error) {
	limit = 100
	if q.Has("cursor") {
		cursor = q.Get("cursor")
		if _, err := strconv.ParseInt(cursor, 10, 64); err != nil || len(cursor) > maxCursorLen {
			return "", 0, invalid("cursor is not a cursor this API returned")
		}
	}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > maxListLimit {
			return "", 0, invalid("limit must be an integer from 1 to %d", maxListLimit)
		}
		limit = n
	}
	return cursor, limit, nil
}

// nextCursor returns a list's next_cursor: null on the last page.
func nextCursor(next string) *string {
	if next == "" {
		return nil
	}
	return &next
}

// handleListNotifications answers GET /v1/users/{user_id}/notifications:
// the user's in-app notifications, newest first (unread=true: unread only).
func (s *Server) handleListNotifications(w http.ResponseWriter, r *http.Request) error {
	user, err := pathID(r, "user_id", "user_id")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := tokenkeeper.NotificationFilter{UserID: user}
	if f.After, f.Limit, err = pageParams(q); err != nil {
		return err
	}
	if q.Has("unread") {
		if f.UnreadOnly, err = strconv.ParseBool(q.Get("unread")); err != nil {
			return invalid("unread must be true or false")
		}
	}
	ns, err := s.notifications()
	if err != nil {
		return err
	}
	list, next, err := ns.ListNotifications(r.Context(), f)
	if err != nil {
		return err
	}
	out := struct {
		Notifications []notificationView `json:"notifications"`
		NextCursor    *string            `json:"next_cursor"`
	}{Notifications: make([]notificationView, len(list)), NextCursor: nextCursor(next)}
	for i, n := range list {
		out.Notifications[i] = viewNotification(n)
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

// handleReadNotification answers POST /v1/notifications/{id}/read with the
// notification, marked read (the first read time is kept).
func (s *Server) handleReadNotification(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "notification id")
	if err != nil {
		return err
	}
	ns, err := s.notifications()
	if err != nil {
		return err
	}
	n, err := ns.MarkNotificationRead(r.Context(), id, s.cfg.Now())
	if errors.Is(err, tokenkeeper.ErrNotFound) {
		return &tokenkeeper.Error{Code: tokenkeeper.CodeAccountNotFound, Message: "notification not found", Err: err}
	}
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, viewNotification(n))
	return nil
}

// handleListDeliveries answers GET /v1/deliveries (admin): deliveries oldest
// first, filtered by status.
func (s *Server) handleListDeliveries(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var f tokenkeeper.DeliveryFilter
	var err error
	if f.After, f.Limit, err = pageParams(q); err != nil {
		return err
	}
	if q.Has("status") {
		switch st := tokenkeeper.DeliveryStatus(q.Get("status")); st {
		case tokenkeeper.DeliveryPending, tokenkeeper.DeliveryDelivered, tokenkeeper.DeliveryDead:
			f.Status = st
		default:
			return invalid("status must be pending, delivered or dead")
		}
	}
	ns, err := s.notifications()
	if err != nil {
		return err
	}
	list, next, err := ns.ListDeliveries(r.Context(), f)
	if err != nil {
		return err
	}
	out := struct {
		Deliveries []deliveryView `json:"deliveries"`
		NextCursor *string        `json:"next_cursor"`
	}{Deliveries: make([]deliveryView, len(list)), NextCursor: nextCursor(next)}
	for i, d := range list {
		out.Deliveries[i] = viewDelivery(d)
	}
	s.writeJSON(w, http.StatusOK, out)
	return nil
}

// handleRetryDelivery answers POST /v1/deliveries/{id}/retry (admin): a
// dead delivery becomes pending, due now; 409 CONFLICT when it is not dead.
func (s *Server) handleRetryDelivery(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "delivery id")
	if err != nil {
		return err
	}
	ns, err := s.notifications()
	if err != nil {
		return err
	}
	d, err := ns.RetryDelivery(r.Context(), id, s.cfg.Now())
	if errors.Is(err, tokenkeeper.ErrNotFound) {
		return &tokenkeeper.Error{Code: tokenkeeper.CodeAccountNotFound, Message: "delivery not found", Err: err}
	}
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, viewDelivery(d))
	return nil
}

// handlePutPreferences answers PUT /v1/users/{user_id}/preferences: e-mail
// on or off, daily digest, and the address, stored sealed like tokens
// (bound to the user and the field). The answer never repeats the address.
func (s *Server) handlePutPreferences(w http.ResponseWriter, r *http.Request) error {
	user, err := pathID(r, "user_id", "user_id")
	if err != nil {
		return err
	}
	data, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	var b preferencesBody
	if err := decodeJSON(data, &b); err != nil {
		return err
	}
	u, err := s.cfg.Store.GetUser(r.Context(), user)
	if errors.Is(err, tokenkeeper.ErrNotFound) {
		u, err = &tokenkeeper.User{ID: user, EmailEnabled: true}, nil
	}
	if err != nil {
		return err
	}
	if b.EmailEnabled != nil {
		u.EmailEnabled = *b.EmailEnabled
	}
	if b.Digest != nil {
		u.Digest = *b.Digest
	}
	if b.Email != nil {
		if u.SealedEmail, err = s.sealEmail(user, *b.Email); err != nil {
			return err
		}
	}
	u.UpdatedAt = s.cfg.Now()
	if err := s.cfg.Store.PutUser(r.Context(), u); err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, preferencesView{UserID: u.ID, EmailEnabled: u.EmailEnabled, Digest: u.Digest, HasEmail: len(u.SealedEmail) > 0})
	return nil
}

// sealEmail checks an address and seals it with AdditionalData(user,
// FieldUserEmail); "" seals nothing (the address is removed).
func (s *Server) sealEmail(user, email string) ([]byte, error) {
	if email == "" {
		return nil, nil
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 320 {
		return nil, invalid("email must be a plain e-mail address (name@example.com)")
	}
	if s.cfg.Sealer == nil {
		return nil, tokenkeeper.Errorf(tokenkeeper.CodeUnavailable, "e-mail addresses cannot be stored: no encryption key is configured")
	}
	sealed, err := s.cfg.Sealer.Seal([]byte(email), tokenkeeper.AdditionalData(user, tokenkeeper.FieldUserEmail))
	if err != nil {
		return nil, err
	}
	return sealed, nil
}
