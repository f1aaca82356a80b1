package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokenkeeper/tokenkeeper/internal/httpapi"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
	"github.com/tokenkeeper/tokenkeeper/internal/retention"
)

func serveCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API, the scheduler and the notifier",
		Long: `Run the HTTP API, the refresh scheduler and the notifier until SIGINT or SIGTERM.

With no configuration it uses the SQLite file tokenkeeper.db in the working
directory, creates an encryption key file next to it on first start, and
listens on 127.0.0.1:8080. The first line on standard output names the
address it listens on.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openApp(cmd, e, openOptions{migrate: true, createKey: true, keeper: true})
			if err != nil {
				return err
			}
			defer a.Close()
			return a.serve(cmd.Context())
		},
	}
	f := cmd.Flags()
	d := defaultConfig()
	f.String("listen", d.Listen, "address to listen on (TOKENKEEPER_LISTEN)")
	f.String("public-url", "", "the URL users reach tokenkeeper at, for links in e-mails (TOKENKEEPER_PUBLIC_URL)")
	f.Bool("scheduler", d.Scheduler, "run the refresh scheduler in this process (TOKENKEEPER_SCHEDULER)")
	f.Int("workers", d.Workers, "refreshes in flight at once (TOKENKEEPER_WORKERS)")
	f.Duration("api-key-cache-ttl", d.APIKeyCacheTTL, "reuse an authenticated API key this long without reading the database; a revocation applies within it; 0: off (TOKENKEEPER_API_KEY_CACHE_TTL)")
	f.Duration("history-retention", d.HistoryRetention, "delete refresh attempts, dispatched events, finished deliveries and in-app notifications older than this, hourly; at least 24h, 0: keep forever (TOKENKEEPER_HISTORY_RETENTION)")
	return cmd
}

// serve runs until ctx ends, then shuts down in reverse order of start:
// stop accepting requests, let in-flight ones finish, stop background work.
func (a *app) serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Listen, err)
	}
	cf, err := a.openConnect(ln.Addr().String())
	if err != nil {
		ln.Close()
		return fmt.Errorf("set up the connect flow: %w", err)
	}
	if a.metrics, err = a.newMetrics(); err != nil {
		ln.Close()
		return fmt.Errorf("set up the metrics: %w", err)
	}
	api := httpapi.NewServer(httpapi.Config{
		Connect:        cf.handler,
		ReconnectURL:   cf.reconnectURL,
		Keeper:         a.keeper,
		Store:          a.store,
		Catalog:        a.catalog,
		Logger:         a.log,
		MaxBodyBytes:   a.cfg.MaxBodyBytes,
		Ready:          a.ready,
		Version:        version,
		Sweeper:        a.keeper,
		SweepWorkers:   a.cfg.Workers,
		RateLimit:      a.cfg.APIRateLimit,
		Burst:          a.cfg.APIBurst,
		AddrRateLimit:  a.cfg.APIIPRateLimit,
		AddrBurst:      a.cfg.APIIPBurst,
		MaxInFlight:    a.cfg.MaxInFlight,
		APIKeyCacheTTL: a.cfg.APIKeyCacheTTL,
		Sealer:         a.ring,
		OnResponse:     a.metrics.ObserveResponse,
	})
	// GET /metrics and the admin page under /admin/ (web.go).
	handler, err := a.withObservability(api, cf.links.Reconnect)
	if err != nil {
		ln.Close()
		return fmt.Errorf("set up the admin page: %w", err)
	}
	// A token read may wait for another replica's refresh (up to the
	// refresher's 30 s lease wait) and then refresh itself (two attempts):
	// the write deadline leaves room for both, so no read is cut off unanswered.
	srv := httpapi.NewHTTPServer(handler, 30*time.Second+2*a.cfg.RequestTimeout+10*time.Second)
	addr := "http://" + ln.Addr().String()
	fmt.Fprintf(a.env.stdout, "tokenkeeper listening on %s\n", addr)
	a.log.Info("tokenkeeper listening", "addr", addr, "database", a.cfg.databaseKind(), "providers", len(a.catalog.Providers()))

	var sched *refresh.Scheduler
	if a.cfg.Scheduler {
		sched = refresh.NewScheduler(refresh.SchedulerOptions{
			Refresher: a.keeper, Store: a.store, Catalog: a.catalog, Gate: a.gate, Logger: a.log,
			Workers: a.cfg.Workers, BatchSize: a.cfg.BatchSize, PollInterval: a.cfg.PollInterval,
		})
		a.keeper.OnSchedule(sched.Wake)
		if err := sched.Start(ctx); err != nil {
			return fmt.Errorf("start the scheduler: %w", err)
		}
	}
	// The connect worker retries revocations that failed at disconnect.
	if err := cf.worker.Start(ctx); err != nil {
		return fmt.Errorf("start the connect worker: %w", err)
	}
	defer cf.worker.Stop()
	// The notifier: reconnect links are the connect flow's signed links,
	// unless reconnect_url names the application's own page.
	stopNotifier, err := a.startNotifier(ctx, cf.notifierLinks(a.cfg))
	if err != nil {
		return fmt.Errorf("start the notifier: %w", err)
	}
	stopRetention, err := a.startRetention(ctx)
	if err != nil {
		stopNotifier()
		return fmt.Errorf("start the history purge: %w", err)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down the HTTP server: %w", err)
	}
	stopRetention()
	stopNotifier()
	if sched != nil {
		sched.Stop()
	}
	a.log.Info("stopped")
	return nil
}

// startRetention starts the hourly purge of history older than
// history_retention (internal/retention), unless it is 0. The returned
// function stops it; it is never nil.
func (a *app) startRetention(ctx context.Context) (stop func(), err error) {
	if a.cfg.HistoryRetention == 0 {
		a.log.Info("history_retention is 0: refresh attempts, events, deliveries and notifications are kept forever")
		return func() {}, nil
	}
	hs, ok := a.store.(retention.Store)
	if !ok {
		return nil, fmt.Errorf("the %s store cannot purge its history", a.cfg.databaseKind())
	}
	svc, err := retention.New(retention.Options{
		Store: hs, Retention: a.cfg.HistoryRetention, Owner: refresh.NewOwner(),
		Logger: a.log.With("component", "retention"), OnPurge: a.metrics.ObservePurge,
	})
	if err != nil {
		return nil, err
	}
	if err := svc.Start(ctx); err != nil {
		return nil, err
	}
	return svc.Stop, nil
}

// ready reports whether this replica can serve: the database answers and its
// schema is at the version this binary expects.
func (a *app) ready(ctx context.Context) error {
	if err := a.store.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	cur, latest, err := a.store.MigrationStatus(ctx)
	if err != nil {
		return fmt.Errorf("read migration status: %w", err)
	}
	if cur < latest {
		return fmt.Errorf("database schema at version %d, expected %d: run tokenkeeper migrate", cur, latest)
	}
	return nil
}

func (c Config) databaseKind() string {
	if _, ok := c.sqlitePath(); ok {
		return "sqlite"
	}
	return "postgres"
}
