package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/yamlread"
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

// options returns the policy folder and the load options every command
// shares with the daemon (daemon.PolicyOptions): from the configuration
// when there is one, else from --sites. A configuration with problems is
// returned too (as far as it could be read), with them as the error, so
// that check can report everything at once.
func (pf *policyFlags) options(dirArg string) (engine.LoadOptions, string, *daemon.Config, error) {
	dir := *pf.policies
	if dirArg != "" {
		dir = dirArg
	}
	var cfg *daemon.Config
	var err error
	if *pf.config != "" {
		cfg, err = daemon.LoadConfig(*pf.config)
		if cfg == nil {
			return engine.LoadOptions{}, "", nil, err
		}
		if dir == "" {
			dir = cfg.Policies
		}
	}
	var sites []string
	for _, s := range strings.Split(*pf.sites, ",") {
		if s = strings.TrimSpace(s); s != "" {
			sites = append(sites, s)
		}
	}
	if dir == "" {
		dir = "policies"
	}
	return daemon.PolicyOptions(cfg, sites), dir, cfg, err
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
	opts, dir, cfg, cfgErr := pf.options("")
	if cfg == nil && cfgErr != nil {
		return printProblems(stdout, cfgErr) // the file could not be read at all
	}
	// Everything at once: the configuration, every site's certificates
	// (read as serve reads them; no site is contacted) and the policies,
	// against the configuration's vars.
	clients, certErrs := checkSiteCerts(cfg, stderr)
	var placeholders error
	if cfg != nil {
		placeholders = cfg.Placeholders()
	}
	rs, loadErr := engine.Load(dir, opts)
	var connErrs error
	if *connect && cfgErr == nil && certErrs == nil {
		connErrs = connectSites(ctx, cfg, clients, stdout)
	}
	if err := errors.Join(cfgErr, certErrs, placeholders, loadErr, connErrs); err != nil {
		return printProblems(stdout, err)
	}
	fmt.Fprintf(stdout, "ok: %d files, %d policies (revision %s)\n", len(rs.Files), len(rs.Policies), rs.Revision)
	return nil
}

// checkSiteCerts loads every configured site's certificate folder as the
// daemon does, without connecting, and returns the clients (in the order of
// cfg.Sites). A problem is placed at the site's certs: value. Warnings (an
// expired certificate) go to warn; a nil cfg checks nothing, and a site
// without an alias or host is left to the configuration's own problems.
func checkSiteCerts(cfg *daemon.Config, warn io.Writer) ([]*qrs.Client, error) {
	if cfg == nil {
		return nil, nil
	}
	var clients []*qrs.Client
	var errs []error
	for i, s := range cfg.Sites {
		if s.Alias == "" || s.Host == "" {
			clients = append(clients, nil)
			continue
		}
		qc := cfg.QRSConfig(s)
		qc.Log = slog.New(slog.NewTextHandler(warn, nil))
		qc.MaxAttempts = 1 // check --connect says at once how a site answers
		c, err := qrs.NewClient(qc)
		if err != nil {
			errs = append(errs, cfg.SiteError(i, err))
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

// printProblems prints every problem of a (joined) error on its own line,
// positioned ones in file order, and returns exit status 1.
func printProblems(w io.Writer, err error) error {
	errs := flatten(err)
	yamlread.Sort(errs)
	for _, e := range errs {
		fmt.Fprintln(w, e)
	}
	return exitError{1}
}

// flatten lists the problems of errors joined, at any depth.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
