package daemon

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testHash is a bcrypt hash (cost 4) of "correct horse".
const testHash = "$2a$04$Y17RespN40DEFb6FjiY1XenU0omxb49vIPklbwipVBOGq/B1sfNbG"

func TestConsoleConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "session.key"), []byte(strings.Repeat("k", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("QSP_TEST_METRICS_TOKEN", "0123456789abcdef0123")
	cfg, err := ParseConfig(filepath.Join(dir, "c.yaml"), []byte(`sites: [{alias: dev, host: h}]
console:
  users:
    - {name: ann, password_hash: "`+testHash+`"}
    - {name: vic, password_hash: "`+testHash+`", role: viewer}
  session_key_file: session.key
  metrics_token_env: QSP_TEST_METRICS_TOKEN
`))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Console
	if c.Listen != DefaultConsoleListen || c.Users[0].Role != RoleOperator || c.Users[1].Role != RoleViewer ||
		c.SessionKey != strings.Repeat("k", 40) || c.MetricsToken != "0123456789abcdef0123" || c.SessionKeyFile != filepath.Join(dir, "session.key") {
		t.Errorf("console: %+v", c)
	}
	if u, ok := c.User("VIC"); !ok || u.Name != "vic" {
		t.Errorf("User(VIC) = %+v, %v", u, ok)
	}

	site := "sites: [{alias: dev, host: h}]\n"
	user := "    - {name: ann, password_hash: \"" + testHash + "\"}\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"no users", site + "console:\n  listen: 127.0.0.1:5001\n", "c.yaml:2:1: console.users: list at least one user"},
		{"empty console", site + "console: {}\n", "c.yaml:2:1: console.users: list at least one user"},
		{"password in the file", site + "console:\n  users:\n    - {name: ann, password: hunter2}\n", "c.yaml:4:19: console.users[0].password: a console password is never written in the config file: run `qs-promoter hash-password`"},
		{"not a hash", site + "console:\n  users:\n    - {name: ann, password_hash: hunter2}\n", "c.yaml:4:34: console.users[0].password_hash: not a bcrypt hash"},
		{"no hash", site + "console:\n  users:\n    - name: ann\n", "c.yaml:4:7: console.users[0]: password_hash is required: run `qs-promoter hash-password`"},
		{"bad role", site + "console:\n  users:\n    - {name: ann, password_hash: \"" + testHash + "\", role: admin}\n", `console.users[0].role: "admin" is not operator or viewer`},
		{"twice", site + "console:\n  users:\n" + user + "    - {name: ANN, password_hash: \"" + testHash + "\"}\n", `c.yaml:5:14: console.users[1].name: "ANN" is used by another user`},
		{"same port", site + "listen: :5001\nconsole:\n  users:\n" + user, `c.yaml:3:1: console.listen: "127.0.0.1:5001" is the callback listener's address (listen: :5001); give the console a port of its own`},
		{"bad listen", site + "console:\n  listen: localhost\n  users:\n" + user, `c.yaml:3:11: console.listen: "localhost" is not host:port`},
		{"key env missing", site + "console:\n  session_key_env: QSP_TEST_NOT_SET\n  users:\n" + user, "c.yaml:3:20: console: session_key_env names the environment variable QSP_TEST_NOT_SET, which is not set (a Windows service inherits no shell's environment: use session_key_file)"},
		{"key too short", site + "console:\n  session_key_env: QSP_TEST_METRICS_TOKEN\n  users:\n" + user, "console: the session key is 20 characters long; use at least 32"},
		{"key in the file", site + "console:\n  session_key: x\n  users:\n" + user, "c.yaml:3:3: console.session_key: the session key is a secret and is never read from the config file: use session_key_env"},
		{"both env and file", site + "console:\n  metrics_token_env: A\n  metrics_token_file: b\n  users:\n" + user, "console: give metrics_token_env or metrics_token_file, not both"},
		{"tls half", site + "console:\n  tls: {cert: c.pem}\n  users:\n" + user, "c.yaml:3:3: console.tls: give both cert and key"},
		{"tls missing files", site + "console:\n  tls: {cert: c.pem, key: k.pem}\n  users:\n" + user, "c.yaml:3:15: console.tls: cannot use"},
	} {
		_, err := ParseConfig("c.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got\n%v\nwant %s", tc.name, err, tc.want)
		}
	}
}

// With a console, /status, /-/reload, /metrics and /readyz leave the
// callback listener, which keeps /callback/… and /healthz; the console's
// handler serves on its own listener. A console configured but not
// attached is an error.
func TestConsoleListenerTakesTheAdminEndpoints(t *testing.T) {
	h := newHarness(t)
	h.cfgExtra = "console:\n  users:\n    - {name: ann, password_hash: \"" + testHash + "\"}\n"
	cfg, err := LoadConfig(h.writeConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "built without the console") {
		t.Fatalf("New without WithConsole: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var got *Daemon
	h.opts = []Option{WithConsoleListener(ln), WithConsole(func(d *Daemon) (http.Handler, error) {
		got = d
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "console at "+r.URL.Path) }), nil
	})}
	h.start()
	if got != h.d || h.d.ConsoleURL() != "http://"+ln.Addr().String() {
		t.Fatalf("the console was built on %p (want %p) at %s", got, h.d, h.d.ConsoleURL())
	}
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", h.port)
	if code, _ := get(base + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz on the callback listener: %d", code)
	}
	for _, p := range []string{"/readyz", "/metrics", "/status"} {
		if code, _ := get(base + p); code != http.StatusNotFound {
			t.Errorf("%s on the callback listener with a console: %d, want 404", p, code)
		}
	}
	if code, _ := h.post("/-/reload", nil); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("POST /-/reload on the callback listener with a console: %d", code)
	}
	if code, body := get(h.d.ConsoleURL() + "/status"); code != http.StatusOK || body != "console at /status" {
		t.Errorf("the console listener: %d %q", code, body)
	}
}
