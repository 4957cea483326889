package qrs_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/qrs"
)

// tlsServer is an httptest server doing mutual TLS with certificates from ca.
func tlsServer(t *testing.T, ca *testCA, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = ca.serverTLS(t)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func siteFor(srv *httptest.Server, alias, dir string) qrs.SiteConfig {
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return qrs.SiteConfig{Alias: alias, Host: host, Port: p, CertDir: dir, RetryBackoff: 1}
}

func aboutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"buildVersion":"38.22.0","schemaPath":"About"}`))
	})
}

func TestKeyFormats(t *testing.T) {
	ca := newCA(t, "site CA")
	srv := tlsServer(t, ca, aboutHandler())
	for _, tc := range []struct {
		name   string
		format keyFormat
		mangle func([]byte) []byte
	}{
		{"pkcs1", pkcs1, nil},
		{"pkcs8", pkcs8, nil},
		{"ec", ecKey, nil},
		{"crlf-bom", pkcs8, func(b []byte) []byte {
			return append([]byte("\xef\xbb\xbf"), bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := ca.writeClientCerts(t, tc.format)
			if tc.mangle != nil {
				for _, f := range []string{"client.pem", "client_key.pem", "root.pem"} {
					p := filepath.Join(dir, f)
					writeFile(t, p, tc.mangle(readFile(t, p)))
				}
			}
			c, err := qrs.NewClient(siteFor(srv, "dev", dir))
			if err != nil {
				t.Fatal(err)
			}
			a, err := c.About(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if a.BuildVersion != "38.22.0" {
				t.Errorf("buildVersion %q", a.BuildVersion)
			}
		})
	}
}

func TestCertificateErrors(t *testing.T) {
	ca := newCA(t, "site CA")
	good := ca.writeClientCerts(t, ecKey)
	other := newCA(t, "other CA").writeClientCerts(t, ecKey)

	copyDir := func(t *testing.T) string {
		dir := t.TempDir()
		for _, f := range []string{"client.pem", "client_key.pem", "root.pem"} {
			writeFile(t, filepath.Join(dir, f), readFile(t, filepath.Join(good, f)))
		}
		return dir
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"missing client.pem", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "client.pem")) },
			[]string{`site "prod"`, "client.pem", "file not found", "export the client certificate from the QMC"}},
		{"missing key", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "client_key.pem")) },
			[]string{`site "prod"`, "client_key.pem", "file not found", "Include secret key"}},
		{"missing root", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "root.pem")) },
			[]string{`site "prod"`, "root.pem", "file not found", "export root.pem from the QMC"}},
		{"not pem", func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "client.pem"), []byte("hello")) },
			[]string{`site "prod"`, "client.pem", "holds no PEM certificate", "PEM format"}},
		{"encrypted pkcs8", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "client_key.pem"), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}}))
		}, []string{`site "prod"`, "client_key.pem", "export the certificates without a password"}},
		{"encrypted legacy", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "client_key.pem"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
				Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"}, Bytes: []byte{1, 2, 3}}))
		}, []string{"client_key.pem", "export the certificates without a password"}},
		{"key of another certificate", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "client_key.pem"), readFile(t, filepath.Join(other, "client_key.pem")))
		}, []string{"client_key.pem", "does not belong to the certificate in client.pem"}},
		{"empty root", func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "root.pem"), nil) },
			[]string{"root.pem", "holds no PEM certificate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t)
			tc.setup(t, dir)
			_, err := qrs.NewClient(qrs.SiteConfig{Alias: "prod", Host: "qlik.example.test", CertDir: dir})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	dir := newCA(t, "ca").writeClientCerts(t, ecKey)
	for _, tc := range []struct {
		cfg  qrs.SiteConfig
		want string
	}{
		{qrs.SiteConfig{Alias: "a", CertDir: dir}, "host is empty"},
		{qrs.SiteConfig{Alias: "a", Host: "h"}, "certificate folder is not set"},
		{qrs.SiteConfig{Alias: "a", Host: "h", CertDir: dir, Port: 70000}, "not a TCP port"},
		{qrs.SiteConfig{Alias: "a", Host: "h", CertDir: dir, User: "sa_api"}, `INTERNAL\sa_api`},
	} {
		_, err := qrs.NewClient(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want it to mention %q", tc.cfg, err, tc.want)
		}
	}
}

func TestVerification(t *testing.T) {
	ca := newCA(t, "site CA")
	srv := tlsServer(t, ca, aboutHandler())
	ctx := context.Background()

	t.Run("wrong CA names site and root.pem", func(t *testing.T) {
		dir := ca.writeClientCerts(t, ecKey)
		writeFile(t, filepath.Join(dir, "root.pem"), newCA(t, "another CA").pem)
		c, err := qrs.NewClient(siteFor(srv, "prod", dir))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.About(ctx)
		if err == nil {
			t.Fatal("a server signed by another CA was trusted")
		}
		for _, w := range []string{`site "prod"`, filepath.Join(dir, "root.pem"), "could not be verified"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
		if qrs.IsRetryable(err) {
			t.Error("a verification failure is reported retryable")
		}
	})

	t.Run("server name", func(t *testing.T) {
		dir := ca.writeClientCerts(t, ecKey)
		cfg := siteFor(srv, "prod", dir)
		cfg.ServerName = "not-in-the-cert.example"
		c, err := qrs.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.About(ctx); err == nil || !strings.Contains(err.Error(), "server_name") {
			t.Fatalf("error %v, want a hint at server_name", err)
		}
		cfg.ServerName = "qlik.example.test"
		c, err = qrs.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.About(ctx); err != nil {
			t.Fatalf("with the server name in the certificate: %v", err)
		}
	})

	t.Run("insecure skip verify warns", func(t *testing.T) {
		dir := ca.writeClientCerts(t, ecKey)
		writeFile(t, filepath.Join(dir, "root.pem"), newCA(t, "another CA").pem)
		var logs bytes.Buffer
		cfg := siteFor(srv, "prod", dir)
		cfg.InsecureSkipVerify = true
		cfg.Log = slog.New(slog.NewTextHandler(&logs, nil))
		c, err := qrs.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "NOT verified") {
			t.Errorf("no warning logged: %q", logs.String())
		}
		if _, err := c.About(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("client certificate from another CA is refused", func(t *testing.T) {
		dir := newCA(t, "another CA").writeClientCerts(t, ecKey)
		writeFile(t, filepath.Join(dir, "root.pem"), ca.pem)
		c, err := qrs.NewClient(siteFor(srv, "prod", dir))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.About(ctx)
		if err == nil || !strings.Contains(err.Error(), "client.pem") || qrs.IsRetryable(err) {
			t.Fatalf("error %v: want a non-retryable hint at client.pem", err)
		}
	})
}
