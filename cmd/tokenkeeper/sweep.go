package main

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/tokenkeeper/tokenkeeper"
)

func sweepCommand(e *env) *cobra.Command {
	var req tokenkeeper.SweepRequest
	var status string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sweep",
		Short: "Run one scheduler pass now, print a summary, and exit",
		Long: `Refresh the connections that are due now (or, with --expiring-within, every
connection whose access token expires within that time), print the counts,
and exit. The exit status is 1 when a refresh failed for a reason other than
a transient one (a revoked grant, a configuration error), so a cron job or a
CI check can alert on it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status != "" {
				st, err := tokenkeeper.ParseStatus(status)
				if err != nil {
					return err
				}
				req.Status = st
			}
			a, err := openApp(cmd, e, openOptions{migrate: true, keeper: true})
			if err != nil {
				return err
			}
			defer a.Close()
			res, err := a.keeper.Sweep(cmd.Context(), req, a.cfg.Workers)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				printSweep(e, res)
			}
			if res.FailedOtherThanTransient() {
				return exitCode(1)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Provider, "provider", "", "only this provider")
	f.StringVar(&status, "status", "", "connections in this status (default connected)")
	f.DurationVar(&req.ExpiringWithin, "expiring-within", 0, "refresh every connection expiring within this duration instead of the due ones")
	f.BoolVar(&req.DryRun, "dry-run", false, "count what would be refreshed; refresh nothing")
	f.BoolVar(&req.Verbose, "verbose", false, "print one line per connection")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func printSweep(e *env, res tokenkeeper.SweepResult) {
	for _, o := range res.Outcomes {
		fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%s\t%s\n", o.ConnectionID, o.Provider, o.Result, dash(string(o.Class)), dash(o.Code))
	}
	failed := 0
	var parts []string
	for class, n := range res.Failed {
		failed += n
		parts = append(parts, fmt.Sprintf("%s %d", class, n))
	}
	sort.Strings(parts)
	prefix := ""
	if res.DryRun {
		prefix = "dry run: "
	}
	fmt.Fprintf(e.stdout, "%schecked %d, refreshed %d, failed %d %v, skipped %d, deferred %d\n",
		prefix, res.Checked, res.Refreshed, failed, parts, res.Skipped, res.Deferred)
}
