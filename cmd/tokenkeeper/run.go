package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// env is what every command receives from run: its input, outputs and
// environment. Tests pass their own.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// run is the program: main calls it with the process's arguments and
// environment; end-to-end tests call it with their own.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "tokenkeeper",
		Short:         "Keeps OAuth2 connections alive: stores tokens encrypted, refreshes them ahead of expiry, hands out valid ones",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	addConfigFlags(root.PersistentFlags())
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		serveCommand(e),
		migrateCommand(e),
		keysCommand(e),
		apikeysCommand(e),
		providersCommand(e),
		connectionsCommand(e),
		sweepCommand(e),
		versionCommand(e),
		benchCommand(e),
	)
	return root.ExecuteContext(ctx)
}

func versionCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := io.WriteString(e.stdout, "tokenkeeper "+version+"\n")
			return err
		},
	}
}
