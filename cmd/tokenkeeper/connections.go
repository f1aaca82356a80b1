package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/catalog"
)

func connectionsCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "connections", Short: "List, inspect, import, refresh and delete connections"}
	cmd.AddCommand(connectionsList(e), connectionsShow(e), connectionsImport(e), connectionsRefresh(e), connectionsDelete(e))
	return cmd
}

func connectionsList(e *env) *cobra.Command {
	var f tokenkeeper.ConnectionFilter
	var status string
	var expiring time.Duration
	var overview bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List connections with their status, counters and expiry",
		Long: `List connections with their status, counters and expiry, filtered by user,
provider, status and expiry. With --overview it first prints one line per
provider (connections by status, expiring within 1 h and 24 h, refresh
attempts and success rate over 24 h), then the list only when a filter
other than --provider is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status != "" {
				st, err := tokenkeeper.ParseStatus(status)
				if err != nil {
					return err
				}
				f.Status = st
			}
			now := nowUTC()
			if expiring > 0 {
				f.ExpiringBefore = now.Add(expiring)
			}
			a, err := openApp(cmd, e, openOptions{migrate: true})
			if err != nil {
				return err
			}
			defer a.Close()
			if overview {
				if err := printOverview(cmd.Context(), e.stdout, a.store, f.Provider, now); err != nil {
					return err
				}
				if f.Status == "" && f.ExpiringBefore.IsZero() && f.UserID == "" {
					return nil
				}
				fmt.Fprintln(e.stdout)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPROVIDER\tUSER\tACCOUNT\tSTATUS\tFAILURES\tTRANSIENT\tEXPIRES\tNEXT REFRESH\tLAST ERROR")
			total := 0
			for {
				page, next, err := a.store.ListConnections(cmd.Context(), f)
				if err != nil {
					return err
				}
				for _, c := range page {
					lastErr := "-"
					if c.LastError != nil {
						lastErr = string(c.LastError.Class) + ":" + c.LastError.Code
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", c.ID, c.Provider, c.UserID, dash(c.AccountID), c.Status,
						c.ConsecutiveFailures, c.ConsecutiveTransientFailures, relative(c.ExpiresAt, now), relative(c.NextRefreshAt, now), lastErr)
				}
				total += len(page)
				if next == "" {
					break
				}
				f.After = next
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "%d connection(s)\n", total)
			return err
		},
	}
	cmd.Flags().StringVar(&f.UserID, "user", "", "only this user")
	cmd.Flags().StringVar(&f.Provider, "provider", "", "only this provider")
	cmd.Flags().StringVar(&status, "status", "", "only this status: connected, needs_reauth, error, expired, disconnected")
	cmd.Flags().DurationVar(&expiring, "expiring-within", 0, "only access tokens expiring within this duration (1h)")
	cmd.Flags().BoolVar(&overview, "overview", false, "print the per-provider overview first (the list follows only with --status, --expiring-within or --user)")
	return cmd
}

func connectionsShow(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a connection and its recent refresh history (never its tokens)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := openApp(cmd, e, openOptions{migrate: true})
			if err != nil {
				return err
			}
			defer a.Close()
			c, err := a.store.GetConnection(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("connection %s: %w", args[0], err)
			}
			attempts, err := a.store.ListAttempts(cmd.Context(), c.ID, 20)
			if err != nil {
				return err
			}
			return printConnection(e.stdout, c, attempts)
		},
	}
}

func printConnection(w io.Writer, c *tokenkeeper.Connection, attempts []tokenkeeper.RefreshAttempt) error {
	now := nowUTC()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\nprovider\t%s\nuser\t%s\naccount\t%s\nstatus\t%s\nscopes\t%s\n", c.ID, c.Provider, c.UserID, dash(c.AccountID), c.Status, dash(strings.Join(c.Scopes, " ")))
	fmt.Fprintf(tw, "expires\t%s\nrefresh token expires\t%s\nlast refreshed\t%s\nnext refresh\t%s\n", relative(c.ExpiresAt, now), relative(c.RefreshTokenExpiresAt, now), relative(c.LastRefreshedAt, now), relative(c.NextRefreshAt, now))
	fmt.Fprintf(tw, "consecutive failures\t%d\nconsecutive transient failures\t%d\n", c.ConsecutiveFailures, c.ConsecutiveTransientFailures)
	if le := c.LastError; le != nil {
		fmt.Fprintf(tw, "last error\t%s %s (HTTP %d) %s at %s\n", le.Class, le.Code, le.HTTPStatus, le.Message, stamp(le.At))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(attempts) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nrefresh history (newest first):")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tTRIGGER\tCLASS\tCODE\tHTTP\tDURATION\tROTATED")
	for _, a := range attempts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", stamp(a.At), a.Trigger, a.Class, dash(a.Code), a.HTTPStatus, a.Duration.Round(time.Millisecond), yesNo(a.Rotated))
	}
	return tw.Flush()
}

// importRequest is the JSON accepted by `connections import`: the body of
// POST /v1/connections.
type importRequest struct {
	UserID                string     `json:"user_id"`
	Provider              string     `json:"provider"`
	AccountID             string     `json:"account_id"`
	AccessToken           string     `json:"access_token"`
	RefreshToken          string     `json:"refresh_token"`
	ExpiresAt             *time.Time `json:"expires_at"`
	ExpiresIn             *int64     `json:"expires_in"`
	RefreshTokenExpiresAt *time.Time `json:"refresh_token_expires_at"`
	Scopes                []string   `json:"scopes"`
	UserEmail             string     `json:"user_email"`
}

func connectionsImport(e *env) *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import connections from JSON (one object, an array, or one object per line) on stdin or --file",
		Long: `Import connections whose tokens the application obtained itself. The input is
JSON with the fields of POST /v1/connections (user_id, provider, account_id,
access_token, refresh_token, expires_at or expires_in, scopes, user_email):
one object, an array of objects, or one object per line. Tokens are read from
the input, never from the command line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := e.stdin
			if from != "" && from != "-" {
				f, err := os.Open(from)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			reqs, err := decodeImports(in)
			if err != nil {
				return err
			}
			a, err := openApp(cmd, e, openOptions{migrate: true, keeper: true, createKey: true})
			if err != nil {
				return err
			}
			defer a.Close()
			for i, r := range reqs {
				lr := tokenkeeper.LinkRequest{
					UserID: r.UserID, Provider: r.Provider, AccountID: r.AccountID, Scopes: r.Scopes,
					AccessToken: tokenkeeper.Secret(r.AccessToken), RefreshToken: tokenkeeper.Secret(r.RefreshToken), UserEmail: r.UserEmail,
				}
				if r.ExpiresAt != nil {
					lr.ExpiresAt = *r.ExpiresAt
				}
				if r.ExpiresIn != nil {
					lr.ExpiresIn = time.Duration(*r.ExpiresIn) * time.Second
				}
				if r.RefreshTokenExpiresAt != nil {
					lr.RefreshTokenExpiresAt = *r.RefreshTokenExpiresAt
				}
				c, created, err := a.keeper.Link(cmd.Context(), lr)
				if err != nil {
					return fmt.Errorf("connection %d (user %s, provider %s): %w", i+1, r.UserID, r.Provider, err)
				}
				verb := "relinked"
				if created {
					verb = "imported"
				}
				fmt.Fprintf(e.stdout, "%s %s (%s, user %s)\n", verb, c.ID, c.Provider, c.UserID)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "file", "-", "JSON file to read; - for standard input")
	return cmd
}

func decodeImports(r io.Reader) ([]importRequest, error) {
	dec := json.NewDecoder(io.LimitReader(r, 256<<20))
	dec.DisallowUnknownFields()
	var out []importRequest
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("read import JSON: %w", err)
		}
		one := json.NewDecoder(strings.NewReader(string(raw)))
		one.DisallowUnknownFields()
		if strings.HasPrefix(strings.TrimSpace(string(raw)), "[") {
			var many []importRequest
			if err := one.Decode(&many); err != nil {
				return nil, fmt.Errorf("read import JSON: %w", err)
			}
			out = append(out, many...)
			continue
		}
		var r importRequest
		if err := one.Decode(&r); err != nil {
			return nil, fmt.Errorf("read import JSON: %w", err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no connections in the input")
	}
	return out, nil
}

func connectionsRefresh(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "refresh ID",
		Short: "Refresh a connection now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := openApp(cmd, e, openOptions{migrate: true, keeper: true})
			if err != nil {
				return err
			}
			defer a.Close()
			c, err := a.keeper.Refresh(cmd.Context(), args[0], tokenkeeper.TriggerManual, "")
			if c != nil {
				fmt.Fprintf(e.stdout, "%s: %s, expires %s\n", c.ID, c.Status, relative(c.ExpiresAt, nowUTC()))
			}
			return err
		},
	}
}

func connectionsDelete(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Disconnect a connection: revoke its tokens at the provider, then erase them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := openApp(cmd, e, openOptions{migrate: true, keeper: true})
			if err != nil {
				return err
			}
			defer a.Close()
			c, err := a.keeper.Disconnect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "%s: %s\n", c.ID, c.Status)
			return err
		},
	}
}

func loadCatalog(cmd *cobra.Command, e *env) (*catalog.Catalog, error) {
	cfg, err := loadConfig(cmd.Flags(), e.getenv)
	if err != nil {
		return nil, err
	}
	return catalog.Load(cfg.Providers, e.getenv, os.ReadFile)
}

func nowUTC() time.Time { return time.Now().UTC() }

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// relative prints a time with how far it is from now ("2026-… (in 9m)").
func relative(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now).Round(time.Second)
	if d >= 0 {
		return fmt.Sprintf("%s (in %s)", stamp(t), d)
	}
	return fmt.Sprintf("%s (%s ago)", stamp(t), -d)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
