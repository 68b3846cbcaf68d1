package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// leafEncoder issues workload certificates for one signer without
// x509.CreateCertificate's per-call work: reflection-driven ASN.1 encoding
// of every field, re-marshalling the issuer's name and the constant
// extensions. Everything but the serial, validity, public key and SANs is
// the same in each leaf, so it is taken once from what
// x509.CreateCertificate itself encodes (see newLeafEncoder), and each
// leaf is assembled from those bytes and its own fields, signed, and its
// signature checked against the signing certificate, as
// x509.CreateCertificate checks it.
//
// The result is byte for byte what x509.CreateCertificate makes from
// leafTemplate with the same serial and times (leaf_test.go compares them),
// so the certificates carry the same fields and extensions whichever way
// they are made.
type leafEncoder struct {
	signer crypto.Signer
	cert   *x509.Certificate // the signing certificate, to check signatures
	opts   crypto.SignerOpts // what x509.CreateCertificate signs with
	sigAlg x509.SignatureAlgorithm
	// algorithm is the DER AlgorithmIdentifier of sigAlg; issuer the
	// signing certificate's DER subject.
	algorithm, issuer []byte
	// extensions are the DER extensions that precede the subject
	// alternative name, for a leaf with an RSA key (which may encipher)
	// and for any other.
	extensions struct{ rsa, other []byte }
}

// errCaptured stops x509.CreateCertificate once it has encoded the
// to-be-signed certificate.
var errCaptured = errors.New("captured")

// tbsCapture is a signer that records what x509.CreateCertificate asks it
// to sign, and with which options, instead of signing.
type tbsCapture struct {
	crypto.Signer
	tbs  []byte
	opts crypto.SignerOpts
}

func (c *tbsCapture) SignMessage(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	c.tbs, c.opts = bytes.Clone(msg), opts
	return nil, errCaptured
}

// captureTBS returns the DER to-be-signed certificate that
// x509.CreateCertificate makes from tmpl for pub, issued by cert with
// signer, and the options it signs with.
func captureTBS(tmpl, cert *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) ([]byte, crypto.SignerOpts, error) {
	c := &tbsCapture{Signer: signer}
	if _, err := x509.CreateCertificate(rand.Reader, tmpl, cert, pub, c); !errors.Is(err, errCaptured) {
		return nil, nil, fmt.Errorf("encode a prototype leaf: %w", err)
	}
	return c.tbs, c.opts, nil
}

// prototypeSerial, prototypeURI and the prototype times fill the
// prototype leaves that newLeafEncoder has x509.CreateCertificate encode.
var (
	prototypeSerial = [16]byte{0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	prototypeURI    = "spiffe://prototype.invalid/ns/default/sa/default"
)

// newLeafEncoder takes the constant parts of a leaf issued by cert and
// signer from two prototype leaves (an RSA one and another) that
// x509.CreateCertificate encodes, and checks that the encoder makes them
// again byte for byte; it fails when it does not (a signer or a Go version
// that encodes differently), and then the CA uses x509.CreateCertificate.
func newLeafEncoder(signer crypto.Signer, cert *x509.Certificate) (*leafEncoder, error) {
	e := &leafEncoder{signer: signer, cert: cert}
	uri, err := url.Parse(prototypeURI)
	if err != nil {
		return nil, err
	}
	// Any public key will do: only the key usage depends on the leaf's key.
	pub := signer.Public()
	notBefore := cert.NotBefore.Truncate(time.Second).UTC()
	notAfter := notBefore.Add(time.Hour)
	for _, rsaKey := range []bool{true, false} {
		tmpl, err := leafTemplate(pub, notBefore, notAfter)
		if err != nil {
			return nil, err
		}
		tmpl.SerialNumber.SetBytes(prototypeSerial[:])
		tmpl.KeyUsage = leafKeyUsage(rsaKey)
		tmpl.URIs = []*url.URL{uri}
		tbs, opts, err := captureTBS(tmpl, cert, pub, signer)
		if err != nil {
			return nil, err
		}
		if err := e.learn(tbs, opts, rsaKey); err != nil {
			return nil, fmt.Errorf("a prototype leaf: %w", err)
		}
		key, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return nil, err
		}
		made, err := e.tbs(prototypeSerial, notBefore, notAfter, key, []string{prototypeURI}, rsaKey)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(made, tbs) {
			return nil, errors.New("the leaf encoder does not make what x509.CreateCertificate makes")
		}
	}
	return e, nil
}

