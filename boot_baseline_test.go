package bootgraph_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/modules/ca"
)

// bootBaseline does the least any plane with the CA of BenchmarkBoot and
// the same listeners must do to serve: get the CA (generate a keyType key
// and self-sign its root, or, when reuse, read and parse the persisted
// key and root from dataDir), generate a P-256 serving key and have the CA
// sign its certificate, then bind the four listeners (three of them TLS)
// on loopback and close them.
func bootBaseline(b *testing.B, dataDir, keyType string, reuse bool) {
	b.Helper()
	key, root := baselineCA(b, dataDir, keyType, reuse)
	servingKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		NotBefore:    time.Now(),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"istiod.istio-system.svc", "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, root, servingKey.Public(), key)
	if err != nil {
		b.Fatal(err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der, root.Raw}, PrivateKey: servingKey}}}
	var listeners []net.Listener
	for range 3 {
		l, err := tls.Listen("tcp", loopbackAnyPort, cfg)
		if err != nil {
			b.Fatal(err)
		}
		listeners = append(listeners, l)
	}
	monitoring, err := net.Listen("tcp", loopbackAnyPort)
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range append(listeners, monitoring) {
		l.Close()
	}
}

// baselineCA generates or loads the CA key and root.
func baselineCA(b *testing.B, dataDir, keyType string, reuse bool) (crypto.Signer, *x509.Certificate) {
	b.Helper()
	if reuse {
		dir := filepath.Join(dataDir, "ca")
		keyPEM, err := os.ReadFile(filepath.Join(dir, ca.CAKeyFile))
		if err != nil {
			b.Fatal(err)
		}
		key, err := pemutil.ParseKey(keyPEM)
		if err != nil {
			b.Fatal(err)
		}
		certPEM, err := os.ReadFile(filepath.Join(dir, ca.CACertFile))
		if err != nil {
			b.Fatal(err)
		}
		certs, err := pemutil.ParseCerts(certPEM)
		if err != nil {
			b.Fatal(err)
		}
		return key, certs[0]
	}
	var key crypto.Signer
	var err error
	if keyType == ca.KeyRSA2048 {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"cluster.local"}},
		NotBefore:             time.Now(),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		b.Fatal(err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		b.Fatal(err)
	}
	return key, root
}
