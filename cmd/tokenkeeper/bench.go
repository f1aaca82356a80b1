package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tokenkeeper/tokenkeeper/internal/bench"
)

func benchCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure tokenkeeper against its baselines and print the results table",
		Long: `Measure tokenkeeper side by side with a baseline in the same run, against a
loopback fake provider: refresh throughput through the scheduler against raw
token-endpoint round trips, token reads through the HTTP API against a bare
handler, freshness against the cron-job approach on a simulated clock, a
claim pass over a large table against a small one, the resident memory of
serve, and the refresh lag of the scheduler on the real clock.

--quick (what make bench runs) finishes in a few minutes on two cores, with
100,000 instead of 1,000,000 stored connections; the full run takes about
twenty minutes. The table is printed; --out writes it into a Markdown file
between its results markers (docs/BENCHMARKS.md). PostgreSQL is measured too
when --postgres or TOKENKEEPER_TEST_POSTGRES_URL names a database; every run
uses a fresh schema and drops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			quick, _ := f.GetBool("quick")
			out, _ := f.GetString("out")
			pg, _ := f.GetString("postgres")
			if pg == "" {
				pg = e.getenv("TOKENKEEPER_TEST_POSTGRES_URL")
			}
			serveBin, _ := f.GetString("serve-binary")
			if serveBin == "" {
				serveBin, _ = os.Executable()
			}
			profiles, _ := f.GetString("profile-dir")
			parts, _ := f.GetStringSlice("parts")
			scale := bench.FullScale()
			if quick {
				scale = bench.QuickScale()
			}
			verbose, _ := f.GetBool("verbose")
			var log io.Writer = io.Discard
			if verbose {
				log = e.stderr
			}
			rep, err := bench.Run(cmd.Context(), bench.Options{
				Scale: scale, PostgresURL: pg, ServeBinary: serveBin, ProfileDir: profiles, Parts: parts,
				Logger: slog.New(slog.NewTextHandler(log, nil)),
			})
			if rep != nil {
				fmt.Fprint(e.stdout, rep.Markdown())
			}
			if err != nil {
				return err
			}
			if out != "" {
				if err := bench.WriteDoc(out, rep); err != nil {
					return fmt.Errorf("write %s: %w", out, err)
				}
				fmt.Fprintf(e.stdout, "\nwrote the results into %s\n", out)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Bool("quick", false, "the quick settings: a few minutes on two cores, 100,000 stored connections instead of 1,000,000")
	f.String("out", "", "write the results into this Markdown file, between its results markers")
	f.String("postgres", "", "also measure PostgreSQL at this URL, in a fresh schema (default TOKENKEEPER_TEST_POSTGRES_URL)")
	f.String("serve-binary", "", "the tokenkeeper binary whose serve process is measured (default: this executable)")
	f.String("profile-dir", "", "write CPU profiles of the refresh-throughput and token-read runs here")
	f.StringSlice("parts", nil, "run only these parts: "+strings.Join(bench.Parts, ", "))
	f.BoolP("verbose", "v", false, "log progress to standard error")
	return cmd
}
