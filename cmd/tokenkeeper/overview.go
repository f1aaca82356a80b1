package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// printOverview prints `connections list --overview`: per provider (only
// provider when it is set), the connections by status, those expiring
// within 1 h and 24 h, and the refresh attempts and success rate of the
// last 24 hours, then the totals.
func printOverview(ctx context.Context, w io.Writer, s tokenkeeper.Store, provider string, now time.Time) error {
	stats, ok := s.(tokenkeeper.StatsStore)
	if !ok {
		return fmt.Errorf("this store answers no statistics")
	}
	all, err := tokenkeeper.LoadOverview(ctx, s, stats, now)
	if err != nil {
		return err
	}
	var rows []tokenkeeper.ProviderOverview
	for _, o := range all {
		if provider == "" || o.Provider == provider {
			rows = append(rows, o)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "PROVIDER\tTOTAL\t")
	for _, st := range tokenkeeper.Statuses {
		fmt.Fprintf(tw, "%s\t", overviewHeading(st))
	}
	fmt.Fprintln(tw, "EXPIRING 1H\tEXPIRING 24H\tATTEMPTS 24H\tSUCCESS 24H\t")
	line := func(name string, o tokenkeeper.ProviderOverview) {
		fmt.Fprintf(tw, "%s\t%d\t", name, o.Total)
		for _, st := range tokenkeeper.Statuses {
			fmt.Fprintf(tw, "%d\t", o.ByStatus[st])
		}
		rate := "-"
		if r, ok := o.SuccessRate24h(); ok {
			rate = fmt.Sprintf("%.1f%%", 100*r)
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t\n", o.Expiring1h, o.Expiring24h, o.Attempts24h, rate)
	}
	for _, o := range rows {
		line(o.Provider, o)
	}
	if len(rows) != 1 {
		line("total", tokenkeeper.OverviewTotals(rows))
	}
	return tw.Flush()
}

// overviewHeading is a status as a column heading: NEEDS REAUTH.
func overviewHeading(st tokenkeeper.Status) string {
	switch st {
	case tokenkeeper.StatusNeedsReauth:
		return "NEEDS REAUTH"
	}
	return strings.ToUpper(string(st))
}
