package daemon

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/actions"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/store"
	"github.com/qs-promoter/qs-promoter/yamlread"
)

// Config is the daemon's configuration file, decoded strictly. Paths in it
// are resolved against the file's folder by LoadConfig.
type Config struct {
	Sites       []SiteConfig        `yaml:"sites"`
	User        string              `yaml:"user"`         // X-Qlik-User for every site; qrs.DefaultUser when empty
	Listen      string              `yaml:"listen"`       // address of the callback, status and metrics listener
	CallbackURL string              `yaml:"callback_url"` // the listener's address as QRS reaches it
	Policies    string              `yaml:"policies"`     // folder of policy files
	StateDir    string              `yaml:"state_dir"`    // queue database, audit log, recorded events
	SMTP        *actions.MailConfig `yaml:"smtp"`         // password only via password_env or password_file
	S3          *actions.S3Config   `yaml:"s3"`           // credentials from the AWS chain
	Approvers   string              `yaml:"approvers"`    // CSV or YAML: stream ID → approver addresses (and DIR\user accounts)
	// Webhooks are chat and HTTP endpoints; URLs and header values only via
	// url_env/url_file and headers_env/headers_file.
	Webhooks []actions.WebhookConfig `yaml:"webhooks"`
	Store    StoreConfig             `yaml:"store"` // the database: SQLite in state_dir (default) or PostgreSQL shared by replicas
	// Vars set config.<key> values that the policy files declare (config:
	// in a policy file); the policy load checks them (PolicyOptions).
	Vars map[string]any `yaml:"vars"`
	// Console is the operator's console (a second listener, behind a
	// login); nil: no console, and no /status or /-/reload anywhere.
	Console *ConsoleConfig `yaml:"console"`

	CatchupInterval     time.Duration `yaml:"catchup_interval"`
	CoalesceWindow      time.Duration `yaml:"coalesce_window"`
	Workers             int           `yaml:"workers"`
	HealthInterval      time.Duration `yaml:"health_interval"`
	ResubscribeInterval time.Duration `yaml:"resubscribe_interval"`
	DrainTimeout        time.Duration `yaml:"drain_timeout"`
	RescueAfter         time.Duration `yaml:"rescue_after"`
	MaxAttempts         int           `yaml:"max_attempts"`
	GiveUpAfter         time.Duration `yaml:"give_up_after"` // an execution still retrying or waiting this long fails for good
	Audit               AuditConfig   `yaml:"audit"`
	Spool               SpoolConfig   `yaml:"spool"`
	LogLevel            string        `yaml:"log_level"` // debug, info (default), warn, error

	// Path is the file the configuration was read from ("" when built in code).
	Path string `yaml:"-"`

	src       *yamlread.Decoder   // where each value is written (nil when built in code)
	approvers map[string][]string // the approvers file as check read it
}

// SiteConfig is one QRS site.
type SiteConfig struct {
	Alias              string `yaml:"alias"`
	Host               string `yaml:"host"`
	Port               int    `yaml:"port"`  // default 4242
	Certs              string `yaml:"certs"` // default certs/<alias>
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	Watch              bool   `yaml:"watch"`    // subscribe to this site's changes and act on them
	HubHost            string `yaml:"hub_host"` // host in hub links (https://<hub_host>/sense/app/<id>); default host
	// Timeouts of the QRS client; zero: its defaults (10s, 2m).
	ConnectTimeout  time.Duration `yaml:"connect_timeout"`
	ResponseTimeout time.Duration `yaml:"response_timeout"`
	// MaxTransfers bounds the uploads to this site at once, and the
	// exports from it (each); default 2.
	MaxTransfers int `yaml:"max_transfers"`
}

