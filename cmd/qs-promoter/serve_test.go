package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// simConfig starts a simulated dev (watched) and test site and writes a
// configuration for them in dir; it returns the file and the listen port.
func simConfig(t *testing.T, dir, extra string) (string, int) {
	t.Helper()
	sim, err := qrssim.Start(qrssim.Options{CertDir: filepath.Join(dir, "certs"), Sites: []qrssim.SiteOptions{
		{Alias: "dev", Seed: qrssim.DefaultSeed("dev")}, {Alias: "test", Seed: qrssim.DefaultSeed("test")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	policies, err := filepath.Abs("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dev, test := sim.Site("dev"), sim.Site("test")
	text := fmt.Sprintf(`sites:
  - {alias: dev, host: localhost, port: %d, certs: %s, watch: true}
  - {alias: test, host: localhost, port: %d, certs: %s}
listen: 127.0.0.1:%d
callback_url: http://127.0.0.1:%d
policies: %s
state_dir: data
drain_timeout: 5s
%s`, dev.Port(), dev.CertDir(), test.Port(), test.CertDir(), port, port, policies, extra)
	p := filepath.Join(dir, "qs-promoter.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, port
}
