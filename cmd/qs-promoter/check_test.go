package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// check --config reads every site's certificate folder as serve does, so a
// wrong certs path is reported by check, together with the policy problems,
// instead of only when the daemon starts.
func TestCheckConfigCertificates(t *testing.T) {
	dir := t.TempDir()
	sim, err := qrssim.Start(qrssim.Options{CertDir: filepath.Join(dir, "certs"), Sites: []qrssim.SiteOptions{
		{Alias: "dev", Seed: qrssim.DefaultSeed("dev")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	dev := sim.Site("dev")
	policies, err := filepath.Abs("../../policies") // relative paths in a config are resolved against its folder
	if err != nil {
		t.Fatal(err)
	}
	writeConfig := func(testCerts string) string {
		p := filepath.Join(dir, "config.yaml")
		text := fmt.Sprintf(`callback_url: http://127.0.0.1:5000
policies: %s
sites:
  - {alias: dev, host: localhost, port: %d, certs: %s, watch: true}
  - {alias: test, host: localhost, port: 4242, certs: %s}
`, policies, dev.Port(), dev.CertDir(), testCerts)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	p := writeConfig(dev.CertDir()) // any valid folder: check does not connect
	if code, out, errOut := runCmd(t, "check", "--config", p); code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Errorf("check with valid certificates: %d %q %q", code, out, errOut)
	}

	missing := filepath.Join(dir, "cert", "test")
	p = writeConfig(missing)
	code, out, _ := runCmd(t, "check", "--config", p)
	col := len("  - {alias: test, host: localhost, port: 4242, certs: ") + 1 // the certs: value
	want := fmt.Sprintf("%s:5:%d: qrs: site \"test\": %s: no certificates yet (client.pem, client_key.pem, root.pem): in the QMC of site test", p, col, missing)
	if code != 1 || !strings.HasPrefix(out, want) {
		t.Errorf("check with a missing certs folder: exit %d, want a line starting %q:\n%s", code, want, out)
	}
	if strings.Contains(out, "ok: ") {
		t.Errorf("check says ok despite the missing certificates:\n%s", out)
	}
}

// check --connect calls every site read-only and names the one that does
// not answer.
func TestCheckConnect(t *testing.T) {
	dir := t.TempDir()
	sim, err := qrssim.Start(qrssim.Options{CertDir: filepath.Join(dir, "certs"), Sites: []qrssim.SiteOptions{
		{Alias: "dev", Seed: qrssim.DefaultSeed("dev")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	dev := sim.Site("dev")
	policies, err := filepath.Abs("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "config.yaml")
	// test points at a port where nothing listens any more.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	text := fmt.Sprintf(`callback_url: http://127.0.0.1:5000
policies: %s
sites:
  - {alias: dev, host: localhost, port: %d, certs: %s, watch: true}
  - {alias: test, host: localhost, port: %d, certs: %s, connect_timeout: 2s}
`, policies, dev.Port(), dev.CertDir(), closed, dev.CertDir())
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd(t, "check", "--config", p, "--connect")
	t.Log(out)
	if code != 1 || !strings.Contains(out, "site dev: ok, QRS ") || !strings.Contains(out, "qrs test: GET /qrs/about: ") || strings.Contains(out, "ok: ") {
		t.Errorf("check --connect: exit %d\n%s", code, out)
	}
	if w := dev.Writes(); len(w) != 0 {
		t.Errorf("check --connect wrote to the site: %+v", w)
	}
	if code, _, errOut := runCmd(t, "check", "--connect"); code != 2 || !strings.Contains(errOut, "needs --config") {
		t.Errorf("check --connect without --config: %d %q", code, errOut)
	}
}