// StoreConfig chooses the database. SQLite (the default) is one file in
// state_dir, for one daemon; PostgreSQL is shared by several replicas. The
// PostgreSQL URL holds a password, so it is never written in this file: it
// comes from an environment variable or a file, read by LoadConfig.
type StoreConfig struct {
	Driver  string `yaml:"driver"`   // store.DriverSQLite (default) or store.DriverPostgres
	URLEnv  string `yaml:"url_env"`  // the environment variable holding the URL
	URLFile string `yaml:"url_file"` // or a file holding it (trailing newline ignored)
	Schema  string `yaml:"schema"`   // default store.DefaultSchema; created when missing

	url string // read from URLEnv or URLFile by check
}

// Shared reports whether the database is shared by replicas (PostgreSQL).
func (s StoreConfig) Shared() bool { return s.Driver == store.DriverPostgres }

// AuditConfig sizes the audit log's rotation.
type AuditConfig struct {
	MaxSizeMB int `yaml:"max_size_mb"` // rotate when the file reaches this size; default 100
	Keep      int `yaml:"keep"`        // rotated files kept; default 10
}

// SpoolConfig is the disk budget of spooled exports (in state_dir/tmp).
type SpoolConfig struct {
	MaxMB     int `yaml:"max_mb"`      // spooled at once; 0: as much as min_free_mb leaves
	MinFreeMB int `yaml:"min_free_mb"` // what spools leave free on state_dir's disk; default 1024
}

// The defaults of the optional keys.
const (
	DefaultListen              = ":5000"
	DefaultCatchupInterval     = 5 * time.Minute
	DefaultCoalesceWindow      = 500 * time.Millisecond
	DefaultWorkers             = 32
	DefaultSpoolMinFreeMB      = 1024
	DefaultHealthInterval      = 30 * time.Second
	DefaultResubscribeInterval = 45 * time.Second
	DefaultDrainTimeout        = 30 * time.Second
	DefaultRescueAfter         = 10 * time.Minute
	DefaultMaxAttempts         = 10
	DefaultGiveUpAfter         = 24 * time.Hour
)

// DefaultStoreURLEnv is the environment variable holding the PostgreSQL
// URL when store.url_env does not name another.
const DefaultStoreURLEnv = "QSP_DATABASE_URL"

// DefaultSharedRescueAfter is rescue_after's default on PostgreSQL: a
// replica that dies mid-promotion has its executions resumed by another
// within about this long.
const DefaultSharedRescueAfter = 2 * time.Minute

var aliasRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// keyHints answer keys people are likely to write but must not.
var keyHints = map[string]string{
	"password":          "secrets are never read from the config file: use password_env (an environment variable) or password_file",
	"secret_access_key": "secrets are never read from the config file: use the standard AWS credential chain (environment, shared profile, instance role)",
	"access_key_id":     "credentials are never read from the config file: use the standard AWS credential chain (environment, shared profile, instance role)",
	"webhooks.url":      "a webhook's URL is a secret and is never read from the config file: use url_env (an environment variable holding it) or url_file",
	"store.url":         "the database URL holds a password and is never read from the config file: put it in the environment variable named by url_env (default " + DefaultStoreURLEnv + ") or in the file named by url_file",
	"headers":           "header values may be secrets and are never read from the config file: use headers_env (header: environment variable) or headers_file (header: file)",
	// By path (without list indexes): the same key elsewhere means another thing.
	"console.users.password": "a console password is never written in the config file: run `qs-promoter hash-password` and give what it prints as password_hash",
	"console.session_key":    "the session key is a secret and is never read from the config file: use session_key_env (an environment variable) or session_key_file",
	"console.metrics_token":  "the metrics token is a secret and is never read from the config file: use metrics_token_env (an environment variable) or metrics_token_file",
}

// LoadConfig reads, decodes and checks a configuration file, reporting
// every problem at once as `file:line:col: message`. Relative paths are
// resolved against the file's folder; secrets named by *_env and *_file are
// read now, so a missing one is reported here rather than at the first e-mail.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig for data already read; path names the file in
// errors and anchors relative paths. On error the Config returned (nil only
// when the YAML could not be read at all) holds what could be decoded, with
// defaults filled in, so that check can go on to the certificates and the
// policies and report every problem at once; never run a daemon on it.
func ParseConfig(path string, data []byte) (*Config, error) {
	root, err := yamlread.Parse(path, data)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, &yamlread.Error{File: path, Line: 1, Col: 1, Msg: "the config file is empty"}
	}
	d := yamlread.NewDecoder(path)
	d.Root, d.Hints = "the config", keyHints
	cfg := &Config{Path: path, src: d}
	d.Decode(root, cfg)
	cfg.check(d)
	return cfg, d.Err()
}

