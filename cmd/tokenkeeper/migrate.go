package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func migrateCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database schema up to date",
		Long:  "Apply every pending migration. Several replicas may run it at once: PostgreSQL migrations run under an advisory lock.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openApp(cmd, e, openOptions{migrate: true})
			if err != nil {
				return err
			}
			defer a.Close()
			cur, latest, err := a.store.MigrationStatus(cmd.Context())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "database schema at version %d of %d\n", cur, latest)
			return err
		},
	}
}
