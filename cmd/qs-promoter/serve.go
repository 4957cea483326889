package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/qs-promoter/qs-promoter/daemon"
)

func init() {
	commands["serve"] = command{summary: "run the daemon: watch the sites, evaluate the policies, act", run: runServe}
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve --config FILE [--log-format text|json]", stderr)
	cfgPath := fs.String("config", "qs-promoter.yaml", "the daemon's configuration file")
	format := fs.String("log-format", "text", "log format: text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "qs-promoter serve: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	cfg, err := daemon.LoadConfig(*cfgPath)
	if err != nil {
		return startProblems(stderr, err)
	}
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	hopts := &slog.HandlerOptions{Level: level}
	var logger *slog.Logger
	switch *format {
	case "text":
		logger = slog.New(slog.NewTextHandler(stderr, hopts))
	case "json":
		logger = slog.New(slog.NewJSONHandler(stderr, hopts))
	default:
		fmt.Fprintf(stderr, "qs-promoter serve: --log-format %q: want text or json\n", *format)
		return errUsage
	}
	d, err := daemon.New(cfg, daemon.WithLogger(logger))
	if err != nil {
		return startProblems(stderr, err)
	}
	// SIGHUP reloads the policies (POST /-/reload does the same); the
	// outcome is logged, and a bad set leaves the old one in force.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer func() { signal.Stop(hup); close(hup) }() // ends the goroutine below
	go func() {
		for range hup {
			_ = d.Reload()
		}
	}()
	return d.Run(ctx)
}

// startProblems prints why the daemon cannot start, one problem a line
// (each at its file:line:col when it has one), and returns exit status 1.
func startProblems(w io.Writer, err error) error {
	fmt.Fprintln(w, "qs-promoter serve: cannot start:")
	return printProblems(w, err)
}
