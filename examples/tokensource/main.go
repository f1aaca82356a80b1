// Command tokensource shows how a Go program that uses golang.org/x/oauth2
// gets its access tokens from tokenkeeper instead of refreshing them itself:
// the tokenkeeper client's TokenSource stands where an oauth2.Config's would.
//
// Usage:
//
//	TOKENKEEPER_URL=http://127.0.0.1:8080 TOKENKEEPER_API_KEY=tk_… \
//	  tokensource -connection conn_… [-get https://api.provider.example/me]
//
// It prints when the connection's access token expires (never the token)
// and, with -get, the status of a GET of that URL sent with the token. A
// 401 from that URL is reported to tokenkeeper, which refreshes the
// connection once, and the request is sent again.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/tokenkeeper/tokenkeeper/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tokensource:", err)
		os.Exit(1)
	}
}

// run is the program, with its arguments, environment and output passed in.
func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("tokensource", flag.ContinueOnError)
	fs.SetOutput(out)
	connection := fs.String("connection", "", "the tokenkeeper connection id (conn_…)")
	get := fs.String("get", "", "a URL of the provider's API to GET with the token")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *connection == "" {
		return errors.New("-connection is required")
	}
	tk, err := client.New(getenv("TOKENKEEPER_URL"), getenv("TOKENKEEPER_API_KEY"), nil)
	if err != nil {
		return err
	}

	// Anything that takes an oauth2.TokenSource can take this one.
	ts := tk.NewTokenSource(ctx, *connection)
	tok, err := ts.Token()
	if client.IsCode(err, client.CodeNeedsReauth) {
		var e *client.Error
		errors.As(err, &e)
		return fmt.Errorf("the user must reconnect the account: send them to %s", e.ReconnectURL)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "got a %s token, valid until %s\n", tok.TokenType, tok.Expiry.Format(time.RFC3339))

	if *get == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *get, nil)
	if err != nil {
		return err
	}
	resp, err := ts.HTTPClient(&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	fmt.Fprintf(out, "GET %s: %s\n%s\n", *get, resp.Status, body)
	return nil
}
