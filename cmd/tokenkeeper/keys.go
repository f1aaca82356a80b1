package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

func keysCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage encryption keys"}
	gen := &cobra.Command{
		Use:   "generate",
		Short: "Print a new random encryption key (ID:BASE64)",
		Long: `Print a new random AES-256 key as ID:BASE64. To rotate, put it first in
TOKENKEEPER_ENCRYPTION_KEYS, keeping the old keys after it so existing rows
still decrypt.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := vault.GenerateKey()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.stdout, k.Encode())
			return err
		},
	}
	cmd.AddCommand(gen)
	return cmd
}