// learn takes the signature algorithm, issuer and extensions but the
// subject alternative name from a prototype's to-be-signed certificate.
func (e *leafEncoder) learn(tbs []byte, opts crypto.SignerOpts, rsaKey bool) error {
	fields, err := sequenceElements(tbs)
	if err != nil {
		return err
	}
	// version, serial, signature, issuer, validity, subject, key, [3] extensions
	if len(fields) != 8 || fields[7].Class != asn1.ClassContextSpecific || fields[7].Tag != 3 {
		return fmt.Errorf("want 8 fields ending in extensions, got %d", len(fields))
	}
	exts, err := sequenceElements(fields[7].Bytes)
	if err != nil {
		return err
	}
	var san pkix.Extension
	if len(exts) == 0 {
		return errors.New("no extensions")
	}
	if _, err := asn1.Unmarshal(exts[len(exts)-1].FullBytes, &san); err != nil || !san.Id.Equal(oidSubjectAltName) || !san.Critical {
		return errors.New("the last extension is not a critical subject alternative name")
	}
	var prefix []byte
	for _, x := range exts[:len(exts)-1] {
		prefix = append(prefix, x.FullBytes...)
	}
	e.opts, e.algorithm, e.issuer = opts, fields[2].FullBytes, fields[3].FullBytes
	if rsaKey {
		e.extensions.rsa = prefix
	} else {
		e.extensions.other = prefix
	}
	// The signature algorithm, as x509 names it, checks each signature.
	parsed, err := x509.ParseCertificate(e.assemble(tbs, nil))
	if err != nil {
		return err
	}
	e.sigAlg = parsed.SignatureAlgorithm
	return nil
}

// sequenceElements splits a DER SEQUENCE into its elements.
func sequenceElements(der []byte) ([]asn1.RawValue, error) {
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) > 0 || seq.Tag != asn1.TagSequence {
		return nil, errors.New("not one SEQUENCE")
	}
	var out []asn1.RawValue
	for der = seq.Bytes; len(der) > 0; {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(der, &v)
		if err != nil {
			return nil, err
		}
		out, der = append(out, v), rest
	}
	return out, nil
}

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// leafKeyUsage is a leaf's key usage: only RSA keys encipher.
func leafKeyUsage(rsaKey bool) x509.KeyUsage {
	if rsaKey {
		return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	return x509.KeyUsageDigitalSignature
}

// sign issues the DER certificate for pub with serial (big-endian, not
// zero), the validity and the URI SANs, and checks its signature. rawKey
// is the DER SubjectPublicKeyInfo pub was parsed from, if known.
func (e *leafEncoder) sign(serial [16]byte, notBefore, notAfter time.Time, pub crypto.PublicKey, rawKey []byte, uris []string) ([]byte, error) {
	key, err := publicKeyInfo(pub, rawKey)
	if err != nil {
		return nil, err
	}
	_, rsaKey := pub.(*rsa.PublicKey)
	tbs, err := e.tbs(serial, notBefore, notAfter, key, uris, rsaKey)
	if err != nil {
		return nil, err
	}
	sig, err := crypto.SignMessage(e.signer, rand.Reader, tbs, e.opts)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if err := e.cert.CheckSignature(e.sigAlg, tbs, sig); err != nil {
		return nil, fmt.Errorf("the signature returned by the signer is invalid: %w", err)
	}
	return e.assemble(tbs, sig), nil
}

// assemble is the DER certificate of tbs and its signature sig.
func (e *leafEncoder) assemble(tbs, sig []byte) []byte {
	n := len(tbs) + len(e.algorithm) + derHeaderLen(len(sig)+1) + len(sig) + 1
	out := make([]byte, 0, derHeaderLen(n)+n)
	out = appendHeader(out, tagSequence, n)
	out = append(out, tbs...)
	out = append(out, e.algorithm...)
	out = appendHeader(out, tagBitString, len(sig)+1)
	out = append(out, 0) // no unused bits
	return append(out, sig...)
}

// DER tags of the elements the encoder writes.
const (
	tagBoolean         = 0x01
	tagInteger         = 0x02
	tagBitString       = 0x03
	tagOctetString     = 0x04
	tagObjectID        = 0x06
	tagUTCTime         = 0x17
	tagGeneralizedTime = 0x18
	tagSequence        = 0x30
	tagVersion         = 0xa0 // [0] EXPLICIT
	tagExtensions      = 0xa3 // [3] EXPLICIT
	tagURI             = 0x86 // [6] IMPLICIT IA5String, a GeneralName
)

// publicKeyInfo is the DER SubjectPublicKeyInfo of pub as
// x509.MarshalPKIXPublicKey encodes it, without its reflection for the
// common keys. An ECDSA key has one encoding, a fixed header and the
// uncompressed point that x509 parsed it from, so when raw is that it is
// used as it is; an RSA key is encoded here; others by x509.
func publicKeyInfo(pub crypto.PublicKey, raw []byte) ([]byte, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		h, ok := ecdsaKeyHeaders[k.Curve.Params().Name]
		if ok && len(raw) == len(h)+1+2*((k.Curve.Params().BitSize+7)/8) && bytes.HasPrefix(raw, h) {
			return raw, nil
		}
	case *rsa.PublicKey:
		if k.N.Sign() > 0 && k.E > 0 {
			return rsaPublicKeyInfo(k), nil
		}
	}
	return x509.MarshalPKIXPublicKey(pub)
}

