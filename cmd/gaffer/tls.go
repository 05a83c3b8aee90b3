package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files of --tls-self-signed, in the data dir: made on first start, reused.
const (
	selfSignedCert = "tls-self-signed.crt"
	selfSignedKey  = "tls-self-signed.key"
)

// checkTLSFlags says what is wrong with the TLS flags, before anything is
// opened.
func checkTLSFlags(c serveConfig) error {
	if c.tlsSelfSigned && (c.tlsCert != "" || c.tlsKey != "") {
		return errors.New("--tls-self-signed makes its own certificate: give it or --tls-cert and --tls-key, not both")
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both (the certificate and its private key, PEM files)")
	}
	if c.publicURL != "" {
		u, err := url.Parse(c.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("--public-url %q: give the address people open, like https://gaffer.example.com (http or https, a host, no query)", c.publicURL)
		}
	}
	return nil
}

// loadTLS returns the server's TLS settings, or nil when it serves plain
// HTTP, and the SHA-256 fingerprint of a self-signed certificate.
func loadTLS(c serveConfig) (*tls.Config, string, error) {
	certFile, keyFile := c.tlsCert, c.tlsKey
	var fingerprint string
	switch {
	case c.tlsSelfSigned:
		certFile, keyFile = filepath.Join(c.dataDir, selfSignedCert), filepath.Join(c.dataDir, selfSignedKey)
		if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
			if err := writeSelfSigned(certFile, keyFile, c.listen); err != nil {
				return nil, "", fmt.Errorf("--tls-self-signed: %w", err)
			}
		}
	case certFile == "":
		return nil, "", nil
	}
	certPEM, err := os.ReadFile(expandHome(certFile))
	if err != nil {
		return nil, "", fmt.Errorf("read the TLS certificate (--tls-cert): %w", err)
	}
	keyPEM, err := os.ReadFile(expandHome(keyFile))
	if err != nil {
		return nil, "", fmt.Errorf("read the TLS private key (--tls-key): %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, "", fmt.Errorf("TLS certificate %s with key %s: %w (both must be PEM, and the key the certificate's own)", certFile, keyFile, err)
	}
	if c.tlsSelfSigned {
		fingerprint = certFingerprint(cert.Certificate[0])
	}
	// NextProtos is left empty: http.Server.ServeTLS adds "h2" and "http/1.1".
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, fingerprint, nil
}

// certFingerprint is the SHA-256 of a certificate, as browsers show it.
func certFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	hexes := make([]string, len(sum))
	for i, b := range sum {
		hexes[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(hexes, ":")
}

// writeSelfSigned makes an ECDSA P-256 certificate for the listen address,
// localhost and 127.0.0.1, valid for ten years. It is its own CA, so a
// client can trust it with --ca-file.
func writeSelfSigned(certFile, keyFile, listen string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "gaffer self-signed"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if host, _, err := net.SplitHostPort(listen); err == nil && host != "" && host != "localhost" {
		if ip := net.ParseIP(host); ip == nil {
			tmpl.DNSNames = append(tmpl.DNSNames, host)
		} else if !ip.IsUnspecified() && !ip.IsLoopback() {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	// The key first: a certificate without its key would be reused broken.
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
