package daemon

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/actions"
	"github.com/qs-promoter/qs-promoter/qrs"
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
	Approvers   string              `yaml:"approvers"`    // CSV or YAML: stream ID → approver addresses
	// Vars set config.<key> values that the policy files declare (config:
	// in a policy file); the policy load checks them (PolicyOptions).
	Vars map[string]any `yaml:"vars"`

	CatchupInterval     time.Duration `yaml:"catchup_interval"`
	CoalesceWindow      time.Duration `yaml:"coalesce_window"`
	Workers             int           `yaml:"workers"`
	HealthInterval      time.Duration `yaml:"health_interval"`
	ResubscribeInterval time.Duration `yaml:"resubscribe_interval"`
	DrainTimeout        time.Duration `yaml:"drain_timeout"`
	RescueAfter         time.Duration `yaml:"rescue_after"`
	MaxAttempts         int           `yaml:"max_attempts"`
	Audit               AuditConfig   `yaml:"audit"`
	Spool               SpoolConfig   `yaml:"spool"`
	LogLevel            string        `yaml:"log_level"` // debug, info (default), warn, error

	// Path is the file the configuration was read from ("" when built in code).
	Path string `yaml:"-"`

	src *yamlread.Decoder // where each value is written (nil when built in code)
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
)

var aliasRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// keyHints answer keys people are likely to write but must not.
var keyHints = map[string]string{
	"password":          "secrets are never read from the config file: use password_env (an environment variable) or password_file",
	"secret_access_key": "secrets are never read from the config file: use the standard AWS credential chain (environment, shared profile, instance role)",
	"access_key_id":     "credentials are never read from the config file: use the standard AWS credential chain (environment, shared profile, instance role)",
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
	}
	if c.Approvers != "" {
		if _, err := actions.LoadApprovers(c.Approvers); err != nil {
			errorf("approvers", "%v", err)
		}
	}
	if s := c.S3; s != nil && s.Bucket == "" {
		errorf("s3", "s3: bucket is required")
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
		{"rescue_after", &c.RescueAfter, DefaultRescueAfter},
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