// rsaPublicKeyInfo is SEQUENCE { SEQUENCE { rsaEncryption, NULL },
// BIT STRING { RSAPublicKey } } for a positive modulus and exponent.
func rsaPublicKeyInfo(k *rsa.PublicKey) []byte {
	n := k.N.Bytes()
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], uint64(k.E))
	b := derBuilder(make([]byte, 0, len(n)+64))
	b.add(tagSequence, func(b *derBuilder) {
		b.raw(tagSequence, 13, tagObjectID, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00)
		b.add(tagBitString, func(b *derBuilder) {
			b.raw(0) // no unused bits
			b.add(tagSequence, func(b *derBuilder) {
				b.add(tagInteger, func(b *derBuilder) { b.positive(n) })
				b.add(tagInteger, func(b *derBuilder) { b.positive(e[:]) })
			})
		})
	})
	return []byte(b)
}

// ecdsaKeyHeaders are the DER of a SubjectPublicKeyInfo before the
// uncompressed point, by curve: SEQUENCE { SEQUENCE { id-ecPublicKey,
// the curve }, BIT STRING with no unused bits {.
var ecdsaKeyHeaders = map[string][]byte{
	"P-256": {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
		0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00},
	"P-384": {0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
		0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00},
	"P-521": {0x30, 0x81, 0x9b, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
		0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23, 0x03, 0x81, 0x86, 0x00},
}

// tbs is the DER to-be-signed certificate for the DER public key, encoded
// as x509.CreateCertificate encodes leafTemplate's.
func (e *leafEncoder) tbs(serial [16]byte, notBefore, notAfter time.Time, key []byte, uris []string, rsaKey bool) ([]byte, error) {
	var err error
	exts := e.extensions.other
	if rsaKey {
		exts = e.extensions.rsa
	}
	b := derBuilder(make([]byte, 0, 512+len(key)+len(e.issuer)+len(exts)+64*len(uris)))
	b.add(tagSequence, func(b *derBuilder) {
		b.add(tagVersion, func(b *derBuilder) { b.raw(tagInteger, 1, 2) }) // v3
		b.add(tagInteger, func(b *derBuilder) { b.positive(serial[:]) })
		b.raw(e.algorithm...)
		b.raw(e.issuer...)
		b.add(tagSequence, func(b *derBuilder) {
			err = errors.Join(b.time(notBefore), b.time(notAfter))
		})
		b.raw(tagSequence, 0) // an empty subject: the names are in the SAN
		b.raw(key...)
		b.add(tagExtensions, func(b *derBuilder) {
			b.add(tagSequence, func(b *derBuilder) {
				b.raw(exts...)
				if sanErr := b.subjectAltName(uris); sanErr != nil {
					err = sanErr
				}
			})
		})
	})
	if err != nil {
		return nil, err
	}
	return []byte(b), nil
}

// derBuilder appends DER elements.
type derBuilder []byte

// add appends an element of tag whose contents f appends.
func (b *derBuilder) add(tag byte, f func(*derBuilder)) {
	*b = append(*b, tag, 0)
	start := len(*b)
	f(b)
	n := len(*b) - start
	if n < 0x80 {
		(*b)[start-1] = byte(n)
		return
	}
	// The long form: move the contents to make room for the length.
	h := derHeaderLen(n) - 2
	*b = append(*b, make([]byte, h)...)
	copy((*b)[start+h:], (*b)[start:start+n])
	(*b)[start-1] = 0x80 | byte(h)
	for i := range h {
		(*b)[start+i] = byte(n >> (8 * (h - 1 - i)))
	}
}

