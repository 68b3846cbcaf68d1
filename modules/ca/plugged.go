package ca

import (
	"crypto/x509"
	"fmt"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// loadPlugged loads and verifies an operator-supplied CA from dir, which must
// hold istiod's cacerts files: ca-cert.pem, ca-key.pem, cert-chain.pem and
// root-cert.pem.
func loadPlugged(dir string) (*authority, error) {
	// A Kubernetes Secret volume is a sticky directory (1777): accepted.
	if err := pemutil.CheckPrivateDir(dir, true); err != nil {
		return nil, fmt.Errorf("ca: plugged-in CA: %w", err)
	}
	names := []string{CACertFile, CAKeyFile, CertChainFile, RootCertFile}
	data, err := pemutil.ReadGeneration(dir, pemutil.Spec{Name: CACertFile}, pemutil.Spec{Name: CAKeyFile, Private: true},
		pemutil.Spec{Name: CertChainFile}, pemutil.Spec{Name: RootCertFile})
	if err != nil {
		return nil, fmt.Errorf("ca: plugged-in CA: %w", err)
	}
	var missing []string
	for _, name := range names {
		if _, ok := data[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("ca: plugged-in CA in %s is incomplete: missing %v (need %v)", dir, missing, names)
	}
	a, err := parsePlugged(data)
	if err != nil {
		return nil, fmt.Errorf("ca: plugged-in CA in %s: %w", dir, err)
	}
	return a, nil
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
	return newAuthority(key, certs[0], chain, roots, "plugged-in")
}
