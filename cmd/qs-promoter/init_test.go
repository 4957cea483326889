package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	qspromoter "github.com/qs-promoter/qs-promoter"
	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// TestInitLaysOutAnInstallation: init writes the starter configuration,
// a certificate folder per site and the shipped policies; check --config
// then reports only the missing certificates and the placeholder hosts;
// a second init keeps every file as it is.
func TestInitLaysOutAnInstallation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "qsp")
	code, out, errOut := runCmd(t, "init", dir)
	if code != 0 {
		t.Fatalf("init: %d %s %s", code, out, errOut)
	}
	for _, want := range []string{"wrote ", "qs-promoter check --config " + filepath.Join(dir, "qs-promoter.yaml") + " --connect", "service install"} {
		if !strings.Contains(out, want) {
			t.Errorf("init's output lacks %q:\n%s", want, out)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "qs-promoter.yaml"))
	if err != nil || !bytes.Equal(cfg, qspromoter.ExampleConfig) {
		t.Fatalf("qs-promoter.yaml is not the starter configuration (%v)", err)
	}
	for _, alias := range []string{"dev", "test", "prod"} {
		b, err := os.ReadFile(filepath.Join(dir, "certs", alias, "README.md"))
		if err != nil || !strings.Contains(string(b), "Add machine name") || !strings.Contains(string(b), "site "+alias) {
			t.Errorf("certs/%s/README.md: %v\n%s", alias, err, b)
		}
		if fi, err := os.Stat(filepath.Join(dir, "certs", alias)); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("certs/%s: %v, want a folder only its owner reads", alias, fi.Mode())
		}
	}
	for _, p := range []string{"30-approval.yaml", "workflow_test.yaml", "README.md"} {
		if _, err := os.Stat(filepath.Join(dir, "policies", p)); err != nil {
			t.Errorf("policies/%s: %v", p, err)
		}
	}

	code, out, _ = runCmd(t, "check", "--config", filepath.Join(dir, "qs-promoter.yaml"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 7 {
		t.Fatalf("check on the starter: exit %d, %d problems, want 7 (3 certificate folders, 3 hosts, callback_url):\n%s", code, len(lines), out)
	}
	for _, l := range lines {
		if !strings.Contains(l, "no certificates yet (client.pem, client_key.pem, root.pem): in the QMC of site") &&
			!strings.Contains(l, "is the starter's placeholder") {
			t.Errorf("check on the starter reports more than certificates and placeholders: %s", l)
		}
	}

	mine := []byte("# mine\n")
	if err := os.WriteFile(filepath.Join(dir, "qs-promoter.yaml"), mine, 0o640); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCmd(t, "init", dir)
	if code != 0 || !strings.Contains(out, "kept "+filepath.Join(dir, "qs-promoter.yaml")) || !strings.Contains(out, "wrote 0 files") {
		t.Errorf("init again: %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "qs-promoter.yaml")); !bytes.Equal(b, mine) {
		t.Error("init again overwrote qs-promoter.yaml")
	}
	if code, _, errOut := runCmd(t, "init", dir, "other"); code != 2 || !strings.Contains(errOut, "one folder at most") {
		t.Errorf("init with two folders: %d %s", code, errOut)
	}
}

// TestInitThenSimulatorConnectsAndServes does what the README tells a new
// admin: init, put each site's certificates into certs/<alias>/, set the
// hosts; then check --config --connect passes and serve runs.
func TestInitThenSimulatorConnectsAndServes(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runCmd(t, "init", dir); code != 0 {
		t.Fatalf("init: %d %s %s", code, out, errOut)
	}
	sim, err := qrssim.Start(qrssim.Options{CertDir: filepath.Join(t.TempDir(), "simcerts"), Sites: []qrssim.SiteOptions{
		{Alias: "dev", Seed: qrssim.DefaultSeed("dev")}, {Alias: "test", Seed: qrssim.DefaultSeed("test")},
		{Alias: "prod", Seed: qrssim.DefaultSeed("prod")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()

	cfgPath := filepath.Join(dir, "qs-promoter.yaml")
	text, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, alias := range []string{"dev", "test", "prod"} {
		site := sim.Site(alias)
		for _, f := range []string{qrs.ClientCertFile, qrs.ClientKeyFile, qrs.RootCertFile} {
			b, err := os.ReadFile(filepath.Join(site.CertDir(), f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "certs", alias, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		host := regexp.MustCompile(`host: qlik-` + alias + `\.company\.com`)
		text = host.ReplaceAll(text, fmt.Appendf(nil, "host: localhost\n    port: %d", site.Port()))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	text = bytes.Replace(text, []byte("callback_url: http://promoter.company.com:5000"), fmt.Appendf(nil, "callback_url: http://127.0.0.1:%d", port), 1)
	text = regexp.MustCompile(`(?m)^# listen: .*$`).ReplaceAll(text, fmt.Appendf(nil, "listen: 127.0.0.1:%d", port))
	if err := os.WriteFile(cfgPath, text, 0o640); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCmd(t, "check", "--config", cfgPath, "--connect")
	if code != 0 {
		t.Fatalf("check --config --connect after init: %d\n%s%s", code, out, errOut)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() { done <- run(ctx, []string{"serve", "--config", cfgPath}, &bytes.Buffer{}, &stderr) }()
	ready := false
	for deadline := time.Now().Add(30 * time.Second); !ready && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err == nil {
			ready = resp.StatusCode == http.StatusOK
			resp.Body.Close()
		}
	}
	if !ready {
		t.Errorf("serve from the init layout never became ready:\n%s", stderr.String())
	}
	if n := len(sim.Site("dev").Subscriptions()); ready && n == 0 {
		t.Error("serve is ready but did not subscribe to the watched site")
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s")
	}
}