// check fills defaults, resolves paths and secrets, and validates.
func (c *Config) check(d *yamlread.Decoder) {
	// A problem with a value that did not decode was reported already.
	errorf := func(path, format string, args ...any) {
		if !d.Failed(path) {
			d.Errorf(path, format, args...)
		}
	}
	dir := filepath.Dir(c.Path)
	resolve := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}

	if len(c.Sites) == 0 {
		errorf("sites", "sites: list at least one site (alias, host, certs)")
	}
	aliases := map[string]bool{}
	watched := 0
	for i := range c.Sites {
		s := &c.Sites[i]
		p := fmt.Sprintf("sites[%d]", i)
		switch {
		case s.Alias == "":
			errorf(p+".alias", "%s: alias is required (a short name such as dev, test or prod)", p)
		case !aliasRE.MatchString(s.Alias):
			errorf(p+".alias", "%s.alias: %q may hold only letters, digits, '-' and '_'", p, s.Alias)
		case aliases[strings.ToLower(s.Alias)]:
			errorf(p+".alias", "%s.alias: %q is used by another site", p, s.Alias)
		}
		aliases[strings.ToLower(s.Alias)] = true
		if s.Host == "" {
			errorf(p+".host", "%s: host is required (the QRS server's name or address)", p)
		}
		if s.Port == 0 {
			s.Port = 4242
		}
		if s.Port < 1 || s.Port > 65535 {
			errorf(p+".port", "%s.port: %d is not a TCP port (1-65535)", p, s.Port)
		}
		if s.Certs == "" {
			s.Certs = filepath.Join("certs", s.Alias)
		}
		s.Certs = resolve(s.Certs)
		if s.ConnectTimeout < 0 || s.ResponseTimeout < 0 {
			errorf(p, "%s: connect_timeout and response_timeout must not be negative", p)
		}
		if s.MaxTransfers == 0 {
			s.MaxTransfers = actions.DefaultMaxTransfers
		}
		if s.MaxTransfers < 1 || s.MaxTransfers > 64 {
			errorf(p+".max_transfers", "%s.max_transfers: %d is out of range (1-64): how many uploads to the site, and exports from it, run at once", p, s.MaxTransfers)
		}
		if s.Watch {
			watched++
		}
	}
	if c.User == "" {
		c.User = qrs.DefaultUser
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if watched > 0 {
		if c.CallbackURL == "" {
			errorf("callback_url", "callback_url is required when a site is watched: the address QRS calls back, e.g. http://promoter.company.com:5000")
		} else if u, err := url.Parse(c.CallbackURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			errorf("callback_url", "callback_url: %q is not an http(s) URL without query, e.g. http://promoter.company.com:5000", c.CallbackURL)
		}
	}
	c.CallbackURL = strings.TrimRight(c.CallbackURL, "/")
	if c.Policies == "" {
		c.Policies = "policies"
	}
	c.Policies = resolve(c.Policies)
	if c.StateDir == "" {
		c.StateDir = "data"
	}
	c.StateDir = resolve(c.StateDir)
	c.Approvers = resolve(c.Approvers)

	if s := c.SMTP; s != nil {
		s.PasswordFile = resolve(s.PasswordFile)
		s.CAFile = resolve(s.CAFile)
		// The mailer checks the settings and reads the password; doing it at
		// load makes a missing secret a config error, not a failed e-mail.
		if _, err := actions.NewMailer(*s); err != nil {
			errorf("smtp", "%v", err)
		}
		for i, a := range s.Admin {
			if _, err := mail.ParseAddress(a); err != nil {
				errorf(fmt.Sprintf("smtp.admin[%d]", i), "smtp.admin[%d]: %q is not an e-mail address (the admins told of executions that fail for good)", i, a)
			}
		}
	}
	if c.Approvers != "" {
		var err error
		if c.approvers, err = actions.LoadApprovers(c.Approvers); err != nil {
			errorf("approvers", "%v", err)
		}
	}
	c.checkWebhooks(errorf, resolve)
	c.checkConsole(errorf, resolve)
	if s := c.S3; s != nil && s.Bucket == "" {
		errorf("s3", "s3: bucket is required")
	}
	c.Store.URLFile = resolve(c.Store.URLFile)
	c.Store.check(errorf)
	defaultRescue := DefaultRescueAfter
	if c.Store.Shared() {
		defaultRescue = DefaultSharedRescueAfter
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"catchup_interval", &c.CatchupInterval, DefaultCatchupInterval},
		{"coalesce_window", &c.CoalesceWindow, DefaultCoalesceWindow},
		{"health_interval", &c.HealthInterval, DefaultHealthInterval},
		{"resubscribe_interval", &c.ResubscribeInterval, DefaultResubscribeInterval},
		{"drain_timeout", &c.DrainTimeout, DefaultDrainTimeout},
		{"rescue_after", &c.RescueAfter, defaultRescue},
		{"give_up_after", &c.GiveUpAfter, DefaultGiveUpAfter},
	}
	for _, du := range durations {
		if *du.v < 0 {
			errorf(du.name, "%s: must not be negative", du.name)
		}
		if *du.v == 0 {
			*du.v = du.def
		}
	}
	if c.RescueAfter < time.Minute {
		errorf("rescue_after", "rescue_after: %s is too short; use at least 1m (a job whose daemon stopped marking it alive for this long is retried)", c.RescueAfter)
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Workers < 1 || c.Workers > 256 {
		errorf("workers", "workers: %d is out of range (1-256)", c.Workers)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxAttempts < 1 {
		errorf("max_attempts", "max_attempts: must be at least 1")
	}
	if c.Audit.MaxSizeMB == 0 {
		c.Audit.MaxSizeMB = 100
	}
	if c.Audit.Keep == 0 {
		c.Audit.Keep = 10
	}
	if c.Audit.MaxSizeMB < 0 || c.Audit.Keep < 0 {
		errorf("audit", "audit: max_size_mb and keep must be positive")
	}
	if c.Spool.MinFreeMB == 0 {
		c.Spool.MinFreeMB = DefaultSpoolMinFreeMB
	}
	if c.Spool.MaxMB < 0 {
		errorf("spool.max_mb", "spool.max_mb: must not be negative (0: no cap but spool.min_free_mb)")
	}
	if c.Spool.MinFreeMB < 0 {
		errorf("spool.min_free_mb", "spool.min_free_mb: must not be negative")
	}
	switch strings.ToLower(c.LogLevel) {
	case "", "info", "debug", "warn", "error":
	default:
		errorf("log_level", "log_level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
}

// checkWebhooks resolves the webhooks' files and reads their secrets now,
// so that a missing one is a config error at its key, not a failed post.
func (c *Config) checkWebhooks(errorf func(path, format string, args ...any), resolve func(string) string) {
	names := map[string]bool{}
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		p := fmt.Sprintf("webhooks[%d]", i)
		w.URLFile = resolve(w.URLFile)
		for h, f := range w.HeadersFile {
			w.HeadersFile[h] = resolve(f)
		}
		if _, err := actions.NewWebhook(*w); err != nil {
			var ce *actions.WebhookConfigError
			if errors.As(err, &ce) {
				errorf(p+"."+ce.Key, "%s: %s", p, ce.Msg)
				continue
			}
			errorf(p, "%s: %v", p, err)
			continue
		}
		if names[strings.ToLower(w.Name)] {
			errorf(p+".name", "%s.name: %q is used by another webhook", p, w.Name)
		}
		names[strings.ToLower(w.Name)] = true
	}
}

// check fills the store's defaults and reads its URL.
func (s *StoreConfig) check(errorf func(path, format string, args ...any)) {
	drivers := []string{store.DriverSQLite, store.DriverPostgres}
	switch s.Driver {
	case "":
		s.Driver = store.DriverSQLite
	case store.DriverSQLite, store.DriverPostgres:
	default:
		errorf("store.driver", "store.driver: %q is not one of %s%s", s.Driver, strings.Join(drivers, ", "), yamlread.Suggest(s.Driver, drivers))
		return
	}
	if !s.Shared() {
		for _, k := range []struct{ key, v string }{{"url_env", s.URLEnv}, {"url_file", s.URLFile}, {"schema", s.Schema}} {
			if k.v != "" {
				errorf("store."+k.key, "store.%s: only for driver postgres (driver sqlite keeps its database in state_dir)", k.key)
			}
		}
		return
	}
	if s.Schema == "" {
		s.Schema = store.DefaultSchema
	}
	if err := store.CheckSchema(s.Schema); err != nil {
		errorf("store.schema", "store.%v", err)
	}
	switch {
	case s.URLEnv != "" && s.URLFile != "":
		errorf("store.url_file", "store: give url_env or url_file, not both")
		return
	case s.URLFile != "":
		b, err := os.ReadFile(s.URLFile)
		if err != nil {
			errorf("store.url_file", "store.url_file: %v (the file must be readable by the account the daemon runs as)", err)
			return
		}
		if s.url = strings.TrimSpace(string(b)); s.url == "" {
			errorf("store.url_file", "store.url_file: %s is empty; it must hold the database URL (postgres://user:password@host:5432/database)", s.URLFile)
			return
		}
	default:
		path := "store.url_env"
		if s.URLEnv == "" {
			s.URLEnv, path = DefaultStoreURLEnv, "store.driver"
		}
		if s.url = strings.TrimSpace(os.Getenv(s.URLEnv)); s.url == "" {
			errorf(path, "store: the environment variable %s (url_env) is not set; it must hold the database URL (postgres://user:password@host:5432/database). A Windows service does not inherit a shell's environment: set it for the service, or use url_file", s.URLEnv)
			return
		}
	}
	if err := store.CheckURL(s.url); err != nil {
		from := "the environment variable " + s.URLEnv
		path := "store.url_env"
		if s.URLFile != "" {
			from, path = s.URLFile, "store.url_file"
		}
		errorf(path, "store: %v (in %s)", err, from)
	}
}

// SiteAliases returns every site's alias, in configuration order.
func (c *Config) SiteAliases() []string {
	out := make([]string, len(c.Sites))
	for i, s := range c.Sites {
		out[i] = s.Alias
	}
	return out
}

// TransferLimits returns the limits promotions share (actions.NewTransfers):
// transfers per site and the spools' disk budget in state_dir/tmp.
func (c *Config) TransferLimits() actions.TransferLimits {
	l := actions.TransferLimits{MaxTransfers: map[string]int{}, SpoolDir: filepath.Join(c.StateDir, "tmp"),
		SpoolMax: int64(c.Spool.MaxMB) << 20, SpoolMinFree: int64(c.Spool.MinFreeMB) << 20}
	for _, s := range c.Sites {
		l.MaxTransfers[s.Alias] = s.MaxTransfers
	}
	return l
}

// QRSConfig returns the client configuration of one site.
func (c *Config) QRSConfig(s SiteConfig) qrs.SiteConfig {
	return qrs.SiteConfig{
		Alias:              s.Alias,
		Host:               s.Host,
		Port:               s.Port,
		CertDir:            s.Certs,
		ServerName:         s.ServerName,
		InsecureSkipVerify: s.InsecureSkipVerify,
		User:               c.User,
		HubHost:            s.HubHost,
		ConnectTimeout:     s.ConnectTimeout,
		ResponseTimeout:    s.ResponseTimeout,
	}
}
