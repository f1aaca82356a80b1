package connect

import (
	"bytes"
	"html/template"
	"net/http"
)

// page is what a browser sees when the flow ends here rather than at the
// application: a title, one explanation, and a stable code for support.
type page struct {
	Status  int
	Title   string
	Message string
	// Code is the error code ("state_expired"); empty on success.
	Code string
}

// The pages of the flow, by code. The messages say what happened and what
// to do, never a cause from inside tokenkeeper.
var (
	pageMissingState  = page{http.StatusBadRequest, "This sign-in cannot continue", "The provider sent your browser back without the information tokenkeeper needs. Start again from the application.", "state_missing"}
	pageMissingCode   = page{http.StatusBadRequest, "This sign-in cannot continue", "The provider sent your browser back without an authorization code, so nothing was connected. Start again from the application.", "invalid_request"}
	pageUnknownState  = page{http.StatusBadRequest, "This sign-in is not valid", "tokenkeeper did not start this sign-in, or it was removed. Start again from the application.", "state_invalid"}
	pageUsedState     = page{http.StatusBadRequest, "This sign-in was already completed", "This sign-in has already been used. If the account is not connected, start again from the application.", "state_used"}
	pageExpiredState  = page{http.StatusBadRequest, "This sign-in expired", "Too much time passed between starting the sign-in and coming back. Start again from the application.", "state_expired"}
	pageLinkInvalid   = page{http.StatusForbidden, "This reconnect link is not valid", "The link is incomplete or was changed. Use the link exactly as you received it, or ask the application for a new one.", "link_invalid"}
	pageLinkExpired   = page{http.StatusGone, "This reconnect link expired", "Reconnect links work for a limited time. Ask the application for a new one.", "link_expired"}
	pageLinkUsed      = page{http.StatusGone, "This reconnect link was already used", "Each reconnect link works once, and this one reconnected the account already. If the account still needs attention, ask the application for a new link.", "link_used"}
	pageLinkRemoved   = page{http.StatusGone, "This connection was removed", "The account this link reconnects has been disconnected from the application. Connect it again from the application.", "connection_removed"}
	pageProviderGone  = page{http.StatusBadRequest, "This provider is not available", "tokenkeeper is not configured for this provider any more.", "provider_unknown"}
	pageDenied        = page{http.StatusForbidden, "Access was not granted", "The provider reports that access was not granted, so nothing was connected. You can start again from the application.", "access_denied"}
	pageExchange      = page{http.StatusBadGateway, "The provider did not complete the sign-in", "The provider did not accept the sign-in, so nothing was connected. Start again from the application.", "exchange_failed"}
	pageUnavailable   = page{http.StatusServiceUnavailable, "The provider is not answering", "The provider could not be reached, so nothing was connected. Try again in a few minutes.", "temporarily_unavailable"}
	pageAccountLookup = page{http.StatusBadGateway, "The account could not be identified", "The provider did not say which account you signed in with, so nothing was connected. Try again in a few minutes.", "account_lookup_failed"}
	pageWrongAccount  = page{http.StatusConflict, "A different account signed in", "This link reconnects another account at this provider. Sign in with that account, or ask the application for help.", "account_mismatch"}
	pageInternal      = page{http.StatusInternalServerError, "Something went wrong", "tokenkeeper could not finish the sign-in. Nothing was connected. Try again later.", "internal_error"}
	pageConnected     = page{http.StatusOK, "Connected", "Your account is connected. You can close this window.", ""}
)

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}} · tokenkeeper</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem; color: #1f2328; }
h1 { font-size: 1.4rem; }
p.code { color: #656d76; font-size: .85rem; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{if .Code}}<p class="code">Error code: <code>{{.Code}}</code></p>{{end}}
</body>
</html>
`))

// securityHeaders are set on every answer of the browser routes: nothing is
// cached, framed, sniffed, or leaked through Referer (a callback URL holds
// an authorization code).
func securityHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
}

// writePage answers with p as an HTML page.
func writePage(w http.ResponseWriter, p page) {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, p); err != nil {
		// The template and its data are ours; failing here is a bug.
		p.Status, b = http.StatusInternalServerError, *bytes.NewBufferString("internal error\n")
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(p.Status)
	_, _ = w.Write(b.Bytes())
}

// redirect answers 302 to target.
func redirect(w http.ResponseWriter, target string) {
	securityHeaders(w.Header())
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusFound)
}
