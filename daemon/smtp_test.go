package daemon

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// mailbox is an in-process SMTP server on loopback that keeps what it gets
// (tls: none, no login): the daemon's mail goes over real SMTP.
type mailbox struct {
	addr *net.TCPAddr
	mu   sync.Mutex
	msgs []gotMail
}

type gotMail struct {
	To      []string
	Subject string
	Text    string
}

func startMailbox(t testing.TB) *mailbox {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &mailbox{addr: ln.Addr().(*net.TCPAddr)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailboxSession{m: m}, nil }))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(ln) //nolint:errcheck // ends at Close
	t.Cleanup(func() { srv.Close() })
	return m
}

// config is the daemon's smtp: section for the mailbox, telling admins.
func (m *mailbox) config(admins ...string) string {
	out := fmt.Sprintf("smtp:\n  host: 127.0.0.1\n  port: %d\n  tls: none\n  from: qs-promoter <qs-promoter@example.com>\n", m.addr.Port)
	if len(admins) > 0 {
		out += "  admin: [" + strings.Join(admins, ", ") + "]\n"
	}
	return out
}

func (m *mailbox) messages() []gotMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]gotMail(nil), m.msgs...)
}

type mailboxSession struct {
	m  *mailbox
	to []string
}

func (s *mailboxSession) Reset()        { s.to = nil }
func (s *mailboxSession) Logout() error { return nil }
func (s *mailboxSession) Mail(string, *smtp.MailOptions) error {
	return nil
}
func (s *mailboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *mailboxSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	var dec mime.WordDecoder
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	body := msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	text, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	s.m.msgs = append(s.m.msgs, gotMail{To: append([]string(nil), s.to...), Subject: subject, Text: string(text)})
	s.m.mu.Unlock()
	return nil
}