// raw appends bytes as they are.
func (b *derBuilder) raw(bytes ...byte) { *b = append(*b, bytes...) }

// positive appends the contents of the INTEGER whose big-endian magnitude
// is n: no leading zero bytes but one that keeps it positive.
func (b *derBuilder) positive(n []byte) {
	for len(n) > 1 && n[0] == 0 {
		n = n[1:]
	}
	if n[0]&0x80 != 0 {
		*b = append(*b, 0)
	}
	*b = append(*b, n...)
}

// time appends t as encoding/asn1 does: a UTCTime from 1950 to 2049, else
// a GeneralizedTime, to the second, in UTC.
func (b *derBuilder) time(t time.Time) error {
	t = t.UTC()
	year := t.Year()
	switch {
	case year >= 1950 && year < 2050:
		*b = append(*b, tagUTCTime, 13)
		*b = appendDigits(*b, year%100, 2)
	case year >= 0 && year <= 9999:
		*b = append(*b, tagGeneralizedTime, 15)
		*b = appendDigits(*b, year, 4)
	default:
		return fmt.Errorf("the year %d cannot be encoded in a certificate", year)
	}
	_, month, day := t.Date()
	*b = appendDigits(*b, int(month), 2)
	*b = appendDigits(*b, day, 2)
	*b = appendDigits(*b, t.Hour(), 2)
	*b = appendDigits(*b, t.Minute(), 2)
	*b = appendDigits(*b, t.Second(), 2)
	*b = append(*b, 'Z')
	return nil
}

// appendDigits appends the n last decimal digits of v.
func appendDigits(b []byte, v, n int) []byte {
	b = append(b, make([]byte, n)...)
	for i := len(b) - 1; i >= len(b)-n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// subjectAltName appends the critical subject alternative name extension
// (critical because the subject is empty) of the URIs.
func (b *derBuilder) subjectAltName(uris []string) error {
	for _, u := range uris {
		for i := 0; i < len(u); i++ {
			if u[i] >= 0x80 {
				return fmt.Errorf("x509: %q cannot be encoded as an IA5String", u)
			}
		}
	}
	b.add(tagSequence, func(b *derBuilder) {
		b.raw(tagObjectID, 3, 2*40+5, 29, 17) // 2.5.29.17
		b.raw(tagBoolean, 1, 0xff)
		b.add(tagOctetString, func(b *derBuilder) {
			b.add(tagSequence, func(b *derBuilder) {
				for _, u := range uris {
					*b = appendHeader(*b, tagURI, len(u))
					*b = append(*b, u...)
				}
			})
		})
	})
	return nil
}

// derHeaderLen is the length of the tag and length of an element of n
// content bytes.
func derHeaderLen(n int) int {
	if n < 0x80 {
		return 2
	}
	h := 2 // and a byte per byte of n
	for ; n > 0; n >>= 8 {
		h++
	}
	return h
}

func appendHeader(b []byte, tag byte, n int) []byte {
	b = append(b, tag)
	if n < 0x80 {
		return append(b, byte(n))
	}
	h := derHeaderLen(n) - 2
	b = append(b, 0x80|byte(h))
	for i := h - 1; i >= 0; i-- {
		b = append(b, byte(n>>(8*i)))
	}
	return b
}

// certPEM is the PEM CERTIFICATE block of der, as pem.EncodeToMemory
// writes it, made in one allocation.
func certPEM(der []byte) string {
	const (
		begin = "-----BEGIN CERTIFICATE-----\n"
		end   = "-----END CERTIFICATE-----\n"
		line  = 48 // bytes of DER per 64-character line
	)
	var sb strings.Builder
	sb.Grow(len(begin) + base64.StdEncoding.EncodedLen(len(der)) + (len(der)+line-1)/line + len(end))
	sb.WriteString(begin)
	var buf [64]byte
	for len(der) > 0 {
		n := min(line, len(der))
		base64.StdEncoding.Encode(buf[:], der[:n])
		sb.Write(buf[:base64.StdEncoding.EncodedLen(n)])
		sb.WriteByte('\n')
		der = der[n:]
	}
	sb.WriteString(end)
	return sb.String()
}
