package daemon

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/qs-promoter/qs-promoter/actions"
	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/yamlread"
)

// PolicyOptions are the options of every policy load: serve, check,
// dry-run, test and the demo build them here, so that a command loads the
// policies exactly as the daemon does. With a configuration: its sites, its
// vars (checked against the keys the policy files declare) and the built-in
// keys it implies. Without one (cfg nil, as CI runs check and test): the
// sites given, no vars, mail on and S3 off; config.<key> are typed by the
// policy files' declarations either way.
func PolicyOptions(cfg *Config, sites []string) engine.LoadOptions {
	opts := engine.LoadOptions{Specs: actions.Specs()}
	if cfg == nil {
		opts.Sites = sites
		opts.Builtin = builtinKeys(sites, true, false, nil, nil)
		return opts
	}
	opts.Sites = cfg.SiteAliases()
	webhooks := make([]string, len(cfg.Webhooks))
	for i, w := range cfg.Webhooks {
		webhooks[i] = w.Name
	}
	opts.Builtin = builtinKeys(opts.Sites, cfg.SMTP != nil, cfg.S3 != nil, webhooks, cfg.approverMap())
	for _, k := range slices.Sorted(maps.Keys(cfg.Vars)) {
		s := engine.Setting{Key: k, Value: cfg.Vars[k]}
		s.KeyAt, s.ValueAt = cfg.keyPos("vars."+k), cfg.pos("vars."+k)
		opts.Vars = append(opts.Vars, s)
	}
	return opts
}

// builtinKeys are the config.<key> the daemon sets from its configuration:
// policies read them without declaring them; vars cannot set them.
// webhooks are the endpoints' names; approvers the approvers file (stream
// ID → entries), from which the facts give each app its stream's.
func builtinKeys(sites []string, mail, s3 bool, webhooks []string, approvers map[string][]string) map[string]any {
	if sites == nil {
		sites = []string{}
	}
	if webhooks == nil {
		webhooks = []string{}
	}
	if approvers == nil {
		approvers = map[string][]string{}
	}
	return map[string]any{"sites": sites, "mail_enabled": mail, "s3_enabled": s3, "webhooks": webhooks, engine.ApproversKey: approvers}
}

// approverMap is the approvers file: as check read it, or read now for a
// configuration built in code (nil when there is none or it cannot be read:
// New reports that).
func (c *Config) approverMap() map[string][]string {
	if c.approvers == nil && c.Approvers != "" {
		c.approvers, _ = actions.LoadApprovers(c.Approvers)
	}
	return c.approvers
}

// pos is where the value at path ("sites[1].certs") is written.
func (c *Config) pos(path string) yamlread.Pos {
	if c.src == nil {
		return yamlread.Pos{File: c.Path}
	}
	line, col := c.src.Pos(path)
	return yamlread.Pos{File: c.Path, Line: line, Col: col}
}

// keyPos is where the key of path is written.
func (c *Config) keyPos(path string) yamlread.Pos {
	if c.src == nil {
		return yamlread.Pos{File: c.Path}
	}
	line, col := c.src.KeyPos(path)
	return yamlread.Pos{File: c.Path, Line: line, Col: col}
}

// SiteError places a problem with site i's client (its certificates) at
// the site's certs: value, or at the site when certs: is not written.
func (c *Config) SiteError(i int, err error) error {
	if c.src == nil {
		return err
	}
	return c.pos(fmt.Sprintf("sites[%d].certs", i)).Errorf("%v", err)
}

// placeholderDomain is the example domain of the starter configuration and
// the docs: a host under it was copied and not yet set.
const placeholderDomain = ".company.com"

// Placeholders returns a problem for every host the configuration still
// takes from the starter (qs-promoter init), each at its value. serve finds
// them by failing to connect; check --config says so at once.
func (c *Config) Placeholders() error {
	var errs []error
	for i, s := range c.Sites {
		if strings.HasSuffix(strings.ToLower(s.Host), placeholderDomain) {
			errs = append(errs, c.pos(fmt.Sprintf("sites[%d].host", i)).Errorf(
				"site %q: host %q is the starter's placeholder: set the name of the site's QRS server (the central node, port 4242)", s.Alias, s.Host))
		}
	}
	if u, err := url.Parse(c.CallbackURL); err == nil && strings.HasSuffix(strings.ToLower(u.Hostname()), placeholderDomain) {
		errs = append(errs, c.pos("callback_url").Errorf(
			"callback_url %q is the starter's placeholder: set the address at which the QRS server reaches this machine's listen port", c.CallbackURL))
	}
	return errors.Join(errs...)
}
