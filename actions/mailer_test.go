package actions

import (
	"bytes"
	"context"
	"errors"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testPassword = "s3cr3t-pa55word"

func newTestMailer(t *testing.T, cfg MailConfig) *Mailer {
	t.Helper()
	m, err := NewMailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func withPassword(t *testing.T, cfg MailConfig) MailConfig {
	t.Setenv("QSP_TEST_SMTP_PASSWORD", testPassword)
	cfg.Username, cfg.PasswordEnv = "promoter", "QSP_TEST_SMTP_PASSWORD"
	return cfg
}

func TestMailerSTARTTLSAndAuth(t *testing.T) {
	srv := startSMTP(t, smtpOpts{mode: "starttls", user: "promoter", password: testPassword})
	m := newTestMailer(t, withPassword(t, srv.config(TLSStartTLS)))
	err := m.Send(context.Background(), Message{
		To:      []string{"Owner <owner@example.com>", "OWNER@example.com", "second@example.com"},
		Cc:      []string{"second@example.com", "cc@example.com"},
		Subject: "'Sales' promotion results",
		Text:    "hello",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.mails()
	if len(got) != 1 {
		t.Fatalf("got %d messages, want 1", len(got))
	}
	if !got[0].TLS {
		t.Error("message was not sent over TLS")
	}
	if want := "owner@example.com second@example.com cc@example.com"; strings.Join(got[0].To, " ") != want {
		t.Errorf("RCPT TO = %v, want %s (de-duplicated)", got[0].To, want)
	}
	msg := parseMail(t, got[0].Data)
	if s := msg.Header.Get("Subject"); s != "'Sales' promotion results" {
		t.Errorf("Subject = %q", s)
	}
	if f := msg.Header.Get("From"); f != `"Promoter" <promoter@example.com>` && f != "Promoter <promoter@example.com>" {
		t.Errorf("From = %q", f)
	}
	if bytes.Contains(srv.rawBytes(), []byte(testPassword)) {
		t.Error("the password crossed the wire in clear text")
	}
}

func TestMailerRefusesServerWithoutSTARTTLS(t *testing.T) {
	// The server offers AUTH in clear text; the mailer must not use it.
	srv := startSMTP(t, smtpOpts{mode: "plain", user: "promoter", password: testPassword})
	m := newTestMailer(t, withPassword(t, srv.config(TLSStartTLS)))
	err := m.Send(context.Background(), Message{To: []string{"owner@example.com"}, Subject: "s", Text: "t"})
	if !errors.Is(err, ErrNoSTARTTLS) {
		t.Fatalf("err = %v, want ErrNoSTARTTLS", err)
	}
	if !strings.Contains(err.Error(), "tls: tls") {
		t.Errorf("error does not say what to do: %v", err)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Error("error message contains the password")
	}
	if raw := srv.rawBytes(); bytes.Contains(raw, []byte("AUTH")) || bytes.Contains(raw, []byte("MAIL FROM")) {
		t.Errorf("client went on after EHLO:\n%s", raw)
	}
	if len(srv.logins) != 0 || len(srv.mails()) != 0 {
		t.Errorf("logins %v, mails %d: want none", srv.logins, len(srv.mails()))
	}
	// Even without a username nothing is sent in clear text in starttls mode.
	m2 := newTestMailer(t, srv.config(TLSStartTLS))
	if err := m2.Send(context.Background(), Message{To: []string{"a@example.com"}, Text: "t"}); !errors.Is(err, ErrNoSTARTTLS) {
		t.Errorf("without username: err = %v, want ErrNoSTARTTLS", err)
	}
}

func TestMailerImplicitTLS(t *testing.T) {
	srv := startSMTP(t, smtpOpts{mode: "tls", user: "promoter", password: testPassword})
	m := newTestMailer(t, withPassword(t, srv.config(TLSImplicit)))
	if err := m.Test(context.Background()); err != nil {
		t.Fatalf("Test: %v", err)
	}
	if err := m.Send(context.Background(), Message{To: []string{"a@example.com"}, Subject: "s", HTML: "<p>x</p>"}); err != nil {
		t.Fatal(err)
	}
	if got := srv.mails(); len(got) != 1 || !got[0].TLS {
		t.Fatalf("mails = %+v", got)
	}
}

func TestMailerWrongPasswordAndUntrustedCert(t *testing.T) {
	srv := startSMTP(t, smtpOpts{mode: "starttls", user: "promoter", password: "other"})
	m := newTestMailer(t, withPassword(t, srv.config(TLSStartTLS)))
	err := m.Send(context.Background(), Message{To: []string{"a@example.com"}, Text: "t"})
	if err == nil || !strings.Contains(err.Error(), "login as promoter failed") {
		t.Errorf("wrong password: err = %v", err)
	}
	cfg := srv.config(TLSStartTLS)
	cfg.CAFile = ""
	err = newTestMailer(t, cfg).Test(context.Background())
	if err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("untrusted certificate: err = %v, want a hint about ca_file", err)
	}
}

func TestMailerPlainRelay(t *testing.T) {
	srv := startSMTP(t, smtpOpts{mode: "plain"})
	m := newTestMailer(t, srv.config(TLSNone))
	if err := m.Send(context.Background(), Message{To: []string{"a@example.com"}, Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if len(srv.mails()) != 1 {
		t.Fatal("no message")
	}
}

func TestNewMailerErrors(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  MailConfig
		want string
	}{
		{MailConfig{From: "a@example.com"}, "host is empty"},
		{MailConfig{Host: "h", From: "nope"}, `from "nope" is not an e-mail address`},
		{MailConfig{Host: "h", From: "a@example.com", TLS: "ssl"}, `tls "ssl" is not one of starttls, tls, none`},
		{MailConfig{Host: "h", From: "a@example.com", Username: "u", PasswordEnv: "QSP_TEST_UNSET_VAR"}, "environment variable QSP_TEST_UNSET_VAR is not set"},
		{MailConfig{Host: "h", From: "a@example.com", Username: "u"}, "set password_env"},
		{MailConfig{Host: "mail.example.com", From: "a@example.com", Username: "u", PasswordFile: pwFile, TLS: TLSNone}, "clear text"},
	} {
		_, err := NewMailer(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	m, err := NewMailer(MailConfig{Host: "localhost", From: "a@example.com", Username: "u", PasswordFile: pwFile, TLS: TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	if m.password != testPassword || m.Addr() != "localhost:25" {
		t.Errorf("password file not trimmed or port default wrong: %q %s", m.password, m.Addr())
	}
}

func TestMailerHeadersNotInjectable(t *testing.T) {
	srv := startSMTP(t, smtpOpts{mode: "starttls"})
	m := newTestMailer(t, srv.config(TLSStartTLS))
	name := "Sales \"Q1\" {{ app.id }}\r\nBcc: evil@example.com\r\n\r\n<b>body</b>"
	err := m.Send(context.Background(), Message{To: []string{"a@example.com"}, Subject: "'" + name + "' published", Text: name})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.mails()[0]
	if strings.Join(got.To, ",") != "a@example.com" {
		t.Errorf("recipients %v", got.To)
	}
	msg := parseMail(t, got.Data)
	if len(msg.Header["Bcc"]) != 0 || len(msg.Header["Subject"]) != 1 {
		t.Errorf("headers injected: %v", msg.Header)
	}
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	if want := `'Sales "Q1" {{ app.id }} Bcc: evil@example.com <b>body</b>' published`; subj != want {
		t.Errorf("Subject = %q, want %q", subj, want)
	}
	if _, _, err := Recipients([]string{"a@example.com\r\nBcc: b@example.com"}, nil); err == nil {
		t.Error("an address with a line break was accepted")
	}
}

func parseMail(t *testing.T, data string) *mail.Message {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("unparsable message: %v\n%s", err, data)
	}
	return msg
}
