package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/qs-promoter/qs-promoter/actions"
	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
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
	// Vars are values the policies read as config.<key>.
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
	LogLevel            string        `yaml:"log_level"` // debug, info (default), warn, error

	// Path is the file the configuration was read from ("" when built in code).
	Path string `yaml:"-"`
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
}

// AuditConfig sizes the audit log's rotation.
type AuditConfig struct {
	MaxSizeMB int `yaml:"max_size_mb"` // rotate when the file reaches this size; default 100
	Keep      int `yaml:"keep"`        // rotated files kept; default 10
}

// The defaults of the optional keys.
const (
	DefaultListen              = ":5000"
	DefaultCatchupInterval     = 5 * time.Minute
	DefaultCoalesceWindow      = 500 * time.Millisecond
	DefaultWorkers             = 4
	DefaultHealthInterval      = 30 * time.Second
	DefaultResubscribeInterval = 45 * time.Second
	DefaultDrainTimeout        = 30 * time.Second
	DefaultRescueAfter         = 10 * time.Minute
	DefaultMaxAttempts         = 10
)

// DefaultVars are the config.<key> values the shipped policies read, with
// their defaults (policies/README.md); the config's vars override them.
var DefaultVars = map[string]any{
	"server_property":     "PromoteToServer",
	"stream_property":     "PromoteToStream",
	"approval_property":   "PromotionApproval",
	"versioning_property": "PromotionS3Versioning",
	"unpublish_property":  "PromotionUnpublish",
	"reload_property":     "PromoteOnReload",
	"alert_property":      "EmailAlertOnPublishTo",
	"reload_tag":          "PromoteOnReload",
	"publish_alerts":      true,
	"auto_unpublish":      true,
	"versioning":          true,
	"auto_versioning":     false,
	"promote_on_reload":   true,
}

// The config.<key> names the daemon derives itself; vars may not set them.
var derivedVars = []string{"sites", "s3_enabled", "mail_enabled"}

var (
	aliasRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	varKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

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
// errors and anchors relative paths.
func ParseConfig(path string, data []byte) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s:1:1: the config file is empty", path)
		}
		return nil, engine.YAMLSyntaxError(path, data, err)
	}
	d := &strictDecoder{file: path, pos: map[string]yaml.Node{}}
	cfg := &Config{Path: path}
	d.decode(&root, reflect.ValueOf(cfg).Elem(), "")
	if len(d.errs) == 0 {
		cfg.check(d)
	}
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	return cfg, nil
}

