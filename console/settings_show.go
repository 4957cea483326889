package console

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/qs-promoter/qs-promoter/daemon"
)

// settingsView is the Settings page's data: the effective configuration
// (secrets as set or not set, never their values), the approvers map, and
// the results of the two test buttons.
type settingsView struct {
	Config    *daemon.Config
	Sections  []setting
	Approvers []approverRow
	Checks    []daemon.SiteCheck
	Checked   bool
	MailTo    string
	MailSent  string
	MailErr   string
}

// setting is one line of the effective configuration.
type setting struct{ Key, Value string }

type approverRow struct {
	Stream    string
	Approvers []string
}

// showSettings shows the effective configuration and the test buttons
// (GET /settings).
func (c *Console) showSettings(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, "settings", http.StatusOK, "Settings", c.settings())
}

func (c *Console) settings() settingsView {
	cfg := c.b.Config()
	v := settingsView{Config: cfg, Sections: effective(cfg)}
	m := c.b.Approvers()
	for _, s := range slices.Sorted(maps.Keys(m)) {
		v.Approvers = append(v.Approvers, approverRow{Stream: s, Approvers: m[s]})
	}
	return v
}

// effective lists the configuration the daemon runs with, defaults
// filled in; a secret shows only whether it is set, and from where.
func effective(c *daemon.Config) []setting {
	var out []setting
	add := func(k string, v any) { out = append(out, setting{k, fmt.Sprint(v)}) }
	secret := func(env, file string) string {
		switch {
		case env != "":
			return "set (environment variable " + env + ")"
		case file != "":
			return "set (file " + file + ")"
		}
		return "not set"
	}
	add("config file", c.Path)
	for _, s := range c.Sites {
		add("site "+s.Alias, fmt.Sprintf("%s:%d, certs %s, watch %v", s.Host, s.Port, s.Certs, s.Watch))
	}
	add("user", c.User)
	add("listen", c.Listen)
	add("callback_url", c.CallbackURL)
	add("policies", c.Policies)
	add("state_dir", c.StateDir)
	if s := c.SMTP; s != nil {
		add("smtp", fmt.Sprintf("%s:%d, from %s, tls %s, user %q", s.Host, s.Port, s.From, s.TLS, s.Username))
		add("smtp password", secret(s.PasswordEnv, s.PasswordFile))
	} else {
		add("smtp", "not configured: e-mail steps fail")
	}
	if s := c.S3; s != nil {
		add("s3", fmt.Sprintf("bucket %s, prefix %q, region %s, endpoint %q", s.Bucket, s.Prefix, s.Region, s.Endpoint))
	} else {
		add("s3", "not configured")
	}
	add("approvers", c.Approvers)
	for _, w := range c.Webhooks {
		add("webhook "+w.Name, fmt.Sprintf("format %s, URL %s", w.Format, secret(w.URLEnv, w.URLFile)))
	}
	for _, k := range slices.Sorted(maps.Keys(c.Vars)) {
		add("vars."+k, c.Vars[k])
	}
	for _, d := range []struct {
		k string
		v time.Duration
	}{{"catchup_interval", c.CatchupInterval}, {"coalesce_window", c.CoalesceWindow}, {"health_interval", c.HealthInterval},
		{"resubscribe_interval", c.ResubscribeInterval}, {"drain_timeout", c.DrainTimeout}, {"rescue_after", c.RescueAfter}} {
		add(d.k, d.v)
	}
	add("workers", c.Workers)
	add("max_attempts", c.MaxAttempts)
	add("audit", fmt.Sprintf("rotate at %d MB, keep %d", c.Audit.MaxSizeMB, c.Audit.Keep))
	add("log_level", c.LogLevel)
	if cc := c.Console; cc != nil {
		add("console.listen", cc.Listen)
		for _, u := range cc.Users {
			add("console user "+u.Name, u.Role)
		}
		key := secret(cc.SessionKeyEnv, cc.SessionKeyFile)
		if key == "not set" {
			key = "kept in the store (made at the first start)"
		}
		add("console session key", key)
		add("console metrics token", secret(cc.MetricsTokenEnv, cc.MetricsTokenFile))
		if cc.TLS != nil {
			add("console.tls", "cert "+cc.TLS.Cert+", key "+cc.TLS.Key)
		} else {
			add("console.tls", "none (plain HTTP)")
		}
	}
	return out
}
