package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func providersCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "providers", Short: "Show the provider catalog and the operator's overrides"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List providers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := loadCatalog(cmd, e)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDISPLAY NAME\tAUTH\tPKCE\tREFRESH\tROTATES\tCONFIGURED")
			for _, p := range cat.Providers() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.DisplayName, p.AuthMethod, p.PKCE,
					yesNo(p.RefreshSupported), yesNo(p.Rotates), yesNo(cat.Configured(p.Name)))
			}
			return tw.Flush()
		},
	}
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show one provider as JSON (client secrets are never shown)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := loadCatalog(cmd, e)
			if err != nil {
				return err
			}
			if err := cat.Validate(args[0]); err != nil {
				return err
			}
			p, _ := cat.Provider(args[0])
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(p)
		},
	}
	cmd.AddCommand(list, show)
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
