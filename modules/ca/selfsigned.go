package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

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

// loadOrCreateSelfSigned reuses the root in opts.DataDir, or generates and
// persists one when the directory holds none.
func loadOrCreateSelfSigned(opts Options, log *zap.Logger) (*authority, error) {
	dir := opts.DataDir
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		a, err := parseSelfSigned(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("ca: self-signed root in %s: %w", dir, err)
		}
		log.Info("reusing self-signed root", zap.String("dir", dir))
		return a, nil
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		return createSelfSigned(opts, log)
	case certErr != nil && !errors.Is(certErr, fs.ErrNotExist):
		return nil, fmt.Errorf("ca: read %s: %w", certPath, certErr)
	case keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist):
		return nil, fmt.Errorf("ca: read %s: %w", keyPath, keyErr)
	case certErr != nil:
		return nil, fmt.Errorf("ca: self-signed root in %s is incomplete: %s is missing but %s exists; restore it or remove both to generate a new root",
			dir, CACertFile, CAKeyFile)
	default:
		return nil, fmt.Errorf("ca: self-signed root in %s is incomplete: %s is missing but %s exists; restore it or remove both to generate a new root",
			dir, CAKeyFile, CACertFile)
	}
}

func parseSelfSigned(certPEM, keyPEM []byte) (*authority, error) {
	certs, err := pemutil.ParseCerts(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CACertFile, err)
	}
	key, err := pemutil.ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CAKeyFile, err)
	}
	return newAuthority(key, certs[0], nil, certs[:1], "self-signed")
}

func createSelfSigned(opts Options, log *zap.Logger) (*authority, error) {
	start := time.Now()
	key, err := generateKey(opts.KeyType)
	if err != nil {
		return nil, fmt.Errorf("ca: generate %s root key: %w", opts.KeyType, err)
	}
	cert, err := selfSign(key, opts.TrustDomain, time.Duration(opts.RootTTL))
	if err != nil {
		return nil, fmt.Errorf("ca: self-sign root: %w", err)
	}
	a, err := newAuthority(key, cert, nil, []*x509.Certificate{cert}, "self-signed")
	if err != nil {
		return nil, fmt.Errorf("ca: generated root: %w", err)
	}
	if err := persistSelfSigned(opts.DataDir, key, cert); err != nil {
		return nil, err
	}
	log.Info("generated self-signed root",
		zap.String("dir", opts.DataDir),
		zap.String("key", opts.KeyType),
		zap.Duration("took", time.Since(start)))
	return a, nil
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

// persistSelfSigned writes the root under istio-ca-secret's names: the
// directory 0700, the files 0600, the key written last so that a crash
// between writes leaves an incomplete set that the next start reports.
func persistSelfSigned(dir string, key crypto.Signer, cert *x509.Certificate) error {
	if err := pemutil.EnsureSecretDir(dir); err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	keyPEM, err := pemutil.EncodeKey(key)
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	certPEM := pemutil.EncodeCert(cert.Raw)
	for _, f := range []struct {
		name string
		data []byte
	}{{RootCertFile, certPEM}, {CACertFile, certPEM}, {CAKeyFile, keyPEM}} {
		if err := pemutil.WriteSecretFile(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("ca: %w", err)
		}
	}
	return nil
}
