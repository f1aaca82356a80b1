package notify

import (
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

//go:embed templates/*.tmpl
var embeddedTemplates embed.FS

// The e-mail kinds, each with three templates: <kind>.subject.tmpl and
// <kind>.txt.tmpl (text/template) and <kind>.html.tmpl (html/template).
var mailKinds = []string{"notice", "digest"}

// MailItem is what a template knows about one event.
type MailItem struct {
	Type         tokenkeeper.EventType
	Provider     string // the provider id ("linkedin")
	ProviderName string // its display name ("LinkedIn")
	Headline     string
	Detail       string
	// ReconnectURL is where the user reconnects; "" when the event asks for
	// nothing or no link is configured.
	ReconnectURL string
	ConnectionID string
	AccountID    string
	OccurredAt   time.Time
}

// MailData is a template's data: the items of the e-mail (one for a
// notice, one or more for a digest), the first one's fields promoted.
type MailData struct {
	MailItem
	Items []MailItem
}

// Templates are the parsed e-mail templates.
type Templates struct {
	subject map[string]*texttemplate.Template
	text    map[string]*texttemplate.Template
	html    map[string]*htmltemplate.Template
}

// LoadTemplates parses the embedded templates; a file of the same name in
// dir (when dir is not "") replaces the embedded one, so an operator may
// override any of notice.subject.tmpl, notice.txt.tmpl, notice.html.tmpl,
// digest.subject.tmpl, digest.txt.tmpl and digest.html.tmpl. It fails on a
// template that does not parse, or does not render sample data.
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{subject: map[string]*texttemplate.Template{}, text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	for _, kind := range mailKinds {
		for _, part := range []string{"subject", "txt", "html"} {
			name := kind + "." + part + ".tmpl"
			src, err := readTemplate(dir, name)
			if err != nil {
				return nil, err
			}
			if part == "html" {
				t.html[kind], err = htmltemplate.New(name).Option("missingkey=error").Parse(src)
			} else {
				var tt *texttemplate.Template
				tt, err = texttemplate.New(name).Option("missingkey=error").Parse(src)
				if part == "subject" {
					t.subject[kind] = tt
				} else {
					t.text[kind] = tt
				}
			}
			if err != nil {
				return nil, fmt.Errorf("e-mail template %s: %w", name, err)
			}
		}
	}
	sample := MailItem{Type: tokenkeeper.EventNeedsReauth, Provider: "acme", ProviderName: "Acme", Headline: "h", Detail: "d", ReconnectURL: "https://app.example/reconnect"}
	for _, kind := range mailKinds {
		if _, _, _, err := t.Render(kind, MailData{MailItem: sample, Items: []MailItem{sample}}); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// readTemplate returns dir/name when it exists, else the embedded template.
func readTemplate(dir, name string) (string, error) {
	if dir != "" {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			return string(b), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("read e-mail template: %w", err)
		}
	}
	b, err := embeddedTemplates.ReadFile("templates/" + name)
	if err != nil {
		return "", fmt.Errorf("read embedded e-mail template %s: %w", name, err)
	}
	return string(b), nil
}

// Render returns the subject (one line: line breaks become spaces), the
// plain-text body and the HTML body of an e-mail of kind.
func (t *Templates) Render(kind string, data MailData) (subject, text, html string, err error) {
	st, ok := t.subject[kind]
	if !ok {
		return "", "", "", fmt.Errorf("no e-mail templates for %q", kind)
	}
	var b strings.Builder
	if err := st.Execute(&b, data); err != nil {
		return "", "", "", fmt.Errorf("render the subject: %w", err)
	}
	subject = strings.Join(strings.Fields(b.String()), " ")
	b.Reset()
	if err := t.text[kind].Execute(&b, data); err != nil {
		return "", "", "", fmt.Errorf("render the text body: %w", err)
	}
	text = b.String()
	b.Reset()
	if err := t.html[kind].Execute(&b, data); err != nil {
		return "", "", "", fmt.Errorf("render the HTML body: %w", err)
	}
	return subject, text, b.String(), nil
}
