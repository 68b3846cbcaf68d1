package ca

import (
	"crypto"
	"crypto/x509"
)

// SigningMaterial is the current signing certificate and key, for the
// benchmarks' crypto baseline.
func (c *CA) SigningMaterial() (*x509.Certificate, crypto.Signer) {
	a := c.state.Load()
	return a.cert, a.signer
}
