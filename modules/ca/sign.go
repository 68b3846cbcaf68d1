package ca

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// clockSkew backdates NotBefore so that peers with slightly slow clocks
// accept a fresh certificate (istiod's ClockSkewGracePeriod).
const clockSkew = 2 * time.Minute

// serialLimit bounds random serials to 128 bits.
var serialLimit = new(big.Int).Lsh(big.NewInt(1), 128)

// Sign issues a workload certificate for the public key in csrPEM. The
// certificate's only SANs are identities, the caller's authenticated
// identities; the names the CSR asks for are ignored, as istiod does. ttl <= 0
// means Options.DefaultCertTTL; a ttl above Options.MaxCertTTL is an error.
//
// The returned chain is leaf first and the root bundle last, each element a
// PEM block ending in a newline: the wire format of IstioCertificateResponse.
func (c *CA) Sign(csrPEM []byte, identities []string, ttl time.Duration) ([]string, error) {
	a := c.state.Load()
	if a == nil {
		return nil, signErr(ErrCANotReady, errors.New("CA is not initialized"))
	}
	if len(identities) == 0 {
		return nil, signErr(ErrNoIdentity, errors.New("no identity to issue the certificate for"))
	}
	ttl, err := c.checkTTL(ttl)
	if err != nil {
		return nil, err
	}
	notBefore, notAfter, err := a.validity(time.Now(), ttl)
	if err != nil {
		return nil, signErr(ErrSignerNotValid, err)
	}
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	uris, err := parseURIs(identities)
	if err != nil {
		return nil, signErr(ErrNoIdentity, err)
	}
	der, err := a.issue(csr, notBefore, notAfter, uris)
	if err != nil {
		return nil, signErr(ErrCertGen, err)
	}
	chain := make([]string, 0, len(a.chainPEM)+2)
	chain = append(chain, certPEM(der))
	chain = append(chain, a.chainPEM...)
	return append(chain, a.rootsPEM), nil
}

// issue signs a leaf for the CSR's key, with a random serial and uris as
// its SANs: with the authority's leaf encoder, or x509.CreateCertificate
// when it has none.
func (a *authority) issue(csr *x509.CertificateRequest, notBefore, notAfter time.Time, uris []*url.URL) ([]byte, error) {
	serial, err := randomSerialBytes()
	if err != nil {
		return nil, err
	}
	if a.leaves != nil {
		names := make([]string, len(uris))
		for i, u := range uris {
			names[i] = u.String()
		}
		return a.leaves.sign(serial, notBefore, notAfter, csr.PublicKey, csr.RawSubjectPublicKeyInfo, names)
	}
	pub := csr.PublicKey
	tmpl, err := leafTemplate(pub, notBefore, notAfter)
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber.SetBytes(serial[:])
	tmpl.URIs = uris
	return x509.CreateCertificate(rand.Reader, tmpl, a.cert, pub, a.signer)
}

func (c *CA) checkTTL(ttl time.Duration) (time.Duration, error) {
	if ttl <= 0 {
		return time.Duration(c.opts.DefaultCertTTL), nil
	}
	if max := time.Duration(c.opts.MaxCertTTL); ttl > max {
		return 0, signErr(ErrTTL, fmt.Errorf("requested TTL %v is greater than the max allowed TTL %v", ttl, max))
	}
	return ttl, nil
}

// MaxCSRSize bounds the PEM CSR of a request. A CSR for an RSA 8192 key
// with a few names is under 3 KiB; anything near the bound is not a CSR
// the CA would sign.
const MaxCSRSize = 32 << 10

