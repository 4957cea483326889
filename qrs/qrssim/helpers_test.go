package qrssim

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests talk to the simulator with crypto/tls and net/http only, not
// with package qrs's client, so that they check the wire protocol itself.

const testKey = "0123456789abcdef"

// startSim starts a simulator with the given sites and closes it after the test.
func startSim(t testing.TB, sites ...SiteOptions) *Sim {
	t.Helper()
	sim, err := Start(Options{Sites: sites})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sim.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return sim
}

// raw is an HTTP client for one site using the site's certificate folder.
type raw struct {
	t    testing.TB
	site *Site
	hc   *http.Client
	user string // X-Qlik-User; "" none
}

func tlsConfig(t testing.TB, dir string, withCert bool) *tls.Config {
	t.Helper()
	rootPEM, err := os.ReadFile(filepath.Join(dir, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatal("root.pem holds no certificate")
	}
	cfg := &tls.Config{RootCAs: roots}
	if withCert {
		cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client_key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

func newRaw(t testing.TB, site *Site) *raw {
	tr := &http.Transport{TLSClientConfig: tlsConfig(t, site.CertDir(), true)}
	t.Cleanup(tr.CloseIdleConnections)
	return &raw{t: t, site: site, hc: &http.Client{Transport: tr, Timeout: 20 * time.Second},
		user: "UserDirectory=INTERNAL;UserId=sa_api"}
}

// req sends a request with a valid xrfkey; query is "a=b&c=d" (unencoded
// values are encoded), body a string, []byte, io.Reader or a value to
// marshal as JSON.
func (c *raw) req(method, path string, query url.Values, body any) (int, []byte, http.Header) {
	c.t.Helper()
	if query == nil {
		query = url.Values{}
	}
	query.Set("xrfkey", testKey)
	hdr := http.Header{"X-Qlik-Xrfkey": {testKey}}
	return c.send(method, c.site.URL()+path+"?"+query.Encode(), hdr, body)
}

func (c *raw) send(method, u string, hdr http.Header, body any) (int, []byte, http.Header) {
	c.t.Helper()
	var r io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	case io.Reader:
		r, ctype = b, "application/vnd.qlik.sense.app"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.user != "" {
		req.Header.Set("X-Qlik-User", c.user)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the answer: %v", method, u, err)
	}
	return resp.StatusCode, b, resp.Header
}

// ok sends a request, requires the status and decodes the JSON answer into out.
func (c *raw) ok(want int, method, path string, query url.Values, body, out any) {
	c.t.Helper()
	status, b, _ := c.req(method, path, query, body)
	if status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// q builds query values from pairs.
func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// appJSON is the generic JSON of an app (keeps every field for PUTs).
type appJSON map[string]any

func (a appJSON) str(k string) string { s, _ := a[k].(string); return s }