// check fills defaults, resolves paths and secrets, and validates.
func (c *Config) check(d *strictDecoder) {
	at := func(path string) *yaml.Node {
		for p := path; ; {
			// A scalar's own position; for a mapping or list, its key's.
			if n, ok := d.pos[p]; ok && n.Kind == yaml.ScalarNode {
				return &n
			}
			if n, ok := d.pos[p+"@key"]; ok {
				return &n
			}
			if n, ok := d.pos[p]; ok {
				return &n
			}
			i := strings.LastIndexAny(p, ".[")
			if i < 0 {
				n := d.pos[""]
				if n.Line == 0 {
					n.Line, n.Column = 1, 1
				}
				return &n
			}
			p = p[:i]
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
		d.errorf(at("sites"), "sites: list at least one site (alias, host, certs)")
	}
	aliases := map[string]bool{}
	watched := 0
	for i := range c.Sites {
		s := &c.Sites[i]
		p := fmt.Sprintf("sites[%d]", i)
		switch {
		case s.Alias == "":
			d.errorf(at(p), "%s: alias is required (a short name such as dev, test or prod)", p)
		case !aliasRE.MatchString(s.Alias):
			d.errorf(at(p+".alias"), "%s.alias: %q may hold only letters, digits, '-' and '_'", p, s.Alias)
		case aliases[strings.ToLower(s.Alias)]:
			d.errorf(at(p+".alias"), "%s.alias: %q is used by another site", p, s.Alias)
		}
		aliases[strings.ToLower(s.Alias)] = true
		if s.Host == "" {
			d.errorf(at(p), "%s: host is required (the QRS server's name or address)", p)
		}
		if s.Port == 0 {
			s.Port = 4242
		}
		if s.Port < 1 || s.Port > 65535 {
			d.errorf(at(p+".port"), "%s.port: %d is not a TCP port (1-65535)", p, s.Port)
		}
		if s.Certs == "" {
			s.Certs = filepath.Join("certs", s.Alias)
		}
		s.Certs = resolve(s.Certs)
		if s.ConnectTimeout < 0 || s.ResponseTimeout < 0 {
			d.errorf(at(p), "%s: connect_timeout and response_timeout must not be negative", p)
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
			d.errorf(at("callback_url"), "callback_url is required when a site is watched: the address QRS calls back, e.g. http://promoter.company.com:5000")
		} else if u, err := url.Parse(c.CallbackURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			d.errorf(at("callback_url"), "callback_url: %q is not an http(s) URL without query, e.g. http://promoter.company.com:5000", c.CallbackURL)
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
			d.errorf(at("smtp"), "%v", err)
		}
	}
	if c.Approvers != "" {
		if _, err := actions.LoadApprovers(c.Approvers); err != nil {
			d.errorf(at("approvers"), "%v", err)
		}
	}
	if s := c.S3; s != nil && s.Bucket == "" {
		d.errorf(at("s3"), "s3: bucket is required")
	}
	for k := range c.Vars {
		if !varKeyRE.MatchString(k) {
			d.errorf(at("vars."+k), "vars: %q is not a valid name (letters, digits and _; policies read it as config.<name>)", k)
		}
		if def, ok := DefaultVars[k]; ok && reflect.TypeOf(def) != reflect.TypeOf(c.Vars[k]) {
			want := "a string"
			if _, isBool := def.(bool); isBool {
				want = "true or false"
			}
			d.errorf(at("vars."+k), "vars.%s: want %s (default %v), got %v", k, want, def, c.Vars[k])
		}
		for _, r := range derivedVars {
			if k == r {
				d.errorf(at("vars."+k), "vars: %q is set by the daemon itself", k)
			}
		}
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
			d.errorf(at(du.name), "%s: must not be negative", du.name)
		}
		if *du.v == 0 {
			*du.v = du.def
		}
	}
	if c.RescueAfter < time.Minute {
		d.errorf(at("rescue_after"), "rescue_after: %s is too short; use at least 1m (a job whose daemon stopped marking it alive for this long is retried)", c.RescueAfter)
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Workers < 1 || c.Workers > 64 {
		d.errorf(at("workers"), "workers: %d is out of range (1-64)", c.Workers)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxAttempts < 1 {
		d.errorf(at("max_attempts"), "max_attempts: must be at least 1")
	}
	if c.Audit.MaxSizeMB == 0 {
		c.Audit.MaxSizeMB = 100
	}
	if c.Audit.Keep == 0 {
		c.Audit.Keep = 10
	}
	if c.Audit.MaxSizeMB < 0 || c.Audit.Keep < 0 {
		d.errorf(at("audit"), "audit: max_size_mb and keep must be positive")
	}
	switch strings.ToLower(c.LogLevel) {
	case "", "info", "debug", "warn", "error":
	default:
		d.errorf(at("log_level"), "log_level: %q is not one of debug, info, warn, error", c.LogLevel)
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

// PolicyConfig returns what policies read as config.<key>: DefaultVars
// overridden by the vars, plus sites (the aliases), s3_enabled and
// mail_enabled.
func (c *Config) PolicyConfig() map[string]any {
	out := make(map[string]any, len(DefaultVars)+len(c.Vars)+3)
	for k, v := range DefaultVars {
		out[k] = v
	}
	for k, v := range c.Vars {
		out[k] = v
	}
	out["sites"] = c.SiteAliases()
	out["s3_enabled"] = c.S3 != nil
	out["mail_enabled"] = c.SMTP != nil
	return out
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
