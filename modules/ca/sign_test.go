package ca_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/modules/ca"
)

const testID = "spiffe://cluster.local/ns/default/sa/app"

func TestSign(t *testing.T) {
	t.Parallel()
	c := newCA(t, ca.Options{MaxCertTTL: dur(48 * time.Hour)})
	ecLeafKey := ecKey(t)

	tests := []struct {
		name       string
		key        crypto.Signer // nil: ecLeafKey
		csr        []byte        // nil: greedyCSR(key)
		identities []string      // nil: {testID}
		ttl        time.Duration
		wantTTL    time.Duration
		wantUsage  x509.KeyUsage
	}{
		{name: "default TTL", ttl: 0, wantTTL: 24 * time.Hour, wantUsage: x509.KeyUsageDigitalSignature},
		{name: "negative TTL means default", ttl: -time.Hour, wantTTL: 24 * time.Hour, wantUsage: x509.KeyUsageDigitalSignature},
		{name: "explicit TTL", ttl: time.Hour, wantTTL: time.Hour, wantUsage: x509.KeyUsageDigitalSignature},
		{name: "TTL equal to max", ttl: 48 * time.Hour, wantTTL: 48 * time.Hour, wantUsage: x509.KeyUsageDigitalSignature},
		{
			name:       "several identities",
			identities: []string{testID, "spiffe://cluster.local/ns/default/sa/other"},
			ttl:        time.Hour, wantTTL: time.Hour,
			wantUsage: x509.KeyUsageDigitalSignature,
		},
		{
			name:      "RSA key",
			key:       rsa2048Key(t),
			ttl:       time.Hour,
			wantTTL:   time.Hour,
			wantUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		},
		{
			name:      "CSR without names",
			csr:       csrPEM(t, ecLeafKey, nil),
			ttl:       time.Hour,
			wantTTL:   time.Hour,
			wantUsage: x509.KeyUsageDigitalSignature,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := tt.key
			if key == nil {
				key = ecLeafKey
			}
			csr := tt.csr
			if csr == nil {
				csr = greedyCSR(t, key)
			}
			ids := tt.identities
			if ids == nil {
				ids = []string{testID}
			}
			start := time.Now()
			chain, err := c.Sign(csr, ids, tt.ttl)
			require.NoError(t, err)

			require.Len(t, chain, 2, "self-signed CA: leaf and root")
			assert.Equal(t, string(c.RootPEM()), chain[1], "the last element is the root bundle")
			leaf := verifyLeaf(t, chain, c.Roots(), x509.ExtKeyUsageClientAuth)

			// Identity: exactly the given identities, nothing from the CSR.
			assert.Equal(t, ids, uriStrings(leaf.URIs))
			assert.Empty(t, leaf.DNSNames)
			assert.Empty(t, leaf.IPAddresses)
			assert.Empty(t, leaf.EmailAddresses)
			assert.Empty(t, leaf.Subject.CommonName)
			assert.Empty(t, leaf.Subject.Organization)
			assert.True(t, pemutil.KeyMatches(key, leaf.PublicKey), "the leaf must certify the CSR's key")

			// Validity.
			requireAbout(t, start.Add(-2*time.Minute), leaf.NotBefore, 5*time.Second, "NotBefore")
			requireAbout(t, start.Add(tt.wantTTL), leaf.NotAfter, 5*time.Second, "NotAfter")

			// Usages.
			assert.Equal(t, tt.wantUsage, leaf.KeyUsage)
			assert.ElementsMatch(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, leaf.ExtKeyUsage)
			assert.False(t, leaf.IsCA)
			assert.True(t, leaf.BasicConstraintsValid)
			assert.Equal(t, c.SigningCert().Subject.String(), leaf.Issuer.String())

			// Serial: positive and at most 128 bits.
			assert.Equal(t, 1, leaf.SerialNumber.Sign(), "serial must be positive")
			assert.Equal(t, -1, leaf.SerialNumber.Cmp(new(big.Int).Lsh(big.NewInt(1), 128)), "serial must be below 2^128")
		})
	}
}

func TestSignSerialsDiffer(t *testing.T) {
	t.Parallel()
	c := defaultCA(t)
	csr := csrPEM(t, ecKey(t), nil)
	seen := map[string]bool{}
	for i := range 8 {
		chain, err := c.Sign(csr, []string{testID}, time.Hour)
		require.NoError(t, err)
		leaf := parseChain(t, chain)[0][0]
		s := leaf.SerialNumber.String()
		require.Falsef(t, seen[s], "issue %d reused serial %s", i, s)
		seen[s] = true
		assert.NotEqual(t, 0, leaf.SerialNumber.Cmp(c.SigningCert().SerialNumber))
	}
}

