package daemon

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// ConsoleConfig is the operator's console: a second listener serving the
// console's pages, /status, /metrics, POST /-/reload and the probes, behind
// a login. Without it there is no console, and no /status or /-/reload.
type ConsoleConfig struct {
	Listen string        `yaml:"listen"` // default DefaultConsoleListen
	Users  []ConsoleUser `yaml:"users"`  // at least one
	// The key that signs session cookies (at least 32 characters), so that
	// sessions survive a restart and work on every replica; without one, a
	// key is made once and kept in the store.
	SessionKeyEnv  string `yaml:"session_key_env"`
	SessionKeyFile string `yaml:"session_key_file"`
	// A bearer token that /metrics accepts instead of a session (Prometheus).
	MetricsTokenEnv  string      `yaml:"metrics_token_env"`
	MetricsTokenFile string      `yaml:"metrics_token_file"`
	TLS              *ConsoleTLS `yaml:"tls"`

	// Read at load from the *_env or *_file above ("" when not set).
	SessionKey   string `yaml:"-"`
	MetricsToken string `yaml:"-"`
}

// ConsoleUser is one login of the console.
type ConsoleUser struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password_hash"` // bcrypt, from `qs-promoter hash-password`
	Role         string `yaml:"role"`          // RoleOperator (default) or RoleViewer
}

// ConsoleTLS serves the console over HTTPS.
type ConsoleTLS struct {
	Cert string `yaml:"cert"` // PEM certificate (chain)
	Key  string `yaml:"key"`  // PEM private key
}

// The console's roles: a viewer sees every page but cannot reload, retry,
// run dry-runs or send test e-mails.
const (
	RoleOperator = "operator"
	RoleViewer   = "viewer"
)

// DefaultConsoleListen is where the console listens by default: this
// machine only.
const DefaultConsoleListen = "127.0.0.1:5001"

// Minimum lengths of the console's secrets.
const (
	minSessionKey   = 32
	minMetricsToken = 16
)

// User returns the console user of that name (names are matched in any case).
func (c *ConsoleConfig) User(name string) (ConsoleUser, bool) {
	for _, u := range c.Users {
		if strings.EqualFold(u.Name, name) {
			return u, true
		}
	}
	return ConsoleUser{}, false
}

// checkConsole fills the console's defaults, reads its secrets and checks
// its users and TLS files.
func (c *Config) checkConsole(errorf func(path, format string, args ...any), resolve func(string) string) {
	cc := c.Console
	if cc == nil {
		return
	}
	if cc.Listen == "" {
		cc.Listen = DefaultConsoleListen
	}
	if _, port, err := net.SplitHostPort(cc.Listen); err != nil || port == "" {
		errorf("console.listen", "console.listen: %q is not host:port, e.g. 127.0.0.1:5001", cc.Listen)
	} else if sameListener(cc.Listen, c.Listen) {
		errorf("console.listen", "console.listen: %q is the callback listener's address (listen: %s); give the console a port of its own", cc.Listen, c.Listen)
	}
	if len(cc.Users) == 0 {
		errorf("console.users", "console.users: list at least one user (name, password_hash from `qs-promoter hash-password`, role): a console is never open")
	}
	names := map[string]bool{}
	for i := range cc.Users {
		u := &cc.Users[i]
		p := fmt.Sprintf("console.users[%d]", i)
		switch {
		case strings.TrimSpace(u.Name) == "":
			errorf(p+".name", "%s: name is required (what the user types to log in, and what the audit records name)", p)
		case strings.ContainsAny(u.Name, "|\r\n") || strings.TrimSpace(u.Name) != u.Name:
			errorf(p+".name", "%s.name: %q may not hold |, a line break, or spaces at either end", p, u.Name)
		case names[strings.ToLower(u.Name)]:
			errorf(p+".name", "%s.name: %q is used by another user", p, u.Name)
		}
		names[strings.ToLower(u.Name)] = true
		if u.PasswordHash == "" {
			errorf(p+".password_hash", "%s: password_hash is required: run `qs-promoter hash-password` and paste what it prints", p)
		} else if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			errorf(p+".password_hash", "%s.password_hash: not a bcrypt hash (%v): run `qs-promoter hash-password` and paste what it prints, quoted", p, err)
		}
		switch u.Role {
		case "":
			u.Role = RoleOperator
		case RoleOperator, RoleViewer:
		default:
			errorf(p+".role", "%s.role: %q is not %s or %s", p, u.Role, RoleOperator, RoleViewer)
		}
	}
	var err error
	if cc.SessionKey, err = readSecret("console", "session_key", cc.SessionKeyEnv, &cc.SessionKeyFile, resolve); err != nil {
		errorf("console.session_key_env", "%v", err)
	} else if cc.SessionKey != "" && len(cc.SessionKey) < minSessionKey {
		errorf("console.session_key_env", "console: the session key is %d characters long; use at least %d (e.g. the output of `openssl rand -hex 32`)", len(cc.SessionKey), minSessionKey)
	}
	if cc.MetricsToken, err = readSecret("console", "metrics_token", cc.MetricsTokenEnv, &cc.MetricsTokenFile, resolve); err != nil {
		errorf("console.metrics_token_env", "%v", err)
	} else if cc.MetricsToken != "" && len(cc.MetricsToken) < minMetricsToken {
		errorf("console.metrics_token_env", "console: the metrics token is %d characters long; use at least %d", len(cc.MetricsToken), minMetricsToken)
	}
	if t := cc.TLS; t != nil {
		t.Cert, t.Key = resolve(t.Cert), resolve(t.Key)
		switch {
		case t.Cert == "" || t.Key == "":
			errorf("console.tls", "console.tls: give both cert and key (PEM files), or leave tls out to serve plain HTTP")
		default:
			if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
				errorf("console.tls.cert", "console.tls: cannot use %s and %s: %v", t.Cert, t.Key, err)
			}
		}
	}
}

// readSecret reads a secret named by an environment variable or a file
// (its *_env and *_file keys); "" when neither is set. The file's path is
// resolved in place.
func readSecret(section, name, env string, file *string, resolve func(string) string) (string, error) {
	*file = resolve(*file)
	switch {
	case env != "" && *file != "":
		return "", fmt.Errorf("%s: give %s_env or %s_file, not both", section, name, name)
	case env != "":
		v := strings.TrimSpace(os.Getenv(env))
		if v == "" {
			return "", fmt.Errorf("%s: %s_env names the environment variable %s, which is not set (a Windows service inherits no shell's environment: use %s_file)", section, name, env, name)
		}
		return v, nil
	case *file != "":
		b, err := os.ReadFile(*file)
		if err != nil {
			return "", fmt.Errorf("%s: %s_file: %v", section, name, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s: %s_file %s is empty", section, name, *file)
		}
		return v, nil
	}
	return "", nil
}

// sameListener reports whether two listen addresses take the same port on
// an address they share ("" and 0.0.0.0 are every address).
func sameListener(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	any := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || any(ha) || any(hb)
}
