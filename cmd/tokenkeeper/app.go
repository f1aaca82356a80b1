package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/catalog"
	"github.com/tokenkeeper/tokenkeeper/internal/metrics"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/postgres"
	"github.com/tokenkeeper/tokenkeeper/internal/refresh"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// app holds the parts a command works with, opened from the configuration.
// It is the only place that names concrete implementations.
type app struct {
	cfg     Config
	env     *env
	log     *slog.Logger
	store   store
	catalog *catalog.Catalog
	// sealer encrypts tokens; ring is its key ring (for derived keys).
	sealer tokenkeeper.Sealer
	ring   *vault.Ring
	keeper *refresh.Refresher
	gate   *refresh.ProviderGate
	// metrics, when serve set it, counts refresh attempts (web.go).
	metrics *metrics.Metrics
}

// store is a tokenkeeper.Store that can also migrate its schema.
type store interface {
	tokenkeeper.Store
	Migrate(ctx context.Context) error
}

// openOptions say which parts a command needs.
type openOptions struct {
	migrate   bool // run migrations (serve, migrate)
	createKey bool // create a key file when none is configured (serve)
	keeper    bool // open the vault, the catalog and the refresher
}

func openApp(cmd *cobra.Command, e *env, o openOptions) (*app, error) {
	cfg, err := loadConfig(cmd.Flags(), e.getenv)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, env: e, log: newLogger(cfg, e.stderr)}
	ctx := cmd.Context()
	if a.store, err = openStore(ctx, cfg, a.log); err != nil {
		return nil, err
	}
	if o.migrate {
		if err := a.store.Migrate(ctx); err != nil {
			a.store.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	if !o.keeper {
		return a, nil
	}
	if err := a.openKeeper(o.createKey); err != nil {
		a.store.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) Close() error { return a.store.Close() }

func openStore(ctx context.Context, cfg Config, log *slog.Logger) (store, error) {
	if path, ok := cfg.sqlitePath(); ok {
		s, err := sqlite.Open(ctx, path, sqlite.Options{Logger: log})
		if err != nil {
			return nil, fmt.Errorf("open SQLite database %s: %w", path, err)
		}
		return s, nil
	}
	s, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL database: %w", err)
	}
	return s, nil
}

func (a *app) openKeeper(createKey bool) error {
	sealer, ring, err := a.openRing(createKey)
	if err != nil {
		return err
	}
	a.sealer, a.ring = sealer, ring
	a.catalog, err = catalog.Load(a.cfg.Providers, a.env.getenv, os.ReadFile)
	if err != nil {
		return fmt.Errorf("load providers: %w", err)
	}
	client := oauth.New(oauth.Options{Timeout: a.cfg.RequestTimeout, MaxBodyBytes: a.cfg.MaxResponse, Logger: a.log, UserAgent: "tokenkeeper/" + version})
	policy := a.cfg.policy()
	a.gate = refresh.NewProviderGate(refresh.GateOptions{
		Catalog:  a.catalog,
		Defaults: refresh.Limits{Rate: a.cfg.ProviderRateLimit, Burst: a.cfg.ProviderBurst, MaxConcurrent: a.cfg.ProviderMaxConcurrent},
	})
	a.keeper, err = refresh.New(refresh.Options{
		Store: a.store, Sealer: sealer, Catalog: a.catalog, Client: client, Gate: a.gate,
		Policy: &policy, Logger: a.log, LeaseTTL: a.cfg.LeaseTTL,
		UserHash: userHasher(ring), OnAttempt: a.observeAttempt,
	})
	return err
}

// openRing returns the sealer and key ring from encryption_keys, else from
// the key file (which serve creates on first start, and which a running
// process follows when `keys rotate` rewrites it).
func (a *app) openRing(create bool) (tokenkeeper.Sealer, *vault.Ring, error) {
	if a.cfg.EncryptionKeys != "" {
		keys, err := catalog.ResolveSecret(a.cfg.EncryptionKeys, a.env.getenv, os.ReadFile)
		if err != nil {
			return nil, nil, fmt.Errorf("encryption_keys: %w", err)
		}
		ring, err := vault.ParseKeyRing(keys.Reveal())
		if err != nil {
			return nil, nil, fmt.Errorf("encryption_keys: %w", err)
		}
		return ring, ring, nil
	}
	path := a.cfg.keyFilePath()
	if !create {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("no encryption key: set TOKENKEEPER_ENCRYPTION_KEYS, or run `tokenkeeper serve` once to create %s", path)
		}
	}
	fr, created, err := vault.OpenFileRing(path, create)
	if err != nil {
		return nil, nil, fmt.Errorf("key file %s: %w", path, err)
	}
	if created {
		a.log.Warn("CREATED A NEW ENCRYPTION KEY FILE: every token is encrypted with it. Back it up and keep it secret; "+
			"without it the stored tokens cannot be read. For production set TOKENKEEPER_ENCRYPTION_KEYS (tokenkeeper keys generate).",
			"key_file", path)
	}
	if mode, err := vault.KeyFileMode(path); err == nil && mode.Perm()&0o077 != 0 {
		a.log.Warn("the key file is readable by other users; chmod 600 it", "key_file", path, "mode", mode.Perm().String())
	}
	return fr, fr.Ring(), nil
}

// userHasher returns the keyed hash that stands for a user id in logs.
func userHasher(ring *vault.Ring) func(string) string {
	return keyedHasher(ring, "tokenkeeper/log-user-id", "u_")
}

// keyedHasher returns a short HMAC-SHA256 of its input under a key derived
// from the ring for purpose, with prefix: a stable, unguessable stand-in for
// a value that must not appear in logs.
func keyedHasher(ring *vault.Ring, purpose, prefix string) func(string) string {
	key := ring.Derive(purpose)
	return func(v string) string {
		m := hmac.New(sha256.New, key)
		io.WriteString(m, v)
		return prefix + hex.EncodeToString(m.Sum(nil)[:8])
	}
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel))); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
