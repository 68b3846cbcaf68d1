package ca_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/modules/ca"
)

// newCA creates a self-signed CA in a fresh temporary data directory.
func newCA(t *testing.T, opts ca.Options) *ca.CA {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(t.TempDir(), "ca")
	}
	c, err := ca.New(opts, nil, nil)
	require.NoError(t, err)
	return c
}

// The package's tests share one ECDSA CA and one RSA key: RSA key generation
// is the slowest thing they do, so it is done once.
var (
	sharedCAOnce sync.Once
	sharedCA     *ca.CA
	sharedCAErr  error

	rsaKeyOnce sync.Once
	rsaKey     *rsa.PrivateKey
	rsaKeyErr  error
)

// defaultCA returns a CA with default options, shared by the tests that do
// not care which CA signs.
func defaultCA(t *testing.T) *ca.CA {
	t.Helper()
	sharedCAOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ca-test-*")
		if err != nil {
			sharedCAErr = err
			return
		}
		// The directory only holds the root of this test process; the CA
		// keeps everything it needs in memory after New.
		defer os.RemoveAll(dir)
		sharedCA, sharedCAErr = ca.New(ca.Options{DataDir: filepath.Join(dir, "ca")}, nil, nil)
	})
	require.NoError(t, sharedCAErr)
	return sharedCA
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

func rsa2048Key(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	rsaKeyOnce.Do(func() { rsaKey, rsaKeyErr = rsa.GenerateKey(rand.Reader, 2048) })
	require.NoError(t, rsaKeyErr)
	return rsaKey
}

// csrPEM makes a PEM CSR for key from tmpl (nil: an empty request).
func csrPEM(t *testing.T, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// greedyCSR asks for every kind of name; the CA must ignore all of them.
func greedyCSR(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	admin, err := url.Parse("spiffe://cluster.local/ns/kube-system/sa/admin")
	require.NoError(t, err)
	return csrPEM(t, key, &x509.CertificateRequest{
		Subject:        pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		DNSNames:       []string{"evil.example.com", "localhost"},
		IPAddresses:    []net.IP{net.ParseIP("10.0.0.1")},
		EmailAddresses: []string{"root@example.com"},
		URIs:           []*url.URL{admin},
	})
}

// parseChain parses every element of a response chain, checking that each is
// exactly one PEM certificate block ending in a newline (the root bundle may
// hold several).
func parseChain(t *testing.T, chain []string) [][]*x509.Certificate {
	t.Helper()
	out := make([][]*x509.Certificate, 0, len(chain))
	for i, p := range chain {
		require.Truef(t, strings.HasSuffix(p, "\n"), "chain element %d does not end in a newline", i)
		certs, err := pemutil.ParseCerts([]byte(p))
		require.NoErrorf(t, err, "chain element %d", i)
		out = append(out, certs)
	}
	return out
}

// verifyLeaf checks that the first element of chain verifies to roots
// through the middle elements, for usage.
func verifyLeaf(t *testing.T, chain []string, roots *x509.CertPool, usage x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	require.GreaterOrEqual(t, len(chain), 2, "chain must hold a leaf and the roots")
	parsed := parseChain(t, chain)
	require.Len(t, parsed[0], 1, "the leaf element must hold one certificate")
	inter := x509.NewCertPool()
	for _, cs := range parsed[1 : len(parsed)-1] {
		require.Len(t, cs, 1, "each intermediate element must hold one certificate")
		inter.AddCert(cs[0])
	}
	leaf := parsed[0][0]
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
	require.NoError(t, err, "issued chain does not verify to the root")
	return leaf
}

func uriStrings(us []*url.URL) []string {
	out := make([]string, 0, len(us))
	for _, u := range us {
		out = append(out, u.String())
	}
	return out
}

// requireAbout fails unless got is within slack of want.
func requireAbout(t *testing.T, want, got time.Time, slack time.Duration, what string) {
	t.Helper()
	d := got.Sub(want)
	if d < 0 {
		d = -d
	}
	require.LessOrEqualf(t, d, slack, "%s: got %s, want about %s", what, got.UTC(), want.UTC())
}

// certSpec describes a certificate made by the test PKI helpers.
type certSpec struct {
	cn      string
	isCA    bool
	ttl     time.Duration
	parent  *testCert // nil: self-signed
	keyType string    // "" ECDSA P-256, "rsa" the shared RSA 2048 key
}

type testCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func (c *testCert) certPEM() []byte { return pemutil.EncodeCert(c.cert.Raw) }

func (c *testCert) keyPEM(t *testing.T) []byte {
	t.Helper()
	b, err := pemutil.EncodeKey(c.key)
	require.NoError(t, err)
	return b
}

var serialSeq struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serialSeq.Lock()
	defer serialSeq.Unlock()
	serialSeq.n++
	return big.NewInt(serialSeq.n)
}

// makeCert issues a certificate as spec says, with the real crypto.
func makeCert(t *testing.T, spec certSpec) *testCert {
	t.Helper()
	var key crypto.Signer = ecKey(t)
	if spec.keyType == "rsa" {
		key = rsa2048Key(t)
	}
	if spec.ttl == 0 {
		spec.ttl = 24 * time.Hour
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: spec.cn, Organization: []string{"bootgraph test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(spec.ttl),
		BasicConstraintsValid: true,
		IsCA:                  spec.isCA,
	}
	if spec.isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{spec.cn}
	}
	parent, parentKey := tmpl, key
	if spec.parent != nil {
		parent, parentKey = spec.parent.cert, spec.parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCert{cert: cert, key: key}
}

// pluggedPKI is an operator's CA hierarchy: a root and an intermediate that
// the bootgraph CA signs with.
type pluggedPKI struct {
	root, inter *testCert
}

func newPluggedPKI(t *testing.T) *pluggedPKI {
	t.Helper()
	root := makeCert(t, certSpec{cn: "Test Root CA", isCA: true, ttl: 10 * 365 * 24 * time.Hour})
	inter := makeCert(t, certSpec{cn: "Test Intermediate CA", isCA: true, ttl: 365 * 24 * time.Hour, parent: root})
	return &pluggedPKI{root: root, inter: inter}
}

// write puts the PKI into a new directory under istiod's cacerts names, with
// cert-chain.pem holding the intermediate and the root.
func (p *pluggedPKI) write(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, ca.CACertFile, p.inter.certPEM())
	writeFile(t, dir, ca.CAKeyFile, p.inter.keyPEM(t))
	writeFile(t, dir, ca.CertChainFile, append(p.inter.certPEM(), p.root.certPEM()...))
	writeFile(t, dir, ca.RootCertFile, p.root.certPEM())
	return dir
}

func writeFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return b
}

func dur(d time.Duration) component.Duration { return component.Duration(d) }
