package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/tokenkeeper/tokenkeeper"
)

// SMTPConfig configures an SMTPMailer.
type SMTPConfig struct {
	// URL is smtp://[user:pass@]host[:port] (STARTTLS, port 587 by default)
	// or smtps://[user:pass@]host[:port] (TLS from the start, port 465).
	// Query parameters: tls=mandatory|opportunistic|none for smtp:// (default
	// mandatory: never send a password in the clear), and
	// auth=auto|plain|login|cram-md5|scram-sha-256|none (default auto when a
	// user is given, none otherwise).
	URL tokenkeeper.Secret
	// From is the sender, an address or "Name <address>".
	From string
	// TLSConfig, when set, is used for STARTTLS and TLS (tests pass their own
	// roots); its ServerName defaults to the host.
	TLSConfig *tls.Config
	// Timeout bounds connecting and each SMTP command (30 s).
	Timeout time.Duration
}

// SMTPMailer sends e-mail through an SMTP server with wneessen/go-mail, one
// connection per message.
type SMTPMailer struct {
	host string
	from string
	opts []gomail.Option
}

// NewSMTPMailer checks c and returns a mailer. Its errors never quote the
// URL, which holds a password.
func NewSMTPMailer(c SMTPConfig) (*SMTPMailer, error) {
	u, err := url.Parse(c.URL.Reveal())
	if err != nil {
		return nil, errors.New("smtp_url is not a URL (smtp://user:pass@host:587 or smtps://…)")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return nil, errors.New("mail_from is not an e-mail address")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("smtp_url has no host")
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLSConfig != nil {
		tc = c.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	opts := []gomail.Option{gomail.WithTimeout(c.Timeout), gomail.WithTLSConfig(tc)}
	q := u.Query()
	port := 587
	switch u.Scheme {
	case "smtps":
		port = 465
		opts = append(opts, gomail.WithSSL())
	case "smtp":
		policy := map[string]gomail.TLSPolicy{"": gomail.TLSMandatory, "mandatory": gomail.TLSMandatory,
			"opportunistic": gomail.TLSOpportunistic, "none": gomail.NoTLS}
		p, ok := policy[q.Get("tls")]
		if !ok {
			return nil, errors.New("smtp_url: tls must be mandatory, opportunistic or none")
		}
		opts = append(opts, gomail.WithTLSPolicy(p))
	default:
		return nil, errors.New("smtp_url: the scheme must be smtp or smtps")
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port <= 0 || port > 65535 {
			return nil, errors.New("smtp_url: the port must be a number from 1 to 65535")
		}
	}
	opts = append(opts, gomail.WithPort(port))
	auth, err := smtpAuth(q.Get("auth"), u.User != nil && u.User.Username() != "")
	if err != nil {
		return nil, err
	}
	if auth != "" {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	return &SMTPMailer{host: host, from: c.From, opts: opts}, nil
}

// smtpAuth returns the go-mail mechanism for the auth parameter; "" for none.
func smtpAuth(name string, hasUser bool) (gomail.SMTPAuthType, error) {
	switch strings.ToLower(name) {
	case "":
		if hasUser {
			return gomail.SMTPAuthAutoDiscover, nil
		}
		return "", nil
	case "none":
		return "", nil
	case "auto":
		return gomail.SMTPAuthAutoDiscover, nil
	case "plain":
		return gomail.SMTPAuthPlain, nil
	case "login":
		return gomail.SMTPAuthLogin, nil
	case "cram-md5":
		return gomail.SMTPAuthCramMD5, nil
	case "scram-sha-256":
		return gomail.SMTPAuthSCRAMSHA256, nil
	}
	return "", errors.New("smtp_url: auth must be auto, plain, login, cram-md5, scram-sha-256 or none")
}

// Send sends m as a multipart/alternative message (plain text and HTML) with
// its Message-ID and an X-Tokenkeeper-Event-Id header.
func (s *SMTPMailer) Send(ctx context.Context, m *Mail) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return permanent("mail_from is not an e-mail address")
	}
	if err := msg.To(m.To); err != nil {
		return permanent("the user's e-mail address is not valid")
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	if m.Date.IsZero() {
		msg.SetDate()
	} else {
		msg.SetDateWithValue(m.Date)
	}
	if len(m.EventIDs) > 0 {
		msg.SetGenHeader(gomail.Header("X-Tokenkeeper-Event-Id"), strings.Join(m.EventIDs, ", "))
	}
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	c, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return permanent("smtp settings: " + err.Error())
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return smtpError(err)
	}
	return nil
}

// smtpError describes a failed send without the addresses go-mail's errors
// may list.
func smtpError(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) {
		msg := "smtp: " + se.Reason.String()
		if code := se.ErrorCode(); code != 0 {
			msg += fmt.Sprintf(" (%d %s)", code, se.EnhancedStatusCode())
		}
		return &sendError{msg: strings.TrimSpace(msg)}
	}
	return &sendError{msg: "smtp: " + err.Error()}
}
