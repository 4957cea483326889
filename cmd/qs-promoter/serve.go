package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/qs-promoter/qs-promoter/console"
	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/service"
)

func init() {
	commands["serve"] = command{summary: "run the daemon: watch the sites, evaluate the policies, act", run: runServe}
}

type serveFlags struct {
	config, format, logFile string
	stderr                  io.Writer
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve --config FILE [--log-format text|json] [--log-file FILE]", stderr)
	f := serveFlags{stderr: stderr}
	fs.StringVar(&f.config, "config", "qs-promoter.yaml", "the daemon's configuration file")
	fs.StringVar(&f.format, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logFile, "log-file", "", "log to this file (rotated at 20 MB, 5 kept) instead of stderr; a Windows service logs to state_dir\\logs\\qs-promoter.log")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "qs-promoter serve: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if f.format != "text" && f.format != "json" {
		fmt.Fprintf(stderr, "qs-promoter serve: --log-format %q: want text or json\n", f.format)
		return errUsage
	}
	serve := func(ctx context.Context, s *service.Session) error { return serveDaemon(ctx, s, f) }

	// The same serve runs under the Windows SCM, systemd and a terminal;
	// only who sends the requests and hears the states differs.
	if ok, err := service.IsWindowsService(); err != nil {
		return err
	} else if ok {
		return service.RunWindowsService(serve)
	}
	rep, err := service.SystemdFromEnv(slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	// SIGHUP reloads the policies (POST /-/reload does the same); the
	// outcome is logged, and a bad set leaves the old one in force.
	// SIGTERM and Ctrl-C end ctx (main): a stop.
	reqs := make(chan service.Request)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	defer func() { signal.Stop(hup); close(done) }()
	go func() {
		for {
			select {
			case <-hup:
				select {
				case reqs <- service.Reload:
				case <-done:
					return
				}
			case <-done:
				return
			}
		}
	}()
	c := &service.Control{Reporter: rep}
	return c.Run(ctx, reqs, serve)
}

// serveDaemon loads the configuration, sets up the log and runs the daemon
// in the session.
func serveDaemon(ctx context.Context, s *service.Session, f serveFlags) error {
	cfg, err := daemon.LoadConfig(f.config)
	if err != nil {
		return startProblems(f.stderr, err)
	}
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	out := f.stderr
	logFile := f.logFile
	if logFile == "" && s.Detached {
		logFile = filepath.Join(cfg.StateDir, "logs", "qs-promoter.log")
	}
	if logFile != "" {
		w, err := service.OpenLogFile(logFile)
		if err != nil {
			return err
		}
		defer w.Close()
		out = w
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(out, hopts)
	if f.format == "json" {
		h = slog.NewJSONHandler(out, hopts)
	}
	fileOnly := slog.New(h)
	if s.EventLog != nil {
		h = service.EventLogHandler(h, s.EventLog)
	}
	logger := slog.New(h)
	d, err := daemon.New(cfg, daemon.WithLogger(logger), daemon.OnReady(s.Ready), console.Attach(console.Options{Log: logger}))
	if err != nil {
		if s.Detached {
			// A terminal shows the returned error; a service's log file
			// would not (the event log gets it from Control).
			fileOnly.Error("cannot start", "err", err)
		}
		return startProblems(f.stderr, err)
	}
	return s.Run(ctx, d)
}

// startProblems prints why the daemon cannot start, one problem a line
// (each at its file:line:col when it has one), and returns exit status 1.
func startProblems(w io.Writer, err error) error {
	fmt.Fprintln(w, "qs-promoter serve: cannot start:")
	return printProblems(w, err)
}
