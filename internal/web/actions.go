package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/tokenkeeper/tokenkeeper"
)

// connectionURL returns the connection page's path with a flash message.
func connectionURL(id, flash string, code tokenkeeper.Code) string {
	v := url.Values{}
	if flash != "" {
		v.Set("flash", flash)
	}
	if code != "" {
		v.Set("code", string(code))
	}
	u := Prefix + "connections/" + url.PathEscape(id)
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	return u
}

// refresh refreshes the connection now (trigger manual) and goes back to
// its page, which shows the new status and history row.
func (h *Handler) refresh(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !tokenkeeper.ValidID(id) {
		return tokenkeeper.ErrNotFound
	}
	_, err := h.cfg.Keeper.Refresh(r.Context(), id, tokenkeeper.TriggerManual, "")
	code := tokenkeeper.ErrorCode(err)
	if code == tokenkeeper.CodeAccountNotFound {
		return err
	}
	h.cfg.Logger.Info("admin refresh", "connection_id", id, "api_key_id", sessionFrom(r.Context()).keyID, "code", string(code))
	if err != nil {
		if code == tokenkeeper.CodeInternal {
			h.cfg.Logger.Error("admin refresh failed", "connection_id", id, "error", err)
		}
		http.Redirect(w, r, connectionURL(id, "refresh_failed", code), http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, connectionURL(id, "refreshed", ""), http.StatusSeeOther)
	return nil
}

// disconnect revokes and erases the connection's tokens.
func (h *Handler) disconnect(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !tokenkeeper.ValidID(id) {
		return tokenkeeper.ErrNotFound
	}
	if _, err := h.cfg.Keeper.Disconnect(r.Context(), id); err != nil {
		return err
	}
	h.cfg.Logger.Info("admin disconnect", "connection_id", id, "api_key_id", sessionFrom(r.Context()).keyID)
	http.Redirect(w, r, connectionURL(id, "disconnected", ""), http.StatusSeeOther)
	return nil
}

// reconnectLink makes the connection's reconnect link. The page's script
// asks for JSON ({"url": …}) and copies it to the clipboard; without
// JavaScript the connection page is shown with the link in a text box.
func (h *Handler) reconnectLink(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Reconnect == nil {
		h.renderStatus(w, r, http.StatusNotFound, "error.html", errorPage{Title: "Not configured", Message: "Reconnect links are not configured in this process."})
		return nil
	}
	d, err := h.connectionData(r)
	if err != nil {
		return err
	}
	link, err := h.cfg.Reconnect(d.C)
	if err != nil {
		return err
	}
	h.cfg.Logger.Info("admin reconnect link", "connection_id", d.C.ID, "api_key_id", sessionFrom(r.Context()).keyID)
	if r.Header.Get("Accept") == "application/json" {
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(map[string]string{"url": link})
	}
	d.ReconnectURL = link
	return h.render(w, r, "connection.html", d.C.ID, "connections", d)
}

type outboxData struct {
	Configured bool
	Status     tokenkeeper.DeliveryStatus
	Counts     outboxCounts
	Deliveries []*tokenkeeper.Delivery
	After      string
	Next       string
}

// outbox lists notification deliveries of one status (dead by default),
// oldest first, 100 a page.
func (h *Handler) outbox(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	d := outboxData{Configured: h.cfg.Outbox != nil, Status: tokenkeeper.DeliveryStatus(q.Get("status")), After: q.Get("after")}
	switch d.Status {
	case tokenkeeper.DeliveryPending, tokenkeeper.DeliveryDelivered, tokenkeeper.DeliveryDead:
	default:
		d.Status = tokenkeeper.DeliveryDead
	}
	if d.Configured {
		counts, err := h.outboxCounts(r)
		if err != nil {
			return err
		}
		d.Counts = *counts
		f := tokenkeeper.DeliveryFilter{Status: d.Status, After: d.After, Limit: 100}
		if d.Deliveries, d.Next, err = h.cfg.Outbox.ListDeliveries(r.Context(), f); err != nil {
			return err
		}
	}
	return h.render(w, r, "outbox.html", "Outbox", "outbox", d)
}

// outboxCounts adds up the pending and dead deliveries of every channel.
func (h *Handler) outboxCounts(r *http.Request) (*outboxCounts, error) {
	counts, err := h.cfg.Outbox.CountDeliveries(r.Context())
	if err != nil {
		return nil, err
	}
	var c outboxCounts
	for _, dc := range counts {
		switch dc.Status {
		case tokenkeeper.DeliveryPending:
			c.Pending += dc.Count
		case tokenkeeper.DeliveryDead:
			c.Dead += dc.Count
		}
	}
	return &c, nil
}

// retry makes a dead delivery due again and goes back to the outbox.
func (h *Handler) retry(w http.ResponseWriter, r *http.Request) error {
	if h.cfg.Outbox == nil {
		h.notFound(w, r)
		return nil
	}
	id := r.PathValue("id")
	if !tokenkeeper.ValidID(id) {
		return tokenkeeper.ErrNotFound
	}
	flash := "retried"
	_, err := h.cfg.Outbox.RetryDelivery(r.Context(), id, h.cfg.Now())
	switch {
	case errors.Is(err, tokenkeeper.ErrDeliveryNotDead):
		flash = "not_dead"
	case err != nil:
		return err
	default:
		h.cfg.Logger.Info("admin retry delivery", "delivery_id", id, "api_key_id", sessionFrom(r.Context()).keyID)
	}
	http.Redirect(w, r, Prefix+"outbox?flash="+flash, http.StatusSeeOther)
	return nil
}
