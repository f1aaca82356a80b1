// Command tokenkeeper stores OAuth2 tokens encrypted, refreshes them before
// they expire, and hands out valid access tokens. Run `tokenkeeper serve`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if code, ok := err.(exitCode); ok {
			os.Exit(int(code))
		}
		fmt.Fprintln(os.Stderr, "tokenkeeper:", err)
		os.Exit(1)
	}
}

// exitCode is returned by commands that report their result through the
// exit status alone (sweep: non-zero when a refresh failed permanently).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
