package notify

import (
	"fmt"
	"slices"

	"github.com/tokenkeeper/tokenkeeper"
)

// Policy says which event types become which messages. Thresholds (when an
// event is produced at all) belong to tokenkeeper.Policy; this decides who
// hears about one.
type Policy struct {
	// InApp: event types that become an in-app notification for the user.
	InApp []tokenkeeper.EventType
	// Email: event types e-mailed to the user (immediately, or in the daily
	// digest for digest users), when the user has an address and e-mail on.
	Email []tokenkeeper.EventType
	// Chat: event types alerted to operators on Slack and Discord.
	Chat []tokenkeeper.EventType
	// Webhook: event types sent to the application's webhook; nil means all.
	Webhook []tokenkeeper.EventType
}

// DefaultPolicy returns issue 4's policy: in-app for the warning, the
// needs-reauth, the rate-limit notice and the recovery; e-mail for
// needs_reauth only; chat for connection.error; webhooks for every event.
func DefaultPolicy() Policy {
	return Policy{
		InApp: []tokenkeeper.EventType{
			tokenkeeper.EventRefreshWarning, tokenkeeper.EventNeedsReauth,
			tokenkeeper.EventRateLimited, tokenkeeper.EventRecovered,
		},
		Email: []tokenkeeper.EventType{tokenkeeper.EventNeedsReauth},
		Chat:  []tokenkeeper.EventType{tokenkeeper.EventError},
	}
}

func (p Policy) inApp(t tokenkeeper.EventType) bool { return slices.Contains(p.InApp, t) }
func (p Policy) email(t tokenkeeper.EventType) bool { return slices.Contains(p.Email, t) }
func (p Policy) chat(t tokenkeeper.EventType) bool  { return slices.Contains(p.Chat, t) }
func (p Policy) webhook(t tokenkeeper.EventType) bool {
	return p.Webhook == nil || slices.Contains(p.Webhook, t)
}

// EventTypes lists every event type, for validating settings.
var EventTypes = []tokenkeeper.EventType{
	tokenkeeper.EventConnected, tokenkeeper.EventRefreshWarning, tokenkeeper.EventNeedsReauth,
	tokenkeeper.EventRecovered, tokenkeeper.EventRateLimited, tokenkeeper.EventError, tokenkeeper.EventDisconnected,
}

// ParseEventTypes parses event type names ("connection.needs_reauth"); it
// returns an error naming the first unknown one.
func ParseEventTypes(names []string) ([]tokenkeeper.EventType, error) {
	out := make([]tokenkeeper.EventType, 0, len(names))
	for _, n := range names {
		t := tokenkeeper.EventType(n)
		if !slices.Contains(EventTypes, t) {
			return nil, fmt.Errorf("unknown event type %q", n)
		}
		out = append(out, t)
	}
	return out, nil
}

// Text is what a message says about one event: a headline (e-mail subject,
// notification title) and one or two sentences of detail. Neither holds a
// token, an address or the provider's raw error message.
type Text struct {
	Headline string
	Detail   string
	// Reconnect: the user must reconnect; e-mails carry the link.
	Reconnect bool
}

// Describe returns the text of event e; provider is the provider's display name.
func Describe(e tokenkeeper.Event, provider string) Text {
	code, n, nt := "", 0, 0
	if f := e.Failure; f != nil {
		code, n, nt = f.Code, f.ConsecutiveFailures, f.ConsecutiveTransientFailures
	}
	switch e.Type {
	case tokenkeeper.EventNeedsReauth:
		why := fmt.Sprintf("%s refused to renew the access you gave (%s)", provider, orUnknown(code))
		if e.Failure != nil && e.Failure.Class == tokenkeeper.ClassRevoked {
			why = fmt.Sprintf("the access you gave was revoked or has expired at %s", provider)
		}
		return Text{
			Headline:  fmt.Sprintf("Reconnect your %s account", provider),
			Detail:    fmt.Sprintf("We can no longer reach your %s account: %s. Reconnect it to keep it working.", provider, why),
			Reconnect: true,
		}
	case tokenkeeper.EventRefreshWarning:
		return Text{
			Headline: fmt.Sprintf("Trouble renewing access to %s", provider),
			Detail: fmt.Sprintf("%s refused to renew access %d times in a row (%s). We will try again; if it keeps failing you will be asked to reconnect.",
				provider, n, orUnknown(code)),
		}
	case tokenkeeper.EventRateLimited:
		return Text{
			Headline: fmt.Sprintf("%s is not answering right now", provider),
			Detail:   fmt.Sprintf("%s has been busy or unavailable for the last %d attempts. We keep retrying; there is nothing for you to do.", provider, nt),
		}
	case tokenkeeper.EventRecovered:
		return Text{
			Headline: fmt.Sprintf("Your %s connection works again", provider),
			Detail:   fmt.Sprintf("Access to your %s account was renewed. There is nothing for you to do.", provider),
		}
	case tokenkeeper.EventError:
		return Text{
			Headline: fmt.Sprintf("%s connection in error", provider),
			Detail:   fmt.Sprintf("%s rejected tokenkeeper's configuration (%s); an operator must fix it.", provider, orUnknown(code)),
		}
	case tokenkeeper.EventConnected:
		return Text{Headline: fmt.Sprintf("%s connected", provider), Detail: fmt.Sprintf("Your %s account is connected.", provider)}
	case tokenkeeper.EventDisconnected:
		return Text{Headline: fmt.Sprintf("%s disconnected", provider), Detail: fmt.Sprintf("Your %s account was disconnected.", provider)}
	}
	return Text{Headline: string(e.Type), Detail: string(e.Type) + " at " + provider + "."}
}

func orUnknown(code string) string {
	if code == "" {
		return "no reason given"
	}
	return code
}
