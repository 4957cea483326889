package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/qs-promoter/qs-promoter/actions"
	"github.com/qs-promoter/qs-promoter/daemon"
)

func init() {
	commands["mailtest"] = command{summary: "send a test e-mail with the SMTP settings (as the original's SMTP tester)", run: runMailtest}
}

func runMailtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("mailtest", "mailtest [--config FILE] [--host H] [--port N] [--from ADDR] [--username U] [--password-env VAR | --password-file FILE] [--tls starttls|tls|none] [--ca-file FILE] [--timeout 30s] --to ADDR", stderr)
	configFile := fs.String("config", "", "daemon configuration: its smtp section (the flags below override it)")
	host := fs.String("host", "", "SMTP server")
	port := fs.Int("port", 0, "SMTP port (default 587 for starttls, 465 for tls, 25 for none)")
	from := fs.String("from", "", "sender address")
	to := fs.String("to", "", "recipient of the test message (required)")
	username := fs.String("username", "", "SMTP login (none: no AUTH)")
	passwordEnv := fs.String("password-env", "", "environment variable holding the password")
	passwordFile := fs.String("password-file", "", "file holding the password")
	tlsMode := fs.String("tls", "", "starttls (default), tls (implicit, port 465) or none (local relay)")
	caFile := fs.String("ca-file", "", "PEM roots for a server certificate from a private CA")
	timeout := fs.Duration("timeout", 30*time.Second, "time allowed for the whole SMTP conversation")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *to == "" {
		fmt.Fprintln(stderr, "mailtest: --to is required")
		fs.Usage()
		return errUsage
	}
	var cfg actions.MailConfig
	if *configFile != "" {
		c, err := daemon.LoadConfig(*configFile)
		if err != nil {
			return err
		}
		if c.SMTP == nil {
			return errors.New(*configFile + " has no smtp section")
		}
		cfg = *c.SMTP
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	override := func(name string, dst *string, v string) {
		if set[name] {
			*dst = v
		}
	}
	override("host", &cfg.Host, *host)
	override("from", &cfg.From, *from)
	override("username", &cfg.Username, *username)
	override("password-env", &cfg.PasswordEnv, *passwordEnv)
	override("password-file", &cfg.PasswordFile, *passwordFile)
	override("tls", &cfg.TLS, *tlsMode)
	override("ca-file", &cfg.CAFile, *caFile)
	if set["port"] {
		cfg.Port = *port
	}
	cfg.Timeout = *timeout
	m, err := actions.NewMailer(cfg)
	if err != nil {
		return err
	}
	hostname, _ := os.Hostname()
	err = m.Send(ctx, actions.Message{
		To:      []string{*to},
		Subject: "qs-promoter test message",
		Text: fmt.Sprintf("This is a test message from qs-promoter on %s, sent at %s through %s.\n\n"+
			"If you can read it, the promoter's e-mail settings work.\n", hostname, time.Now().Format(time.RFC1123Z), m.Addr()),
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sent a test message to %s through %s\n", *to, m.Addr())
	return nil
}