func TestSignNotAfterCappedAtCA(t *testing.T) {
	t.Parallel()
	c := newCA(t, ca.Options{
		RootTTL:        dur(time.Hour),
		DefaultCertTTL: dur(time.Hour),
		MaxCertTTL:     dur(1000 * time.Hour),
	})
	chain, err := c.Sign(csrPEM(t, ecKey(t), nil), []string{testID}, 2*time.Hour)
	require.NoError(t, err, "a TTL within max is issued, capped, not rejected")
	leaf := verifyLeaf(t, chain, c.Roots(), x509.ExtKeyUsageServerAuth)
	assert.True(t, leaf.NotAfter.Equal(c.SigningCert().NotAfter),
		"leaf NotAfter %s must be the CA's NotAfter %s", leaf.NotAfter, c.SigningCert().NotAfter)

	// Serving certificates are capped the same way.
	servingPEM, _, err := c.GenKeyCert([]string{"localhost"}, 24*time.Hour)
	require.NoError(t, err)
	serving, err := pemutil.ParseCerts(servingPEM)
	require.NoError(t, err)
	assert.False(t, serving[0].NotAfter.After(c.SigningCert().NotAfter))
}

func TestSignErrors(t *testing.T) {
	t.Parallel()
	c := newCA(t, ca.Options{MaxCertTTL: dur(48 * time.Hour)})
	ecLeafKey := ecKey(t)
	good := csrPEM(t, ecLeafKey, nil)
	id := []string{testID}

	tests := []struct {
		name       string
		csr        []byte
		identities []string
		ttl        time.Duration
		wantKind   ca.ErrorKind
		wantMsg    string
	}{
		{name: "TTL above max", identities: id, csr: good, ttl: 48*time.Hour + time.Second, wantKind: ca.ErrTTL, wantMsg: "greater than the max allowed TTL"},
		{name: "TTL far above max", identities: id, csr: good, ttl: 365 * 24 * time.Hour, wantKind: ca.ErrTTL, wantMsg: "48h0m0s"},
		{name: "garbage CSR", identities: id, csr: []byte("not a CSR"), wantKind: ca.ErrCSR, wantMsg: "not a PEM CERTIFICATE REQUEST"},
		{name: "empty CSR", identities: id, csr: nil, wantKind: ca.ErrCSR},
		{name: "wrong PEM type", identities: id, csr: retype(good, "CERTIFICATE"), wantKind: ca.ErrCSR, wantMsg: "not a PEM CERTIFICATE REQUEST"},
		{
			name:       "CSR block is not DER",
			identities: id,
			csr:        pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte("junk")}),
			wantKind:   ca.ErrCSR, wantMsg: "parse CSR",
		},
		{name: "ECDSA CSR with corrupted signature", identities: id, csr: corruptSignature(t, good), wantKind: ca.ErrCSR, wantMsg: "CSR signature"},
		{name: "RSA CSR with corrupted signature", identities: id, csr: corruptSignature(t, csrPEM(t, rsa2048Key(t), nil)), wantKind: ca.ErrCSR, wantMsg: "CSR signature"},
		{name: "no identities", csr: good, identities: []string{}, wantKind: ca.ErrNoIdentity},
		{name: "nil identities", csr: good, identities: nil, wantKind: ca.ErrNoIdentity},
		{name: "identity is not a URI", csr: good, identities: []string{"default/app"}, wantKind: ca.ErrNoIdentity, wantMsg: `"default/app" is not a URI`},
		{name: "no identity beats a bad CSR", csr: []byte("junk"), identities: []string{}, wantKind: ca.ErrNoIdentity},
		{name: "bad TTL beats a bad CSR", identities: id, csr: []byte("junk"), ttl: 49 * time.Hour, wantKind: ca.ErrTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			chain, err := c.Sign(tt.csr, tt.identities, tt.ttl)
			require.Error(t, err)
			assert.Nil(t, chain)
			assert.Equal(t, tt.wantKind, ca.KindOf(err))
			assert.True(t, strings.HasPrefix(err.Error(), string(tt.wantKind)+": "), "error %q must start with its kind", err)
			if tt.wantMsg != "" {
				assert.Contains(t, err.Error(), tt.wantMsg)
			}
			var se *ca.SignError
			require.ErrorAs(t, err, &se)
			assert.NotNil(t, errors.Unwrap(se), "a SignError wraps its cause")
		})
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	inner := errors.New("boom")
	wrapped := fmt.Errorf("context: %w", &ca.SignError{Kind: ca.ErrCertGen, Err: inner})
	assert.Equal(t, ca.ErrCertGen, ca.KindOf(wrapped))
	assert.ErrorIs(t, wrapped, inner)
	assert.Equal(t, "CERT_GEN_ERROR: boom", errors.Unwrap(wrapped).Error())
	assert.Equal(t, ca.ErrorKind(""), ca.KindOf(inner))
	assert.Equal(t, ca.ErrorKind(""), ca.KindOf(nil))
	// The kinds are istiod's metric labels.
	for kind, want := range map[ca.ErrorKind]string{
		ca.ErrCANotReady: "CA_NOT_READY", ca.ErrCSR: "CSR_ERROR", ca.ErrTTL: "TTL_ERROR",
		ca.ErrCertGen: "CERT_GEN_ERROR", ca.ErrNoIdentity: "IDENTITY_ERROR",
	} {
		assert.Equal(t, want, string(kind))
	}
}

