package qrssim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The files written to each site's certificate folder. The first three are
// what the QMC exports for a client; server.pem and server_key.pem (also in a
// QMC export) let a later run of the simulator reuse the same certificates, so
// a daemon configured with the folder keeps working across restarts.
const (
	clientCertFile = "client.pem"
	clientKeyFile  = "client_key.pem"
	rootCertFile   = "root.pem"
	serverCertFile = "server.pem"
	serverKeyFile  = "server_key.pem"
)

// certValidity is how long generated certificates are valid.
const certValidity = 2 * 365 * 24 * time.Hour

// clientKey is shared by every generated client certificate of the process:
// an RSA key (what the QMC exports, as PKCS#1) takes long to generate, and
// sharing it is harmless because trust comes from the per-site CA.
var clientKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
})

// siteCerts is the TLS material of one site.
type siteCerts struct {
	server tls.Certificate
	roots  *x509.CertPool // verifies client certificates
}

// loadOrCreateCerts reuses the certificates in dir when they are complete and
// valid, and otherwise writes a new set: a CA of its own (root.pem), a server
// certificate for localhost and 127.0.0.1, and a client certificate.
func loadOrCreateCerts(dir, alias string, now time.Time) (*siteCerts, error) {
	if c, err := loadCerts(dir, now); err == nil {
		return c, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("site %q: certificate folder: %w", alias, err)
	}
	return createCerts(dir, alias, now)
}

func loadCerts(dir string, now time.Time) (*siteCerts, error) {
	for _, f := range []string{clientCertFile, clientKeyFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil, err
		}
	}
	rootPEM, err := os.ReadFile(filepath.Join(dir, rootCertFile))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		return nil, errors.New("no root certificate")
	}
	server, err := tls.LoadX509KeyPair(filepath.Join(dir, serverCertFile), filepath.Join(dir, serverKeyFile))
	if err != nil {
		return nil, err
	}
	leaf := server.Leaf
	if leaf == nil {
		return nil, errors.New("no server leaf")
	}
	// Regenerate well before expiry, and when the server certificate does not
	// chain to the root any more (someone replaced one file).
	if now.Add(30 * 24 * time.Hour).After(leaf.NotAfter) {
		return nil, errors.New("server certificate about to expire")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: roots, CurrentTime: now}); err != nil {
		return nil, err
	}
	return &siteCerts{server: server, roots: roots}, nil
}

func createCerts(dir, alias string, now time.Time) (*siteCerts, error) {
	fail := func(err error) (*siteCerts, error) {
		return nil, fmt.Errorf("site %q: generating certificates: %w", alias, err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fail(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "qrssim CA " + alias},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fail(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return fail(err)
	}

	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fail(err)
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &serverKey.PublicKey, caKey)
	if err != nil {
		return fail(err)
	}

	ck, err := clientKey()
	if err != nil {
		return fail(err)
	}
	clientDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "QlikClient"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &ck.PublicKey, caKey)
	if err != nil {
		return fail(err)
	}
	serverKeyDER, err := x509.MarshalECPrivateKey(serverKey)
	if err != nil {
		return fail(err)
	}

	files := []struct {
		name, typ string
		der       []byte
	}{
		{rootCertFile, "CERTIFICATE", caDER},
		{clientCertFile, "CERTIFICATE", clientDER},
		{clientKeyFile, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(ck)}, // PKCS#1, as the QMC exports it
		{serverCertFile, "CERTIFICATE", serverDER},
		{serverKeyFile, "EC PRIVATE KEY", serverKeyDER},
	}
	for _, f := range files {
		b := pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der})
		if err := os.WriteFile(filepath.Join(dir, f.name), b, 0o600); err != nil {
			return fail(err)
		}
	}

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	leaf, err := x509.ParseCertificate(serverDER)
	if err != nil {
		return fail(err)
	}
	return &siteCerts{
		server: tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey, Leaf: leaf},
		roots:  roots,
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}
