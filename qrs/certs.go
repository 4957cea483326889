package qrs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The file names the QMC uses when it exports certificates in PEM format.
const (
	ClientCertFile = "client.pem"
	ClientKeyFile  = "client_key.pem"
	RootCertFile   = "root.pem"
)

// loadTLS builds the TLS configuration of a site from its certificate folder.
// Every error names the site, the file and what to do about it.
func loadTLS(cfg SiteConfig, now time.Time) (*tls.Config, []string, error) {
	var warnings []string
	certPath := filepath.Join(cfg.CertDir, ClientCertFile)
	keyPath := filepath.Join(cfg.CertDir, ClientKeyFile)
	rootPath := filepath.Join(cfg.CertDir, RootCertFile)
	fail := func(file, format string, args ...any) error {
		return fmt.Errorf("site %q: %s: %s", cfg.Alias, file, fmt.Sprintf(format, args...))
	}

	if noneExported(certPath, keyPath, rootPath) {
		return nil, nil, fmt.Errorf("site %q: %s: no certificates yet (%s, %s, %s): in the QMC of site %s, Certificates → "+
			"Add machine name (the machine that runs qs-promoter), no password, Platform independent PEM, Include secret key → "+
			"Export certificates; then copy the three files from C:\\ProgramData\\Qlik\\Sense\\Repository\\Exported Certificates\\<machine> into %s",
			cfg.Alias, cfg.CertDir, ClientCertFile, ClientKeyFile, RootCertFile, cfg.Alias, cfg.CertDir)
	}
	certPEM, err := readPEMFile(certPath)
	if err != nil {
		return nil, nil, fail(certPath, "%v; export the client certificate from the QMC (Certificates, PEM format) into this folder", err)
	}
	var chain [][]byte
	for _, b := range pemBlocks(certPEM) {
		if b.Type == "CERTIFICATE" {
			chain = append(chain, b.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, nil, fail(certPath, "holds no PEM certificate (-----BEGIN CERTIFICATE-----); export the certificates from the QMC in PEM format")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, nil, fail(certPath, "the certificate cannot be read (%v); export it again from the QMC in PEM format", err)
	}
	if now.After(leaf.NotAfter) {
		warnings = append(warnings, fmt.Sprintf("site %q: %s expired on %s; QRS will refuse it: export a new client certificate from the QMC",
			cfg.Alias, certPath, leaf.NotAfter.Format(time.DateOnly)))
	}

	keyPEM, err := readPEMFile(keyPath)
	if err != nil {
		return nil, nil, fail(keyPath, "%v; export the certificates from the QMC with \"Include secret key\" checked", err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, nil, fail(keyPath, "%v", err)
	}
	if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return nil, nil, fail(keyPath, "this key does not belong to the certificate in %s; export both files together from the same QMC export", ClientCertFile)
	}

	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		Certificates:       []tls.Certificate{{Certificate: chain, PrivateKey: key, Leaf: leaf}},
		ServerName:         cfg.ServerName,
		InsecureSkipVerify: cfg.InsecureSkipVerify,
	}
	rootPEM, err := readPEMFile(rootPath)
	switch {
	case err != nil && cfg.InsecureSkipVerify:
		// Not needed: the server is not verified.
	case err != nil:
		return nil, nil, fail(rootPath, "%v; export root.pem from the QMC together with the client certificate (it verifies the server)", err)
	default:
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(rootPEM) {
			return nil, nil, fail(rootPath, "holds no PEM certificate; export the certificates from the QMC in PEM format")
		}
		tc.RootCAs = pool
	}
	return tc, warnings, nil
}

// noneExported reports that none of the exported files is there: the
// folder is new (qs-promoter init made it) or names the wrong place.
func noneExported(paths ...string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			return false
		}
	}
	return true
}

// readPEMFile reads a PEM file as the QMC or an editor may have saved it:
// without a UTF-8 byte-order mark and with LF line ends.
func readPEMFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errors.New("file not found")
	}
	if err != nil {
		return nil, err
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return b, nil
}

func pemBlocks(b []byte) []*pem.Block {
	var out []*pem.Block
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		out = append(out, blk)
	}
}

// parseKey accepts PKCS#1 RSA, PKCS#8 and SEC 1 EC keys and explains the rest.
func parseKey(b []byte) (crypto.Signer, error) {
	for _, blk := range pemBlocks(b) {
		// PKCS#8 encrypted, or the legacy OpenSSL form with a DEK-Info header.
		if blk.Type == "ENCRYPTED PRIVATE KEY" || blk.Headers["DEK-Info"] != "" {
			return nil, errors.New("the private key is protected by a password; export the certificates without a password (leave the QMC's password fields empty)")
		}
		var (
			key any
			err error
		)
		switch blk.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("the %s block cannot be read (%v); export the certificates again from the QMC in PEM format", blk.Type, err)
		}
		switch k := key.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		}
		return nil, fmt.Errorf("the key type %T is not supported; export an RSA key from the QMC", key)
	}
	return nil, errors.New("holds no PEM private key (-----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----); export the certificates from the QMC with \"Include secret key\" in PEM format")
}
