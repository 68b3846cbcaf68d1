package pemutil_test

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
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// seedPKI is a certificate and its key in every encoding ParseKey reads.
type seedPKI struct {
	cert                  []byte // PEM
	pkcs8, sec1, pkcs1RSA []byte // PEM keys
}

func newSeedPKI(tb testing.TB) seedPKI {
	tb.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "seed"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, ec.Public(), ec)
	if err != nil {
		tb.Fatal(err)
	}
	pkcs8, err := pemutil.EncodeKey(ec)
	if err != nil {
		tb.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		tb.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		tb.Fatal(err)
	}
	return seedPKI{
		cert:     pemutil.EncodeCert(der),
		pkcs8:    pkcs8,
		sec1:     pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}),
		pkcs1RSA: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}),
	}
}

// FuzzParseCerts: ParseCerts returns every CERTIFICATE block of its input
// in order, or an error; what it returns encodes back to PEM that parses
// to the same certificates.
func FuzzParseCerts(f *testing.F) {
	s := newSeedPKI(f)
	f.Add(s.cert)
	f.Add(append(bytes.Clone(s.cert), s.cert...))
	f.Add(append(append([]byte("junk before\n"), s.pkcs8...), s.cert...))
	f.Add(append(bytes.Clone(s.cert), "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := pemutil.ParseCerts(data)
		if err != nil {
			if certs != nil || err.Error() == "" {
				t.Fatalf("error %q with %d certificates", err, len(certs))
			}
			return
		}
		if len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
		var blocks int
		for b, rest := pem.Decode(data); b != nil; b, rest = pem.Decode(rest) {
			if b.Type == "CERTIFICATE" {
				if blocks >= len(certs) || !bytes.Equal(b.Bytes, certs[blocks].Raw) {
					t.Fatalf("certificate %d is not the input's CERTIFICATE block %d", blocks, blocks)
				}
				blocks++
			}
		}
		if blocks != len(certs) {
			t.Fatalf("%d certificates from %d CERTIFICATE blocks", len(certs), blocks)
		}
		again, err := pemutil.ParseCerts(pemutil.EncodeCerts(certs...))
		if err != nil || len(again) != len(certs) {
			t.Fatalf("re-encoded certificates do not parse: %v", err)
		}
		for i := range certs {
			if !again[i].Equal(certs[i]) {
				t.Fatalf("certificate %d changed in a round trip", i)
			}
		}
	})
}

// FuzzParseKey: ParseKey returns a usable signer from the first key block
// or an error; the signer encodes as PKCS#8 and parses back to the same key.
func FuzzParseKey(f *testing.F) {
	s := newSeedPKI(f)
	f.Add(s.pkcs8)
	f.Add(s.sec1)
	f.Add(s.pkcs1RSA)
	f.Add(append(bytes.Clone(s.cert), s.sec1...))
	f.Add([]byte(strings.Replace(string(s.pkcs8), "PRIVATE KEY", "EC PRIVATE KEY", 2)))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	edPEM, err := pemutil.EncodeKey(ed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(edPEM)
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := pemutil.ParseKey(data)
		if err != nil {
			if key != nil || err.Error() == "" {
				t.Fatalf("error %q with a key", err)
			}
			return
		}
		if key == nil || key.Public() == nil {
			t.Fatal("no key and no error")
		}
		if pemutil.KeyDescription(key.Public()) == "" {
			t.Fatal("a key without a description")
		}
		if !pemutil.KeyMatches(key, key.Public()) {
			t.Fatal("a key does not match its own public key")
		}
		enc, err := pemutil.EncodeKey(key)
		if err != nil {
			// RSA keys that x509 parses but will not marshal would be a
			// key the plane could load but never write back.
			t.Fatalf("a parsed key does not encode: %v", err)
		}
		again, err := pemutil.ParseKey(enc)
		if err != nil {
			t.Fatalf("re-encoded key does not parse: %v", err)
		}
		type equaler interface{ Equal(crypto.PrivateKey) bool }
		if e, ok := key.(equaler); !ok || !e.Equal(again) {
			t.Fatal("key changed in a round trip")
		}
	})
}
