package main

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/retention"
)

// Config is every setting of tokenkeeper. Each field's koanf key is also its
// YAML key, its flag (with dashes) and, upper-cased with the TOKENKEEPER_
// prefix, its environment variable. Precedence: flags > environment > the
// YAML file named by --config / TOKENKEEPER_CONFIG. docs/config.md documents
// every field.
type Config struct {
	DatabaseURL    string        `koanf:"database_url"`
	Listen         string        `koanf:"listen"`
	EncryptionKeys string        `koanf:"encryption_keys"`
	KeyFile        string        `koanf:"key_file"`
	Providers      string        `koanf:"providers"`
	LogFormat      string        `koanf:"log_format"`
	LogLevel       string        `koanf:"log_level"`
	PublicURL      string        `koanf:"public_url"`
	MaxBodyBytes   int64         `koanf:"max_body_bytes"`
	RequestTimeout time.Duration `koanf:"request_timeout"`
	MaxResponse    int64         `koanf:"max_response_bytes"`
	LeaseTTL       time.Duration `koanf:"lease_ttl"`
	ShutdownGrace  time.Duration `koanf:"shutdown_grace"`

	// HistoryRetention is how long refresh attempts, dispatched events,
	// finished deliveries and in-app notifications are kept (serve.go,
	// docs/config.md "Storage and keys"); 0 keeps them forever.
	HistoryRetention time.Duration `koanf:"history_retention"`

	WarnAfterPermanent   int           `koanf:"warn_after_permanent"`
	ReauthAfterPermanent int           `koanf:"reauth_after_permanent"`
	NoticeAfterTransient int           `koanf:"notice_after_transient"`
	BackoffBase          time.Duration `koanf:"backoff_base"`
	BackoffMax           time.Duration `koanf:"backoff_max"`
	MaxRefreshMargin     time.Duration `koanf:"max_refresh_margin"`
	ReadCooldown         time.Duration `koanf:"read_cooldown"`

	ProviderRateLimit     float64 `koanf:"provider_rate_limit"`
	ProviderBurst         int     `koanf:"provider_burst"`
	ProviderMaxConcurrent int     `koanf:"provider_max_concurrent"`

	Workers      int           `koanf:"workers"`
	BatchSize    int           `koanf:"batch_size"`
	PollInterval time.Duration `koanf:"poll_interval"`
	Scheduler    bool          `koanf:"scheduler"`

	APIRateLimit   float64 `koanf:"api_rate_limit"`
	APIBurst       int     `koanf:"api_burst"`
	APIIPRateLimit float64 `koanf:"api_ip_rate_limit"`
	APIIPBurst     int     `koanf:"api_ip_burst"`
	MaxInFlight    int     `koanf:"max_inflight"`

	APIKeyCacheTTL time.Duration `koanf:"api_key_cache_ttl"`

	// Notifications (notify.go, docs/config.md "Notifications").
	Notify             bool          `koanf:"notify"`
	WebhookURL         string        `koanf:"webhook_url"`
	WebhookSecret      string        `koanf:"webhook_secret"`
	WebhookTimeout     time.Duration `koanf:"webhook_timeout"`
	SMTPURL            string        `koanf:"smtp_url"`
	MailFrom           string        `koanf:"mail_from"`
	SlackWebhookURL    string        `koanf:"slack_webhook_url"`
	DiscordWebhookURL  string        `koanf:"discord_webhook_url"`
	ReconnectURL       string        `koanf:"reconnect_url"`
	NotifyTemplates    string        `koanf:"notify_templates"`
	NotifyEmailEvents  string        `koanf:"notify_email_events"`
	NotifyWorkers      int           `koanf:"notify_workers"`
	NotifyPollInterval time.Duration `koanf:"notify_poll_interval"`
	NotifyBackoffBase  time.Duration `koanf:"notify_backoff_base"`
	NotifyBackoffMax   time.Duration `koanf:"notify_backoff_max"`
	NotifyMaxAge       time.Duration `koanf:"notify_max_age"`
	NotifyDigestHour   int           `koanf:"notify_digest_hour"`

	// Connect flow (connect.go, docs/config.md "Connect flow").
	ReturnURLs       string        `koanf:"return_urls"`
	ConnectStateTTL  time.Duration `koanf:"connect_state_ttl"`
	ReconnectLinkTTL time.Duration `koanf:"reconnect_link_ttl"`

	// Metrics and the admin page (web.go, docs/config.md "Metrics and the admin page").
	Metrics         bool          `koanf:"metrics"`
	Admin           bool          `koanf:"admin"`
	AdminSessionTTL time.Duration `koanf:"admin_session_ttl"`
}