func TestSpiffeID(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "spiffe://cluster.local/ns/foo/sa/bar", ca.SpiffeID("cluster.local", "foo", "bar"))
	assert.Equal(t, "spiffe://example.org/ns/a/sa/b", ca.SpiffeID("example.org", "a", "b"))
}

func TestGenKeyCert(t *testing.T) {
	t.Parallel()
	ecCA := defaultCA(t)
	rsaCA := newCA(t, ca.Options{KeyType: ca.KeyRSA2048})

	// Serving keys are ECDSA P-256 whatever the CA's key type (see
	// GenKeyCert's doc comment; istiod matches the CA's type instead).
	tests := []struct {
		name    string
		c       *ca.CA
		names   []string
		wantDNS []string
		wantIPs []string
		wantSig x509.SignatureAlgorithm // follows the CA's key
	}{
		{
			name:    "ECDSA CA",
			c:       ecCA,
			names:   []string{"localhost", "127.0.0.1", "istiod.istio-system.svc", "::1"},
			wantDNS: []string{"localhost", "istiod.istio-system.svc"},
			wantIPs: []string{"127.0.0.1", "::1"},
			wantSig: x509.ECDSAWithSHA256,
		},
		{
			name:    "RSA CA",
			c:       rsaCA,
			names:   []string{"localhost", "10.1.2.3"},
			wantDNS: []string{"localhost"},
			wantIPs: []string{"10.1.2.3"},
			wantSig: x509.SHA256WithRSA,
		},
		{
			name:    "IP only",
			c:       ecCA,
			names:   []string{"192.0.2.7"},
			wantIPs: []string{"192.0.2.7"},
			wantSig: x509.ECDSAWithSHA256,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			certPEM, keyPEM, err := tt.c.GenKeyCert(tt.names, 6*time.Hour)
			require.NoError(t, err)

			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			require.NoError(t, err, "the key must match the certificate")
			certs, err := pemutil.ParseCerts(certPEM)
			require.NoError(t, err)
			require.Len(t, certs, 1, "a self-signed CA adds no intermediates and never the root")
			leaf := certs[0]
			require.NotNil(t, pair.Leaf)
			assert.True(t, leaf.Equal(pair.Leaf))

			assert.Equal(t, tt.wantDNS, leaf.DNSNames)
			var ips []string
			for _, ip := range leaf.IPAddresses {
				ips = append(ips, ip.String())
			}
			assert.Equal(t, tt.wantIPs, ips)
			assert.Empty(t, leaf.URIs)
			k, ok := leaf.PublicKey.(*ecdsa.PublicKey)
			require.Truef(t, ok, "serving key is %T, want ECDSA", leaf.PublicKey)
			assert.Equal(t, "P-256", k.Curve.Params().Name)
			assert.Equal(t, tt.wantSig, leaf.SignatureAlgorithm, "signed by the CA's key")
			requireAbout(t, start.Add(6*time.Hour), leaf.NotAfter, 5*time.Second, "NotAfter")

			for _, n := range tt.names {
				opts := x509.VerifyOptions{Roots: tt.c.Roots(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
				if net.ParseIP(n) == nil {
					opts.DNSName = n
				}
				_, err := leaf.Verify(opts)
				require.NoErrorf(t, err, "serving cert must verify for %s", n)
				require.NoError(t, leaf.VerifyHostname(n))
			}
		})
	}

	t.Run("no names", func(t *testing.T) {
		t.Parallel()
		certPEM, keyPEM, err := ecCA.GenKeyCert(nil, time.Hour)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "at least one name")
		assert.Nil(t, certPEM)
		assert.Nil(t, keyPEM)
	})
}

// retype re-encodes the PEM block in p under typ.
func retype(p []byte, typ string) []byte {
	b, _ := pem.Decode(p)
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b.Bytes})
}

// corruptSignature flips a bit in the last byte of the CSR's DER, which lies
// in the signature BIT STRING, so the CSR still parses but does not verify.
func corruptSignature(t *testing.T, p []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(p)
	require.NotNil(t, b)
	der := append([]byte(nil), b.Bytes...)
	der[len(der)-1] ^= 0x01
	csr, err := x509.ParseCertificateRequest(der)
	require.NoError(t, err, "the corrupted CSR must still parse")
	require.Error(t, csr.CheckSignature(), "the corrupted CSR must not verify")
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestGenKeyCertNeedsPositiveTTL(t *testing.T) {
	t.Parallel()
	c, err := ca.New(ca.Options{DataDir: t.TempDir()}, nil, nil)
	require.NoError(t, err)
	for _, ttl := range []time.Duration{0, -time.Hour} {
		_, _, err := c.GenKeyCert([]string{"localhost"}, ttl)
		require.Error(t, err, "ttl %v", ttl)
		assert.Contains(t, err.Error(), "positive TTL")
	}
}
