package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// leafKeys are one key of each type a CSR may have, made once.
var leafKeys = sync.OnceValue(func() map[string]crypto.Signer {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	return map[string]crypto.Signer{"p256": p256, "p384": p384, "p521": p521, "rsa2048": rsa2048, "ed25519": ed}
})

// leafIssuer is a signing certificate and its key.
type leafIssuer struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// leafIssuers are CAs of every key type, self-signed as generateSelfSigned
// makes them, and an intermediate of an operator's CA with a subject of
// several attributes, as a plugged-in CA has.
func leafIssuers(t *testing.T) map[string]leafIssuer {
	t.Helper()
	out := map[string]leafIssuer{}
	for name, key := range leafKeys() {
		cert, err := selfSign(key, "cluster.local", 24*time.Hour)
		require.NoError(t, err)
		out["self-signed "+name] = leafIssuer{cert, key}
	}
	root := out["self-signed p384"]
	key := leafKeys()["rsa2048"]
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(42),
		Subject:               pkix.Name{CommonName: "Intermediate CA", Organization: []string{"Example Corp"}, Country: []string{"NL"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.cert, key.Public(), root.key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	out["plugged-in intermediate rsa2048"] = leafIssuer{cert, key}
	return out
}

// Every signer the CA accepts gets a leaf encoder, so no CA falls back to
// x509.CreateCertificate.
func TestLeafEncoderForEveryCAKey(t *testing.T) {
	t.Parallel()
	for name, iss := range leafIssuers(t) {
		_, err := newLeafEncoder(iss.key, iss.cert)
		assert.NoError(t, err, name)
	}
	c, err := New(Options{DataDir: t.TempDir()}, nil, nil)
	require.NoError(t, err)
	assert.NotNil(t, c.state.Load().leaves, "a self-signed CA signs with the leaf encoder")
}

// The encoder's to-be-signed certificate is x509.CreateCertificate's, byte
// for byte, for every issuer, leaf key, serial, validity and set of SANs.
func TestLeafEncoderMatchesCreateCertificate(t *testing.T) {
	t.Parallel()
	rng := mrand.New(mrand.NewPCG(1, 2))
	serials := [][16]byte{
		{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
		{0, 0x7f, 0xff},
		{0, 0x80},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}
	for range 8 {
		var s [16]byte
		binary.BigEndian.PutUint64(s[:8], rng.Uint64())
		binary.BigEndian.PutUint64(s[8:], rng.Uint64())
		serials = append(serials, s)
	}
	at := func(y int, m time.Month, d, h, min, s, ns int, loc *time.Location) time.Time {
		return time.Date(y, m, d, h, min, s, ns, loc)
	}
	east := time.FixedZone("east", 5*3600+1800)
	validities := [][2]time.Time{
		{time.Now().Add(-clockSkew), time.Now().Add(24 * time.Hour)},
		{at(1950, 1, 1, 0, 0, 0, 0, time.UTC), at(2049, 12, 31, 23, 59, 59, 999, time.UTC)},
		{at(1949, 12, 31, 23, 59, 59, 0, time.UTC), at(2050, 1, 1, 0, 0, 0, 0, time.UTC)},
		{at(2049, 12, 31, 22, 0, 0, 0, east), at(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{at(2026, 2, 3, 4, 5, 6, 7, east), at(2026, 7, 8, 9, 10, 11, 12, time.Local)},
	}
	long := "spiffe://cluster.local/ns/" + strings.Repeat("n", 63) + "/sa/" + strings.Repeat("s", 253)
	sans := [][]string{
		{"spiffe://cluster.local/ns/default/sa/default"},
		{"spiffe://cluster.local/ns/a/sa/b", "spiffe://example.org/ns/c/sa/d"},
		{long},
		{long, long, long, long},
		{"spiffe://cluster.local/ns/a%20b/sa/c?d#e", "urn:x"},
	}
	for name, iss := range leafIssuers(t) {
		e, err := newLeafEncoder(iss.key, iss.cert)
		require.NoError(t, err, name)
		for keyName, key := range leafKeys() {
			for i, serial := range serials {
				v := validities[i%len(validities)]
				names := sans[i%len(sans)]
				want := createTBS(t, iss, key.Public(), serial, v[0], v[1], names)
				_, rsaKey := key.Public().(*rsa.PublicKey)
				spki, err := x509.MarshalPKIXPublicKey(key.Public())
				require.NoError(t, err)
				got, err := e.tbs(serial, v[0], v[1], spki, names, rsaKey)
				require.NoError(t, err)
				require.Equalf(t, want, got, "issuer %s, leaf key %s, serial %x, validity %v, SANs %v", name, keyName, serial, v, names)
			}
		}
	}
}

// createTBS is the to-be-signed certificate x509.CreateCertificate makes
// from leafTemplate.
func createTBS(t *testing.T, iss leafIssuer, pub crypto.PublicKey, serial [16]byte, notBefore, notAfter time.Time, names []string) []byte {
	t.Helper()
	tmpl, err := leafTemplate(pub, notBefore, notAfter)
	require.NoError(t, err)
	tmpl.SerialNumber.SetBytes(serial[:])
	for _, n := range names {
		u, err := url.Parse(n)
		require.NoError(t, err)
		require.Equal(t, n, u.String(), "a SAN the CA would write")
		tmpl.URIs = append(tmpl.URIs, u)
	}
	tbs, _, err := captureTBS(tmpl, iss.cert, pub, iss.key)
	require.NoError(t, err)
	return tbs
}

// A signed leaf parses, verifies to its issuer and has the fields it was
// made with.
func TestLeafEncoderSign(t *testing.T) {
	t.Parallel()
	for name, iss := range leafIssuers(t) {
		e, err := newLeafEncoder(iss.key, iss.cert)
		require.NoError(t, err, name)
		for keyName, key := range leafKeys() {
			serial, err := randomSerialBytes()
			require.NoError(t, err)
			notBefore := time.Now().Add(-clockSkew).Truncate(time.Second)
			notAfter := notBefore.Add(time.Hour)
			der, err := e.sign(serial, notBefore, notAfter, key.Public(), nil, []string{"spiffe://cluster.local/ns/a/sa/b"})
			require.NoError(t, err, "%s, %s", name, keyName)
			leaf, err := x509.ParseCertificate(der)
			require.NoError(t, err)
			require.NoError(t, leaf.CheckSignatureFrom(iss.cert), "%s, %s", name, keyName)
			assert.Equal(t, new(big.Int).SetBytes(serial[:]), leaf.SerialNumber)
			assert.True(t, notBefore.Equal(leaf.NotBefore) && notAfter.Equal(leaf.NotAfter))
			assert.True(t, pemutil.KeyMatches(key, leaf.PublicKey))
			assert.Equal(t, iss.cert.SubjectKeyId, leaf.AuthorityKeyId)
			_, rsaKey := key.Public().(*rsa.PublicKey)
			assert.Equal(t, leafKeyUsage(rsaKey), leaf.KeyUsage)
			assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, leaf.ExtKeyUsage)
			assert.Equal(t, "spiffe://cluster.local/ns/a/sa/b", leaf.URIs[0].String())
		}
	}
}

// A signer that returns a bad signature is caught, as
// x509.CreateCertificate catches it.
func TestLeafEncoderChecksSignature(t *testing.T) {
	t.Parallel()
	iss := leafIssuers(t)["self-signed p256"]
	e, err := newLeafEncoder(iss.key, iss.cert)
	require.NoError(t, err)
	e.signer = badSigner{iss.key}
	_, err = e.sign([16]byte{1}, time.Now(), time.Now().Add(time.Hour), iss.key.Public(), nil, []string{"spiffe://a/b"})
	require.ErrorContains(t, err, "signature returned by the signer is invalid")
}

type badSigner struct{ crypto.Signer }

func (s badSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := s.Signer.Sign(r, digest, opts)
	if err == nil {
		sig[len(sig)-3] ^= 1
	}
	return sig, err
}

// SANs that are not IA5Strings are refused, with x509.CreateCertificate's
// message.
func TestLeafEncoderRefusesNonASCII(t *testing.T) {
	t.Parallel()
	iss := leafIssuers(t)["self-signed p256"]
	e, err := newLeafEncoder(iss.key, iss.cert)
	require.NoError(t, err)
	_, err = e.sign([16]byte{1}, time.Now(), time.Now().Add(time.Hour), iss.key.Public(), nil, []string{"spiffe://clüster/a"})
	require.ErrorContains(t, err, "cannot be encoded as an IA5String")
}

// A CSR's own encoding of its key is used when it is x509's, and only
// then.
func TestPublicKeyInfo(t *testing.T) {
	t.Parallel()
	for name, key := range leafKeys() {
		want, err := x509.MarshalPKIXPublicKey(key.Public())
		require.NoError(t, err)
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
		require.NoError(t, err)
		csr, err := x509.ParseCertificateRequest(der)
		require.NoError(t, err)
		got, err := publicKeyInfo(csr.PublicKey, csr.RawSubjectPublicKeyInfo)
		require.NoError(t, err)
		assert.Equal(t, want, got, name)
		if _, ok := key.Public().(*ecdsa.PublicKey); ok {
			assert.Same(t, &csr.RawSubjectPublicKeyInfo[0], &got[0], "%s: the CSR's bytes", name)
		}
		// Another encoding of the same key (one an x509 parser may
		// accept) is not copied.
		odd := append(bytes.Clone(csr.RawSubjectPublicKeyInfo), 0)
		got, err = publicKeyInfo(csr.PublicKey, odd)
		require.NoError(t, err)
		assert.Equal(t, want, got, name)
		got, err = publicKeyInfo(csr.PublicKey, nil)
		require.NoError(t, err)
		assert.Equal(t, want, got, name)
	}
}

// RSA keys of every size and exponent the parser accepts are encoded as
// x509 encodes them.
func TestRSAPublicKeyInfo(t *testing.T) {
	t.Parallel()
	for _, bits := range []int{8, 15, 16, 17, 1024, 2047, 2048, 4096, 8192, 16384} {
		for _, e := range []int{1, 3, 127, 128, 255, 256, 65537, 1<<31 - 1, 1 << 40, 1<<63 - 1} {
			n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
			r, err := rand.Int(rand.Reader, n)
			require.NoError(t, err)
			n.Add(n, r)
			k := &rsa.PublicKey{N: n, E: e}
			want, err := x509.MarshalPKIXPublicKey(k)
			require.NoError(t, err)
			require.Equalf(t, want, rsaPublicKeyInfo(k), "%d bits, e %d", bits, e)
		}
	}
}

// certPEM writes what pem.EncodeToMemory writes.
func TestCertPEM(t *testing.T) {
	t.Parallel()
	for n := range 200 {
		der := make([]byte, n)
		_, _ = rand.Read(der)
		require.Equal(t, string(pemutil.EncodeCert(der)), certPEM(der), fmt.Sprint(n, " bytes"))
	}
}

// Without a leaf encoder the CA signs the same leaves with
// x509.CreateCertificate.
func TestSignWithoutLeafEncoder(t *testing.T) {
	t.Parallel()
	c, err := New(Options{DataDir: t.TempDir()}, nil, nil)
	require.NoError(t, err)
	a := *c.state.Load()
	a.leaves = nil
	c.state.Store(&a)
	key := leafKeys()["rsa2048"]
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	require.NoError(t, err)
	chain, err := c.Sign(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), []string{"spiffe://cluster.local/ns/a/sa/b"}, time.Hour)
	require.NoError(t, err)
	leaf, err := pemutil.ParseCerts([]byte(chain[0]))
	require.NoError(t, err)
	require.NoError(t, leaf[0].CheckSignatureFrom(a.cert))
	assert.Equal(t, leafKeyUsage(true), leaf[0].KeyUsage)
}
