package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tokenkeeper/tokenkeeper/internal/apikey"
)

func apikeysCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "apikeys", Short: "Manage API keys for applications"}
	var name, scopes string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key; the key is printed once, on the last line",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, err := apikey.ParseScopes(scopes)
			if err != nil {
				return err
			}
			a, err := openApp(cmd, e, openOptions{migrate: true})
			if err != nil {
				return err
			}
			defer a.Close()
			plain, k, err := apikey.Generate(name, sc, nowUTC())
			if err != nil {
				return err
			}
			if err := a.store.CreateAPIKey(cmd.Context(), k); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "created API key %s (%s) with scopes %s; store it now, it is not shown again:\n", k.ID, k.Name, scopeList(k.Scopes))
			_, err = fmt.Fprintln(e.stdout, plain.Reveal())
			return err
		},
	}
	create.Flags().StringVar(&name, "name", "default", "a name for the key")
	create.Flags().StringVar(&scopes, "scopes", "tokens:read,connections:write", "comma-separated scopes: tokens:read, connections:write, admin")

	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never the keys themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openApp(cmd, e, openOptions{migrate: true})
			if err != nil {
				return err
			}
			defer a.Close()
			keys, err := a.store.ListAPIKeys(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tLAST USED\tREVOKED")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, scopeList(k.Scopes), stamp(k.CreatedAt), stamp(k.LastUsedAt), stamp(k.RevokedAt))
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := openApp(cmd, e, openOptions{migrate: true})
			if err != nil {
				return err
			}
			defer a.Close()
			if err := a.store.RevokeAPIKey(cmd.Context(), args[0], nowUTC()); err != nil {
				return fmt.Errorf("revoke %s: %w", args[0], err)
			}
			_, err = fmt.Fprintf(e.stdout, "revoked %s\n", args[0])
			return err
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func scopeList[S ~string](scopes []S) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}
