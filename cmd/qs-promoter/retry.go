package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/qs-promoter/qs-promoter/daemon"
)

func init() {
	commands["retry"] = command{summary: "run a failed execution again (asks the running daemon)", run: runRetry}
}

func runRetry(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("retry", "retry [--config FILE] [--url URL] EXECUTION-ID", stderr)
	cfgPath := fs.String("config", "qs-promoter.yaml", "the daemon's configuration file (its listen address is asked)")
	base := fs.String("url", "", "the daemon's address, e.g. http://promoter.company.com:5000 (default: listen in the configuration, on this host)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "qs-promoter retry: name one execution ID (as in the failure e-mail, the audit log or GET /status)")
		fs.Usage()
		return errUsage
	}
	id := fs.Arg(0)
	if *base == "" {
		listen, err := listenAddress(*cfgPath)
		if err != nil {
			return err
		}
		*base = "http://" + listen
	}
	target := strings.TrimRight(*base, "/") + "/-/retry/" + url.PathEscape(id)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, nil)
	if err != nil {
		return fmt.Errorf("--url %q: %w", *base, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the daemon at %s (is `qs-promoter serve` running there? --url names another address): %w", *base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusAccepted {
		return errors.New(msg)
	}
	fmt.Fprintln(stdout, msg)
	return nil
}

// listenAddress reads the listen key of the daemon's configuration (only
// it: the secrets the rest names need not be at hand), as an address to
// reach it on this host.
func listenAddress(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read config (--config names it, or --url the daemon): %w", err)
	}
	var cfg struct {
		Listen string `yaml:"listen"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	listen := cfg.Listen
	if listen == "" {
		listen = daemon.DefaultListen
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("%s: listen %q is not host:port", path, listen)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1" // listening on every address: this host's loopback is one
	}
	return net.JoinHostPort(host, port), nil
}
