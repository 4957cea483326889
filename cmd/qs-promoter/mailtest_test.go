package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// plainSMTP is a relay on 127.0.0.1 without TLS or AUTH, recording recipients.
type plainSMTP struct {
	mu  sync.Mutex
	rcp []string
}

func (p *plainSMTP) NewSession(*smtp.Conn) (smtp.Session, error) { return p, nil }
func (p *plainSMTP) Mail(string, *smtp.MailOptions) error        { return nil }
func (p *plainSMTP) Rcpt(to string, _ *smtp.RcptOptions) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rcp = append(p.rcp, to)
	return nil
}
func (p *plainSMTP) Data(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }
func (p *plainSMTP) Reset()                 {}
func (p *plainSMTP) Logout() error          { return nil }

func TestMailtest(t *testing.T) {
	be := &plainSMTP{}
	srv := smtp.NewServer(be)
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	base := []string{"mailtest", "--host", "127.0.0.1", "--port", port, "--from", "promoter@example.com", "--to", "admin@example.com"}

	var out, errOut bytes.Buffer
	if code := run(context.Background(), append(base, "--tls", "none"), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "sent a test message to admin@example.com") || len(be.rcp) != 1 {
		t.Errorf("stdout %q, recipients %v", out.String(), be.rcp)
	}

	errOut.Reset()
	if code := run(context.Background(), base, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "does not offer STARTTLS") {
		t.Errorf("starttls against a plain server: exit %d, %s", code, errOut.String())
	}
	if code := run(context.Background(), []string{"mailtest", "--host", "h"}, &out, &errOut); code != 2 {
		t.Errorf("without --to: exit %d", code)
	}
}