func defaultConfig() Config {
	p := tokenkeeper.DefaultPolicy()
	return Config{
		DatabaseURL:          "sqlite:tokenkeeper.db",
		Listen:               "127.0.0.1:8080",
		LogFormat:            "text",
		LogLevel:             "info",
		MaxBodyBytes:         1 << 20,
		RequestTimeout:       15 * time.Second,
		MaxResponse:          1 << 20,
		LeaseTTL:             time.Minute,
		ShutdownGrace:        20 * time.Second,
		HistoryRetention:     retention.DefaultRetention,
		WarnAfterPermanent:   p.WarnAfterPermanent,
		ReauthAfterPermanent: p.ReauthAfterPermanent,
		NoticeAfterTransient: p.NoticeAfterTransient,
		BackoffBase:          p.BackoffBase,
		BackoffMax:           p.BackoffMax,
		MaxRefreshMargin:     p.MaxMargin,
		ReadCooldown:         p.ReadCooldown,
		ProviderRateLimit:    50,
		ProviderBurst:        50,
		Workers:              8,
		BatchSize:            100,
		PollInterval:         5 * time.Second,
		Scheduler:            true,
		APIRateLimit:         200,
		APIBurst:             400,
		APIIPRateLimit:       10,
		APIIPBurst:           50,
		MaxInFlight:          512,
		APIKeyCacheTTL:       5 * time.Second,
		Notify:               true,
		WebhookTimeout:       10 * time.Second,
		NotifyEmailEvents:    "connection.needs_reauth",
		NotifyWorkers:        4,
		NotifyPollInterval:   2 * time.Second,
		NotifyBackoffBase:    10 * time.Second,
		NotifyBackoffMax:     time.Hour,
		NotifyMaxAge:         24 * time.Hour,
		NotifyDigestHour:     8,
		ConnectStateTTL:      10 * time.Minute,
		ReconnectLinkTTL:     7 * 24 * time.Hour,
		Metrics:              true,
		Admin:                true,
		AdminSessionTTL:      12 * time.Hour,
	}
}

// addConfigFlags declares the flags shared by every command: the config file
// and the settings a command other than serve may need.
func addConfigFlags(fs *pflag.FlagSet) {
	d := defaultConfig()
	fs.String("config", "", "YAML configuration file (TOKENKEEPER_CONFIG)")
	fs.String("database-url", d.DatabaseURL, "database: sqlite:PATH or postgres://… (TOKENKEEPER_DATABASE_URL)")
	fs.String("encryption-keys", "", "key ring ID:BASE64[,ID:BASE64…], first encrypts; env:NAME or file:/path allowed (TOKENKEEPER_ENCRYPTION_KEYS)")
	fs.String("key-file", "", "key ring file used when no keys are given; default tokenkeeper.key next to the SQLite database (TOKENKEEPER_KEY_FILE)")
	fs.String("providers", "", "YAML file with provider credentials, overrides and custom providers (TOKENKEEPER_PROVIDERS)")
	fs.String("log-format", d.LogFormat, "log format: text or json (TOKENKEEPER_LOG_FORMAT)")
	fs.String("log-level", d.LogLevel, "log level: debug, info, warn, error (TOKENKEEPER_LOG_LEVEL)")
}

// loadConfig layers defaults, the YAML file, the environment and the flags
// that were set.
func loadConfig(fs *pflag.FlagSet, getenv func(string) string) (Config, error) {
	k := koanf.New(".")
	path, _ := fs.GetString("config")
	if path == "" {
		path = getenv("TOKENKEEPER_CONFIG")
	}
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("read config file %s: %w", path, err)
		}
	}
	if err := k.Load(confmap.Provider(fromEnv(getenv), "."), nil); err != nil {
		return Config{}, fmt.Errorf("read environment: %w", err)
	}
	flagKey := func(f *pflag.Flag) (string, any) {
		return strings.ReplaceAll(f.Name, "-", "_"), posflag.FlagVal(fs, f)
	}
	if err := k.Load(posflag.ProviderWithFlag(fs, ".", nil, flagKey), nil); err != nil {
		return Config{}, fmt.Errorf("read flags: %w", err)
	}
	cfg := defaultConfig()
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, cfg.validate()
}

