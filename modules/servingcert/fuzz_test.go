package servingcert_test

import (
	"bytes"
	"crypto/x509"
	"testing"
	"time"

	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// FuzzBundleSet loads fuzzed PEM into a bundle that already serves a good
// certificate, as a provider does when files change or a Secret is
// updated. Set either refuses with an error and the bundle keeps serving
// the previous certificate, key and roots, telling no subscriber; or it
// accepts, and then the leaf is the chain's first certificate, the key is
// its key, the roots are those of rootsPEM, and subscribers heard of it.
func FuzzBundleSet(f *testing.F) {
	c := testutil.NewCA(f)
	good := fzIssue(f, c, "localhost", "127.0.0.1")
	other := fzIssue(f, c, "other.example")
	expiredCert, expiredKey := testutil.Expired(f)
	roots := c.RootPEM()

	f.Add(other.chain, other.key, roots)
	f.Add(other.chain, other.key, []byte{})
	f.Add(other.chain, good.key, roots)                                  // key of another certificate
	f.Add(other.key, other.chain, roots)                                 // swapped
	f.Add(append(bytes.Clone(other.chain), "junk"...), other.key, roots) // trailing junk
	f.Add(other.chain, other.key, []byte("not PEM"))
	f.Add(other.chain, other.key, other.key) // roots without a certificate
	f.Add(expiredCert, expiredKey, roots)
	f.Add([]byte{}, []byte{}, []byte{})
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), other.key, roots)

	f.Fuzz(func(t *testing.T, chainPEM, keyPEM, rootsPEM []byte) {
		b := servingcert.NewBundle()
		if err := b.Set(good.chain, good.key, roots); err != nil {
			t.Fatal(err)
		}
		notified := 0
		b.Subscribe(func() { notified++ })
		err := b.Set(chainPEM, keyPEM, rootsPEM)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			if !bytes.Equal(b.CertChainPEM(), good.chain) || !bytes.Equal(b.KeyPEM(), good.key) ||
				!bytes.Equal(b.RootsPEM(), roots) || !bytes.Equal(b.Leaf().Raw, good.leaf.Raw) || !b.Roots().Equal(c.Roots()) {
				t.Fatalf("a refused Set (%v) changed the bundle", err)
			}
			if cert, err := b.GetCertificate(nil); err != nil || !bytes.Equal(cert.Certificate[0], good.leaf.Raw) {
				t.Fatalf("a refused Set changed the served certificate (%v)", err)
			}
			if notified != 0 {
				t.Fatalf("a refused Set notified %d subscribers", notified)
			}
			return
		}
		leaf := b.Leaf()
		if leaf == nil {
			t.Fatal("accepted, but no leaf")
		}
		certs, err := pemutil.ParseCerts(chainPEM)
		if err != nil || !bytes.Equal(certs[0].Raw, leaf.Raw) {
			t.Fatalf("the leaf is not the chain's first certificate (%v)", err)
		}
		key, err := pemutil.ParseKey(keyPEM)
		if err != nil || !pemutil.KeyMatches(key, leaf.PublicKey) {
			t.Fatalf("accepted a key that is not the leaf's (%v)", err)
		}
		want := x509.NewCertPool()
		if len(rootsPEM) > 0 {
			rs, err := pemutil.ParseCerts(rootsPEM)
			if err != nil {
				t.Fatalf("accepted roots that do not parse: %v", err)
			}
			for _, r := range rs {
				want.AddCert(r)
			}
		}
		if !b.Roots().Equal(want) || !bytes.Equal(b.RootsPEM(), rootsPEM) {
			t.Fatal("the roots are not rootsPEM's")
		}
		if !bytes.Equal(b.CertChainPEM(), chainPEM) || !bytes.Equal(b.KeyPEM(), keyPEM) {
			t.Fatal("the PEM getters do not return what was set")
		}
		changed := !bytes.Equal(chainPEM, good.chain) || !bytes.Equal(keyPEM, good.key) || !bytes.Equal(rootsPEM, roots)
		if changed != (notified == 1) || notified > 1 {
			t.Fatalf("changed %v, %d notifications", changed, notified)
		}
		// Valid is an error exactly outside the leaf's validity.
		now := time.Now()
		if valid := b.Valid(now) == nil; valid != (!now.Before(leaf.NotBefore) && !now.After(leaf.NotAfter)) {
			t.Fatalf("Valid(now) = %v for a leaf valid %s..%s", b.Valid(now), leaf.NotBefore, leaf.NotAfter)
		}
	})
}

// fzIssue is issue for a testing.TB.
func fzIssue(tb testing.TB, c *ca.CA, names ...string) pair {
	tb.Helper()
	chain, key, err := c.GenKeyCert(names, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	certs, err := pemutil.ParseCerts(chain)
	if err != nil {
		tb.Fatal(err)
	}
	return pair{chain: chain, key: key, leaf: certs[0]}
}
