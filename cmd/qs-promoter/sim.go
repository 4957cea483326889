package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

func init() {
	commands["sim"] = command{summary: "run simulated QRS sites (demo, trying policies)", run: runSim}
}

// seedFlags collects --seed values: FILE for every site, or alias=FILE.
type seedFlags map[string]string

func (s seedFlags) String() string { return "" }

func (s seedFlags) Set(v string) error {
	alias, file, ok := strings.Cut(v, "=")
	if !ok {
		alias, file = "*", v
	}
	if file == "" {
		return fmt.Errorf("want FILE or ALIAS=FILE")
	}
	s[strings.ToLower(alias)] = file
	return nil
}

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sim", "sim [--sites dev,test,prod] [--base-port 14242] [--certs DIR] [--seed FILE|ALIAS=FILE]… [--notify-copies N] [-v]", stderr)
	sites := fs.String("sites", "dev,test,prod", "comma-separated site aliases; site i listens on 127.0.0.1, port base-port+i")
	basePort := fs.Int("base-port", 14242, "port of the first site (0: random free ports)")
	certDir := fs.String("certs", "certs/sim", "folder for the certificates: DIR/<alias>/client.pem, client_key.pem, root.pem (kept and reused)")
	seeds := seedFlags{}
	fs.Var(seeds, "seed", "seed YAML for every site (FILE) or for one (ALIAS=FILE); default: the built-in data (dev: source site, others: targets)")
	copies := fs.Int("notify-copies", 1, "notifications fired per change and subscription (real servers often send several)")
	verbose := fs.Bool("v", false, "log every request")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "qs-promoter sim: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	opts := qrssim.Options{CertDir: *certDir, BasePort: *basePort, Log: logger}
	for _, alias := range strings.Split(*sites, ",") {
		alias = strings.TrimSpace(alias)
		if alias == "" {
			continue
		}
		seed := qrssim.DefaultSeed(alias)
		file, ok := seeds[strings.ToLower(alias)]
		if !ok {
			file, ok = seeds["*"]
		}
		if ok {
			var err error
			if seed, err = qrssim.LoadSeedFile(file); err != nil {
				return err
			}
		}
		opts.Sites = append(opts.Sites, qrssim.SiteOptions{Alias: alias, Seed: seed, NotifyCopies: *copies})
	}
	for alias := range seeds {
		if alias != "*" && !siteNamed(opts.Sites, alias) {
			return fmt.Errorf("--seed names site %q, which is not in --sites %s", alias, *sites)
		}
	}
	sim, err := qrssim.Start(opts)
	if err != nil {
		return err
	}
	defer sim.Close()
	for _, s := range sim.Sites() {
		fmt.Fprintf(stdout, "%s %s certs=%s\n", s.Alias(), s.URL(), s.CertDir())
	}
	fmt.Fprintln(stdout, "ready")
	<-ctx.Done()
	return sim.Close()
}

func siteNamed(sites []qrssim.SiteOptions, alias string) bool {
	for _, s := range sites {
		if strings.EqualFold(s.Alias, alias) {
			return true
		}
	}
	return false
}

var _ flag.Value = seedFlags{}