// fromEnv reads TOKENKEEPER_<KEY> for every key of Config through getenv
// (tests pass a fake one).
func fromEnv(getenv func(string) string) map[string]any {
	out := map[string]any{}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		key := t.Field(i).Tag.Get("koanf")
		if v := getenv("TOKENKEEPER_" + strings.ToUpper(key)); v != "" {
			out[key] = v
		}
	}
	return out
}

func (c Config) validate() error {
	switch {
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("log_format must be text or json, not %q", c.LogFormat)
	case c.MaxBodyBytes <= 0 || c.MaxResponse <= 0:
		return fmt.Errorf("max_body_bytes and max_response_bytes must be positive")
	case c.LeaseTTL < 2*c.RequestTimeout+5*time.Second:
		return fmt.Errorf("lease_ttl (%s) must be at least twice request_timeout (%s) plus 5s: a refresh (two attempts and its writes) must finish inside its lease", c.LeaseTTL, c.RequestTimeout)
	case c.WarnAfterPermanent < 1 || c.ReauthAfterPermanent < 1 || c.NoticeAfterTransient < 1:
		return fmt.Errorf("the notification thresholds must be at least 1")
	case c.Workers < 1 || c.BatchSize < 1:
		return fmt.Errorf("workers and batch_size must be at least 1")
	case c.APIRateLimit < 0 || c.APIIPRateLimit < 0 || c.MaxInFlight < 0:
		return fmt.Errorf("api_rate_limit, api_ip_rate_limit and max_inflight must not be negative (0 turns a limit off)")
	case c.APIRateLimit > 0 && c.APIBurst < 1, c.APIIPRateLimit > 0 && c.APIIPBurst < 1:
		return fmt.Errorf("api_burst and api_ip_burst must be at least 1 while their rate limit is on")
	case c.APIKeyCacheTTL < 0:
		return fmt.Errorf("api_key_cache_ttl must not be negative (0 turns the API key cache off)")
	case c.HistoryRetention < 0 || c.HistoryRetention > 0 && c.HistoryRetention < retention.MinRetention:
		return fmt.Errorf("history_retention must be 0 (keep everything) or at least %s, not %s: the overview counts the last day's refresh attempts from their rows", retention.MinRetention, c.HistoryRetention)
	}
	if err := c.validateConnect(); err != nil {
		return err
	}
	if c.AdminSessionTTL <= 0 {
		return fmt.Errorf("admin_session_ttl must be positive")
	}
	return c.validateNotify()
}

// policy returns the refresh policy the settings describe.
func (c Config) policy() tokenkeeper.Policy {
	p := tokenkeeper.DefaultPolicy()
	p.WarnAfterPermanent = c.WarnAfterPermanent
	p.ReauthAfterPermanent = c.ReauthAfterPermanent
	p.NoticeAfterTransient = c.NoticeAfterTransient
	p.BackoffBase = c.BackoffBase
	p.BackoffMax = c.BackoffMax
	p.MaxMargin = c.MaxRefreshMargin
	p.ReadCooldown = c.ReadCooldown
	return p
}

// sqlitePath returns the SQLite file of a sqlite: URL (or a bare path), and
// false for other databases.
func (c Config) sqlitePath() (string, bool) {
	u := c.DatabaseURL
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		return "", false
	}
	u = strings.TrimPrefix(u, "sqlite:")
	u = strings.TrimPrefix(u, "file:")
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	return u, true
}

// keyFilePath returns where the key file is read from or created.
func (c Config) keyFilePath() string {
	if c.KeyFile != "" {
		return c.KeyFile
	}
	if p, ok := c.sqlitePath(); ok {
		return filepath.Join(filepath.Dir(p), "tokenkeeper.key")
	}
	return "tokenkeeper.key"
}