// parseCSR accepts exactly one PEM CERTIFICATE REQUEST block (surrounding
// whitespace aside) of at most MaxCSRSize bytes, correctly self-signed,
// for a key that CheckKeyStrength accepts.
func parseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	if len(csrPEM) > MaxCSRSize {
		return nil, signErr(ErrCSR, fmt.Errorf("the CSR is %d bytes, more than the %d accepted", len(csrPEM), MaxCSRSize))
	}
	trimmed := bytes.TrimSpace(csrPEM)
	block, rest := pem.Decode(trimmed)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, signErr(ErrCSR, errors.New("the CSR is not a PEM CERTIFICATE REQUEST block"))
	}
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		return nil, signErr(ErrCSR, fmt.Errorf("the CSR has %d bytes before its PEM block", bytes.Index(trimmed, []byte("-----BEGIN "))))
	}
	if len(rest) > 0 {
		return nil, signErr(ErrCSR, fmt.Errorf("the CSR's PEM block is followed by %d more bytes; send one CERTIFICATE REQUEST block only", len(rest)))
	}
	if len(block.Headers) > 0 {
		return nil, signErr(ErrCSR, errors.New("the CSR's PEM block has headers; send a plain CERTIFICATE REQUEST block"))
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, signErr(ErrCSR, fmt.Errorf("parse CSR: %w", err))
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, signErr(ErrCSR, fmt.Errorf("CSR signature: %w", err))
	}
	if err := pemutil.CheckKeyStrength(csr.PublicKey); err != nil {
		return nil, signErr(ErrCSR, fmt.Errorf("the CSR's key: %w", err))
	}
	return csr, nil
}

func parseURIs(ids []string) ([]*url.URL, error) {
	uris := make([]*url.URL, 0, len(ids))
	for _, id := range ids {
		u, err := url.Parse(id)
		if err != nil || u.Scheme == "" {
			return nil, fmt.Errorf("identity %q is not a URI", id)
		}
		uris = append(uris, u)
	}
	return uris, nil
}

// leafTemplate is the shared shape of every end-entity certificate: a random
// 128-bit serial, the validity the authority gave (see authority.validity),
// and server+client EKUs.
func leafTemplate(pub crypto.PublicKey, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := pub.(*rsa.PublicKey); ok {
		usage |= x509.KeyUsageKeyEncipherment // only RSA keys encipher
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}, nil
}

// servingSubject names a serving certificate. The names that matter are in
// the SANs, but some TLS stacks (GnuTLS, so Knot's kdig) refuse a certificate
// whose subject is empty; a CN longer than X.509's 64 characters is left out.
func servingSubject(firstName, trustDomain string) pkix.Name {
	subject := pkix.Name{Organization: []string{trustDomain}}
	if len(firstName) <= 64 {
		subject.CommonName = firstName
	}
	return subject
}

// randomSerialBytes is a random 128-bit serial, big-endian: the same
// numbers as randomSerial's.
func randomSerialBytes() ([16]byte, error) {
	var serial [16]byte
	for {
		if _, err := rand.Read(serial[:]); err != nil {
			return serial, fmt.Errorf("generate serial: %w", err)
		}
		if serial != [16]byte{} {
			return serial, nil
		}
	}
}

func randomSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, serialLimit)
		if err != nil {
			return nil, fmt.Errorf("generate serial: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// GenKeyCert makes a new key and a certificate for names (DNS names or IP
// addresses), for the control plane's own TLS listeners. The key is ECDSA
// P-256 whatever the CA's key type: every TLS 1.2 client supports it, and an
// RSA-2048 key would cost ~45 ms of start-up (istiod matches the CA's type).
// It returns the chain (leaf and intermediates, no root) and the key, PEM.
func (c *CA) GenKeyCert(names []string, ttl time.Duration) (certChainPEM, keyPEM []byte, err error) {
	a := c.state.Load()
	if len(names) == 0 {
		return nil, nil, errors.New("ca: GenKeyCert needs at least one name")
	}
	if ttl <= 0 {
		return nil, nil, fmt.Errorf("ca: GenKeyCert needs a positive TTL, got %v", ttl)
	}
	notBefore, notAfter, err := a.validity(time.Now(), ttl)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: serving certificate for %v: %w", names, err)
	}
	key, err := generateKey(KeyECDSAP256)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: generate serving key: %w", err)
	}
	tmpl, err := leafTemplate(key.Public(), notBefore, notAfter)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: %w", err)
	}
	tmpl.Subject = servingSubject(names[0], c.opts.TrustDomain)
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.signer)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: sign serving certificate for %v: %w", names, err)
	}
	keyPEM, err = pemutil.EncodeKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: %w", err)
	}
	certChainPEM = pemutil.EncodeCert(der)
	for _, p := range a.chainPEM {
		certChainPEM = append(certChainPEM, p...)
	}
	return certChainPEM, keyPEM, nil
}
