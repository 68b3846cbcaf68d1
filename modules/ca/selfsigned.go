package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"time"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// File names of a self-signed CA in Options.DataDir, as in istiod's
// istio-ca-secret.
const (
	CACertFile   = "ca-cert.pem"
	CAKeyFile    = "ca-key.pem"
	RootCertFile = "root-cert.pem"
	// CertChainFile is only part of a plugged-in CA.
	CertChainFile = "cert-chain.pem"
)

// generateSelfSigned makes a new self-signed root, for a Store to keep.
func generateSelfSigned(opts Options) (*Stored, error) {
	key, err := generateKey(opts.KeyType)
	if err != nil {
		return nil, fmt.Errorf("ca: generate %s root key: %w", opts.KeyType, err)
	}
	cert, err := selfSign(key, opts.TrustDomain, time.Duration(opts.RootTTL))
	if err != nil {
		return nil, fmt.Errorf("ca: self-sign root: %w", err)
	}
	keyPEM, err := pemutil.EncodeKey(key)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	certPEM := pemutil.EncodeCert(cert.Raw)
	return &Stored{CertPEM: certPEM, KeyPEM: keyPEM, RootPEM: certPEM}, nil
}

// generateKey makes a key of one of the Key* types.
func generateKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case KeyECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case KeyRSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case KeyRSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	default:
		return nil, fmt.Errorf("unknown key type %q", keyType)
	}
}

func selfSign(key crypto.Signer, trustDomain string, ttl time.Duration) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{trustDomain}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
