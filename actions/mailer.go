package actions

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/gomail.v2"
)

// The SMTP TLS modes.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS; refuses servers without it
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no encryption: for a relay on this host only when a password is used
)

// MailConfig is how to reach the SMTP server. The password is never part of
// it: it is read from the environment variable PasswordEnv or the file
// PasswordFile when the Mailer is built.
type MailConfig struct {
	Host         string        `yaml:"host"`
	Port         int           `yaml:"port"`          // default 587 (starttls), 465 (tls), 25 (none)
	Username     string        `yaml:"username"`      // "" sends without AUTH
	PasswordEnv  string        `yaml:"password_env"`  // name of the variable holding the password
	PasswordFile string        `yaml:"password_file"` // file holding the password (trailing newline ignored)
	From         string        `yaml:"from"`          // sender address, "Name <addr>" allowed
	TLS          string        `yaml:"tls"`           // starttls (default) | tls | none
	CAFile       string        `yaml:"ca_file"`       // PEM roots for the server certificate ("" : system roots)
	Timeout      time.Duration `yaml:"timeout"`       // whole conversation; default 30s
	HelloName    string        `yaml:"hello_name"`    // EHLO name; default this host's name
	// Admin are the addresses the daemon tells of every execution that
	// fails for good (the mailer itself does not use them).
	Admin []string `yaml:"admin"`
}

// Mailer sends e-mail over SMTP. STARTTLS is enforced: unlike gomail's own
// Dialer, which silently carries on in clear text when a server does not
// offer it, a Mailer in starttls mode refuses such a server before sending
// anything, credentials above all.
type Mailer struct {
	cfg      MailConfig
	from     *mail.Address
	password string // never logged, never part of an error
	tls      *tls.Config
}

// ErrNoSTARTTLS is returned when a server in starttls mode does not offer it.
var ErrNoSTARTTLS = errors.New("the SMTP server does not offer STARTTLS")

// NewMailer checks cfg, reads the password and returns a Mailer. It does not
// connect (Mailer.Test does).
func NewMailer(cfg MailConfig) (*Mailer, error) {
	if cfg.Host == "" {
		return nil, errors.New("smtp: host is empty: set smtp.host to the SMTP server's name")
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	switch cfg.TLS {
	case TLSStartTLS:
		cfg.Port = cmp(cfg.Port, 587)
	case TLSImplicit:
		cfg.Port = cmp(cfg.Port, 465)
	case TLSNone:
		cfg.Port = cmp(cfg.Port, 25)
	default:
		return nil, fmt.Errorf("smtp: tls %q is not one of starttls, tls, none", cfg.TLS)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.HelloName == "" {
		cfg.HelloName, _ = os.Hostname()
		if cfg.HelloName == "" {
			cfg.HelloName = "localhost"
		}
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: from %q is not an e-mail address: %v", cfg.From, err)
	}
	m := &Mailer{cfg: cfg, from: from, tls: &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("smtp: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("smtp: ca_file %s holds no PEM certificate", cfg.CAFile)
		}
		m.tls.RootCAs = pool
	}
	if cfg.Username != "" {
		if m.password, err = readSecret(cfg.PasswordEnv, cfg.PasswordFile); err != nil {
			return nil, fmt.Errorf("smtp: password for %s: %w", cfg.Username, err)
		}
		// Over "none" a password would cross the network in clear text; only a
		// relay on this very host is acceptable.
		if cfg.TLS == TLSNone && !isLoopback(cfg.Host) {
			return nil, fmt.Errorf("smtp: tls none with a username would send the password in clear text to %s; use starttls or tls, or a relay on localhost", cfg.Host)
		}
	}
	return m, nil
}

func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// readSecret reads a secret from an environment variable or a file.
func readSecret(env, file string) (string, error) {
	switch {
	case env != "" && file != "":
		return "", errors.New("give password_env or password_file, not both")
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("file %s is empty", file)
		}
		return v, nil
	}
	return "", errors.New("set password_env (an environment variable's name) or password_file")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// From returns the sender address.
func (m *Mailer) From() string { return m.from.Address }

// Addr returns host:port of the server.
func (m *Mailer) Addr() string { return net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port)) }

// Message is one e-mail. Subject newlines are folded into spaces, so data
// in a subject cannot add a header.
type Message struct {
	To, Cc  []string // addresses ("Name <addr>" allowed); duplicates are dropped
	Subject string
	Text    string // text/plain body
	HTML    string // text/html body (an alternative to Text when both are given)
}

// Recipients returns the de-duplicated, validated To and Cc lists (an
// address in both stays in To only).
func Recipients(to, cc []string) (toOut, ccOut []*mail.Address, err error) {
	seen := map[string]bool{}
	add := func(list []string) ([]*mail.Address, error) {
		var out []*mail.Address
		for _, s := range list {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if strings.ContainsAny(s, "\r\n") {
				return nil, fmt.Errorf("recipient %s contains a line break", q(s))
			}
			a, err := mail.ParseAddress(s)
			if err != nil {
				return nil, fmt.Errorf("recipient %s is not an e-mail address", q(s))
			}
			k := strings.ToLower(a.Address)
			if !seen[k] {
				seen[k] = true
				out = append(out, a)
			}
		}
		return out, nil
	}
	if toOut, err = add(to); err != nil {
		return nil, nil, err
	}
	if ccOut, err = add(cc); err != nil {
		return nil, nil, err
	}
	return toOut, ccOut, nil
}

