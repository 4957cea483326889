package demo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"

	"github.com/emersion/go-smtp"
)

// Mail is one message the mail server received, decoded.
type Mail struct {
	From    string
	To      []string // envelope recipients
	Subject string
	Text    string // the text/plain part (or the whole body when not multipart)
	HTML    string // the text/html part, if any
	Raw     []byte
}

// MailServer is an in-process SMTP server on loopback that keeps every
// message. It stands in for the company's SMTP relay (tls: none, no login).
type MailServer struct {
	srv  *smtp.Server
	addr *net.TCPAddr

	mu      sync.Mutex
	msgs    []Mail
	changed chan struct{} // closed and replaced on every new message
}

// StartMailServer listens on 127.0.0.1 on a free port.
func StartMailServer() (*MailServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("mail server: %w", err)
	}
	m := &MailServer{addr: ln.Addr().(*net.TCPAddr), changed: make(chan struct{})}
	m.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mailSession{server: m}, nil
	}))
	m.srv.Domain = "localhost"
	m.srv.MaxMessageBytes = 10 << 20
	m.srv.ErrorLog = log.New(io.Discard, "", 0)
	go m.srv.Serve(ln)
	return m, nil
}

// Host and Port say where the server listens.
func (m *MailServer) Host() string { return m.addr.IP.String() }

// Port is the server's TCP port.
func (m *MailServer) Port() int { return m.addr.Port }

// Messages returns every message received so far, oldest first.
func (m *MailServer) Messages() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mail(nil), m.msgs...)
}

// Changed returns a channel closed when the next message arrives.
func (m *MailServer) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// Close stops the server.
func (m *MailServer) Close() error { return m.srv.Close() }

func (m *MailServer) add(msg Mail) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	close(m.changed)
	m.changed = make(chan struct{})
}

type mailSession struct {
	server *MailServer
	from   string
	to     []string
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := parseMail(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unparsable message: " + err.Error()}
	}
	msg.From, msg.To = s.from, append([]string(nil), s.to...)
	s.server.add(msg)
	return nil
}

// parseMail decodes the subject and the text and HTML parts of a message.
func parseMail(raw []byte) (Mail, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, err
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		return Mail{}, fmt.Errorf("subject: %w", err)
	}
	out := Mail{Subject: subject, Raw: raw}
	err = readPart(&out, m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
	return out, err
}

func readPart(out *Mail, contentType, encoding string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := readPart(out, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64Reader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	switch mediaType {
	case "text/plain":
		out.Text += string(b)
	case "text/html":
		out.HTML += string(b)
	}
	return nil
}
