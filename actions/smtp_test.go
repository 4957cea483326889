package actions

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testSMTP is an in-process SMTP server on 127.0.0.1 recording what it got.
type testSMTP struct {
	port   int
	caFile string // PEM of its self-signed certificate

	mu        sync.Mutex
	msgs      []gotMail
	logins    []string     // user:password pairs that authenticated
	raw       bytes.Buffer // every byte clients sent, as seen on the socket
	failTimes int          // answer 451 to this many DATA commands
}

type gotMail struct {
	From string
	To   []string
	Data string
	TLS  bool
}

type smtpOpts struct {
	mode     string // "starttls" (STARTTLS offered), "tls" (implicit), "plain" (no TLS at all)
	user     string // AUTH required with this user / password when set
	password string
}

func startSMTP(t *testing.T, o smtpOpts) *testSMTP {
	t.Helper()
	s := &testSMTP{}
	cert, caFile := selfSigned(t)
	s.caFile = caFile
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, tlsOn := c.TLSConnectionState()
		return &testSession{s: s, o: o, tls: tlsOn, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = o.mode == "plain"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	var l net.Listener
	var err error
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l = &recordingListener{Listener: l, s: s}
	switch o.mode {
	case "starttls":
		srv.TLSConfig = tlsCfg
	case "tls":
		srv.TLSConfig = tlsCfg
		l = tls.NewListener(l, tlsCfg)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *testSMTP) mails() []gotMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gotMail(nil), s.msgs...)
}

func (s *testSMTP) rawBytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.raw.Bytes())
}

func (s *testSMTP) config(mode string) MailConfig {
	return MailConfig{Host: "127.0.0.1", Port: s.port, From: "Promoter <promoter@example.com>", TLS: mode, CAFile: s.caFile, Timeout: 5 * time.Second}
}

type testSession struct {
	s    *testSMTP
	o    smtpOpts
	tls  bool
	conn *smtp.Conn
	auth bool
	from string
	to   []string
}

func (ss *testSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *testSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		ss.s.mu.Lock()
		ss.s.logins = append(ss.s.logins, user+":"+pass)
		ss.s.mu.Unlock()
		if user != ss.o.user || pass != ss.o.password {
			return errors.New("invalid credentials")
		}
		ss.auth = true
		return nil
	}), nil
}

func (ss *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.o.user != "" && !ss.auth {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.failTimes > 0 {
		ss.s.failTimes--
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	_, tlsOn := ss.conn.TLSConnectionState()
	ss.s.msgs = append(ss.s.msgs, gotMail{From: ss.from, To: ss.to, Data: string(b), TLS: tlsOn})
	return nil
}

func (ss *testSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *testSession) Logout() error { return nil }

// recordingListener keeps every byte clients send, before any TLS.
type recordingListener struct {
	net.Listener
	s *testSMTP
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: c, s: l.s}, nil
}

type recordingConn struct {
	net.Conn
	s *testSMTP
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.s.mu.Lock()
	c.s.raw.Write(p[:n])
	c.s.mu.Unlock()
	return n, err
}

// selfSigned makes a certificate for 127.0.0.1 and localhost and writes it
// as a CA file.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "smtp-ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file
}