// Send composes msg with gomail and delivers it in one SMTP conversation.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	to, cc, err := Recipients(msg.To, msg.Cc)
	if err != nil {
		return err
	}
	if len(to)+len(cc) == 0 {
		return errors.New("no recipient")
	}
	gm := gomail.NewMessage()
	gm.SetHeader("From", gm.FormatAddress(m.from.Address, m.from.Name))
	gm.SetHeader("To", formatAll(gm, to)...)
	if len(cc) > 0 {
		gm.SetHeader("Cc", formatAll(gm, cc)...)
	}
	gm.SetHeader("Subject", headerText(msg.Subject))
	gm.SetDateHeader("Date", time.Now())
	switch {
	case msg.Text != "" && msg.HTML != "":
		gm.SetBody("text/plain", msg.Text)
		gm.AddAlternative("text/html", msg.HTML)
	case msg.HTML != "":
		gm.SetBody("text/html", msg.HTML)
	default:
		gm.SetBody("text/plain", msg.Text)
	}
	rcpts := make([]string, 0, len(to)+len(cc))
	for _, a := range slices.Concat(to, cc) {
		rcpts = append(rcpts, a.Address)
	}
	return m.deliver(ctx, rcpts, func(w io.Writer) error { _, err := gm.WriteTo(w); return err })
}

func formatAll(gm *gomail.Message, as []*mail.Address) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = gm.FormatAddress(a.Address, a.Name)
	}
	return out
}

// headerText folds every control character (CR, LF, tab…) into a space.
func headerText(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }), " ")
}

// Test connects, negotiates TLS and authenticates as Send would, without
// sending a message (the `mailtest` subcommand sends one as well).
func (m *Mailer) Test(ctx context.Context) error { return m.deliver(ctx, nil, nil) }

// deliver runs one SMTP conversation: connect, EHLO, STARTTLS (mandatory in
// starttls mode), AUTH, then one message to rcpts written by body. With no
// recipients it stops after AUTH.
func (m *Mailer) deliver(ctx context.Context, rcpts []string, body func(io.Writer) error) (err error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	addr := m.Addr()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	// The deadline bounds every read and write; cancelling ctx unblocks them.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if m.cfg.TLS == TLSImplicit {
		tc := tls.Client(conn, m.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return fmt.Errorf("smtp %s: TLS handshake: %w", addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, m.cfg.Host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("smtp %s: greeting: %w", addr, err)
	}
	defer c.Close()
	if err := c.Hello(m.cfg.HelloName); err != nil {
		return fmt.Errorf("smtp %s: EHLO: %w", addr, err)
	}
	if m.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("smtp %s: %w; refusing to continue in clear text. Check host and port (587 usually offers STARTTLS), or set tls: tls for implicit TLS (port 465)", addr, ErrNoSTARTTLS)
		}
		if err := c.StartTLS(m.tls); err != nil {
			return fmt.Errorf("smtp %s: STARTTLS: %w (if the server uses a private CA, set ca_file)", addr, err)
		}
	}
	if m.cfg.Username != "" {
		a, err := m.auth(c)
		if err != nil {
			return fmt.Errorf("smtp %s: %w", addr, err)
		}
		if err := c.Auth(a); err != nil {
			return fmt.Errorf("smtp %s: login as %s failed: %w", addr, m.cfg.Username, err)
		}
	}
	if len(rcpts) == 0 {
		return c.Quit()
	}
	if err := c.Mail(m.from.Address); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM %s: %w", addr, m.from.Address, err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return fmt.Errorf("smtp %s: RCPT TO %s: %w", addr, r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", addr, err)
	}
	if err := body(w); err != nil {
		return fmt.Errorf("smtp %s: writing the message: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: message refused: %w", addr, err)
	}
	return c.Quit()
}

// auth picks PLAIN or LOGIN, whichever the server offers. Both refuse to
// run on a connection that is neither TLS nor to this host.
func (m *Mailer) auth(c *smtp.Client) (smtp.Auth, error) {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return nil, fmt.Errorf("the server offers no AUTH, but a username is configured: remove username, or check the port")
	}
	fields := strings.Fields(strings.ToUpper(mechs))
	switch {
	case slices.Contains(fields, "PLAIN"):
		return smtp.PlainAuth("", m.cfg.Username, m.password, m.cfg.Host), nil
	case slices.Contains(fields, "LOGIN"):
		return &loginAuth{user: m.cfg.Username, pass: m.password, host: m.cfg.Host}, nil
	}
	return nil, fmt.Errorf("the server offers AUTH %s; qs-promoter speaks PLAIN and LOGIN", mechs)
}

// loginAuth is the LOGIN mechanism (Office 365, Exchange), which net/smtp lacks.
type loginAuth struct{ user, pass, host string }

func (a *loginAuth) Start(s *smtp.ServerInfo) (string, []byte, error) {
	if !s.TLS && !isLoopback(s.Name) {
		return "", nil, errors.New("unencrypted connection")
	}
	if s.Name != a.host {
		return "", nil, errors.New("wrong host name")
	}
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(from []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch strings.ToLower(strings.TrimSpace(string(from))) {
	case "username:":
		return []byte(a.user), nil
	case "password:":
		return []byte(a.pass), nil
	}
	return nil, fmt.Errorf("unexpected LOGIN challenge %q", from)
}
