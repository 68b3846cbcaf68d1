package ca

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// pluggedNames are istiod's cacerts files.
var pluggedNames = []string{CACertFile, CAKeyFile, CertChainFile, RootCertFile}

// readPluggedDir reads an operator-supplied CA from dir, which must hold
// istiod's cacerts files: ca-cert.pem, ca-key.pem, cert-chain.pem and
// root-cert.pem, of one generation when dir is a Secret volume. It returns
// nil when dir does not exist, and an error naming the missing files when
// the set is incomplete. The set is not verified here.
func readPluggedDir(dir string) (*Stored, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	// A Kubernetes Secret volume is a sticky directory (1777): accepted.
	if err := pemutil.CheckPrivateDir(dir, true); err != nil {
		return nil, fmt.Errorf("ca: plugged-in CA: %w", err)
	}
	data, version, err := pemutil.ReadGenerationVersion(dir, pemutil.Spec{Name: CACertFile}, pemutil.Spec{Name: CAKeyFile, Private: true},
		pemutil.Spec{Name: CertChainFile}, pemutil.Spec{Name: RootCertFile})
	if err != nil {
		return nil, fmt.Errorf("ca: plugged-in CA: %w", err)
	}
	var missing []string
	for _, name := range pluggedNames {
		if _, ok := data[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("ca: plugged-in CA in %s is incomplete: missing %v (need %v)", dir, missing, pluggedNames)
	}
	return &Stored{CertPEM: data[CACertFile], KeyPEM: data[CAKeyFile], CertChainPEM: data[CertChainFile], RootPEM: data[RootCertFile],
		PluggedIn: true, Where: dir, Version: version}, nil
}

// samePlugged reports whether a and b hold the same files.
func samePlugged(a, b *Stored) bool {
	return a != nil && b != nil && bytes.Equal(a.CertPEM, b.CertPEM) && bytes.Equal(a.KeyPEM, b.KeyPEM) &&
		bytes.Equal(a.CertChainPEM, b.CertChainPEM) && bytes.Equal(a.RootPEM, b.RootPEM)
}

func parsePlugged(data map[string][]byte) (*authority, error) {
	certs, err := pemutil.ParseCerts(data[CACertFile])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CACertFile, err)
	}
	key, err := pemutil.ParseKey(data[CAKeyFile])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CAKeyFile, err)
	}
	roots, err := pemutil.ParseCerts(data[RootCertFile])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RootCertFile, err)
	}
	var chain []*x509.Certificate
	if len(data[CertChainFile]) > 0 {
		if chain, err = pemutil.ParseCerts(data[CertChainFile]); err != nil {
			return nil, fmt.Errorf("%s: %w", CertChainFile, err)
		}
	}
	return newAuthority(key, certs[0], chain, roots, SourcePlugged)
}
