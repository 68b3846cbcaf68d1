package ca_test

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// certOpts describes a certificate for mkCert: like certSpec, with the
// validity and the key chosen by the test.
type certOpts struct {
	cn                  string
	isCA                bool
	notBefore, notAfter time.Time     // zero: an hour ago, in a day
	parent              *testCert     // nil: self-signed
	key                 crypto.Signer // nil: a new ECDSA P-256 key
}

// mkCert issues a certificate as o says, with the real crypto and no
// checks of its own: weak keys and odd validities are what tests need.
func mkCert(t *testing.T, o certOpts) *testCert {
	t.Helper()
	key := o.key
	if key == nil {
		key = ecKey(t)
	}
	now := time.Now()
	if o.notBefore.IsZero() {
		o.notBefore = now.Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = now.Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: o.cn, Organization: []string{"bootgraph test"}},
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		BasicConstraintsValid: true,
		IsCA:                  o.isCA,
	}
	if o.isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	parent, parentKey := tmpl, key
	if o.parent != nil {
		parent, parentKey = o.parent.cert, o.parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCert{cert: cert, key: key}
}
