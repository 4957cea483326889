package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSimCommand runs `qs-promoter sim` and makes the curl call of docs/simulator.md
// with Go: the certificates it wrote, the xrfkey in query and header.
func TestSimCommand(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runSim(ctx, []string{"--sites", "dev,test", "--base-port", "0", "--certs", dir}, outW, io.Discard)
		outW.Close()
	}()

	urls := map[string]string{}
	sc := bufio.NewScanner(outR)
	for sc.Scan() {
		line := sc.Text()
		if line == "ready" {
			break
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Fatalf("unexpected output line %q", line)
		}
		urls[f[0]] = f[1]
	}
	go io.Copy(io.Discard, outR)
	if len(urls) != 2 || !strings.HasPrefix(urls["dev"], "https://localhost:") {
		t.Fatalf("site lines: %v (err %v)", urls, sc.Err())
	}

	certs := filepath.Join(dir, "dev")
	cert, err := tls.LoadX509KeyPair(filepath.Join(certs, "client.pem"), filepath.Join(certs, "client_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, err := os.ReadFile(filepath.Join(certs, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots}}
	defer tr.CloseIdleConnections()
	// curl … 'https://127.0.0.1:PORT/qrs/about?xrfkey=0123456789abcdef' -H 'X-Qlik-Xrfkey: 0123456789abcdef'
	u := strings.Replace(urls["dev"], "localhost", "127.0.0.1", 1) + "/qrs/about?xrfkey=0123456789abcdef"
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("X-Qlik-Xrfkey", "0123456789abcdef")
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var about map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&about); err != nil || resp.StatusCode != 200 || about["buildVersion"] == nil {
		t.Fatalf("about: %s %v %v", resp.Status, about, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sim returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sim did not stop when its context ended")
	}
}

func TestSimCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apps: [{name: x}]\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sites", "dev", "--seed", "prod=" + bad}, `--seed names site "prod", which is not in --sites dev`},
		{[]string{"--sites", "dev", "--seed", bad}, bad + `: seed: apps[0] (x): owner "" must be DIRECTORY\user, e.g. CORP\sales_rep`},
		{[]string{"--sites", "dev,dev"}, `qrssim: site alias "dev" is given twice`},
	} {
		err := runSim(context.Background(), append(tc.args, "--certs", dir, "--base-port", "0"), io.Discard, io.Discard)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v:\ngot  %v\nwant %s", tc.args, err, tc.want)
		}
	}
}
