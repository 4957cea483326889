package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/actions"
	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

func init() {
	commands["check"] = command{summary: "check the policy files (and the configuration) for mistakes", run: runCheck}
}

// policyFlags are the flags check, dry-run and test share: they say where
// the policies are and what they are checked against.
type policyFlags struct {
	policies, config, sites *string
}

func addPolicyFlags(fs interface {
	String(name, value, usage string) *string
}) *policyFlags {
	return &policyFlags{
		policies: fs.String("policies", "", "policy folder (default: the configuration's policies:, else policies)"),
		config:   fs.String("config", "", "daemon configuration: checked too; gives the sites and the config.<key> values"),
		sites:    fs.String("sites", "test,prod", "site aliases that targets may name, comma-separated, when there is no --config (\"\": any)"),
	}
}

// options builds the engine's load options the way the daemon does (one
// loader for every command): from the configuration when there is one.
func (pf *policyFlags) options(dirArg string) (engine.LoadOptions, string, *daemon.Config, error) {
	opts := engine.LoadOptions{Specs: actions.Specs()}
	dir := *pf.policies
	if dirArg != "" {
		dir = dirArg
	}
	var cfg *daemon.Config
	if *pf.config != "" {
		var err error
		if cfg, err = daemon.LoadConfig(*pf.config); err != nil {
			return opts, "", nil, err
		}
		opts.Sites = cfg.SiteAliases()
		opts.Config = cfg.PolicyConfig()
		if dir == "" {
			dir = cfg.Policies
		}
	} else {
		for _, s := range strings.Split(*pf.sites, ",") {
			if s = strings.TrimSpace(s); s != "" {
				opts.Sites = append(opts.Sites, s)
			}
		}
	}
	if dir == "" {
		dir = "policies"
	}
	return opts, dir, cfg, nil
}

// factsConfig is what policies read as config.<key> in a dry-run: the
// configuration's values, or without one the defaults the daemon would use,
// with mail on and S3 off, so that the shipped policies evaluate instead of
// failing on keys no configuration set.
func factsConfig(opts engine.LoadOptions, cfg *daemon.Config) map[string]any {
	if cfg != nil {
		return opts.Config
	}
	out := make(map[string]any, len(daemon.DefaultVars)+3)
	for k, v := range daemon.DefaultVars {
		out[k] = v
	}
	out["sites"] = opts.Sites
	out["mail_enabled"] = true
	out["s3_enabled"] = false
	return out
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", "check [--policies DIR] [--config FILE [--connect]] [--sites a,b]", stderr)
	pf := addPolicyFlags(fs)
	connect := fs.Bool("connect", false, "with --config: also call every site (GET /qrs/about), read-only, and say how each answers")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "check takes no arguments (use --policies DIR)\n")
		return errUsage
	}
	if *connect && *pf.config == "" {
		fmt.Fprintln(stderr, "check --connect needs --config FILE (the sites to call)")
		return errUsage
	}
	opts, dir, cfg, err := pf.options("")
	if err == nil {
		// The certificates are read as serve reads them (no site is
		// contacted), so that a wrong certs folder is found here rather
		// than when the daemon starts.
		clients, certErrs := checkSiteCerts(cfg, stderr)
		if *connect && certErrs == nil {
			certErrs = connectSites(ctx, cfg, clients, stdout)
		}
		var rs *engine.Ruleset
		if rs, err = engine.Load(dir, opts); err == nil && certErrs == nil {
			fmt.Fprintf(stdout, "ok: %d files, %d policies (revision %s)\n", len(rs.Files), len(rs.Policies), rs.Revision)
			return nil
		}
		err = errors.Join(certErrs, err)
	}
	return printProblems(stdout, err)
}

// checkSiteCerts loads every configured site's certificate folder as the
// daemon does, without connecting, and returns the clients (in the order of
// cfg.Sites). Warnings (an expired certificate) go to warn; a nil cfg checks
// nothing.
func checkSiteCerts(cfg *daemon.Config, warn io.Writer) ([]*qrs.Client, error) {
	if cfg == nil {
		return nil, nil
	}
	var clients []*qrs.Client
	var errs []error
	for _, s := range cfg.Sites {
		qc := cfg.QRSConfig(s)
		qc.Log = slog.New(slog.NewTextHandler(warn, nil))
		qc.MaxAttempts = 1 // check --connect says at once how a site answers
		c, err := qrs.NewClient(qc)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cfg.Path, err))
		}
		clients = append(clients, c)
	}
	return clients, errors.Join(errs...)
}

// connectSites calls GET /qrs/about on every configured site, as the
// original's console tested each QRS connection, and prints one line per
// site; the failures are returned as problems.
func connectSites(ctx context.Context, cfg *daemon.Config, clients []*qrs.Client, w io.Writer) error {
	var errs []error
	for i, s := range cfg.Sites {
		start := time.Now()
		about, err := clients[i].ReadOnly().About(ctx)
		if err != nil {
			errs = append(errs, err) // the client's errors name the site
			continue
		}
		fmt.Fprintf(w, "site %s: ok, QRS %s at %s:%d answered in %s\n", s.Alias, about.BuildVersion, s.Host, s.Port, time.Since(start).Round(time.Millisecond))
	}
	return errors.Join(errs...)
}

// printProblems prints every problem of a joined error on its own line and
// returns exit status 1.
func printProblems(w io.Writer, err error) error {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			fmt.Fprintln(w, e)
		}
	} else {
		fmt.Fprintln(w, err)
	}
	return exitError{1}
}
