package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	pb "istio.io/api/security/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/modules/ca"
)

// The fuzz targets of the CA: the two inputs that come from outside the
// process, the CreateCertificate request (from any client that
// authenticates) and the token file (from the operator). Seeds are added
// here, where they are built with real keys, and in testdata/fuzz/<Fuzz...>.

const (
	fzTrustDomain = "cluster.local"
	fzToken       = "fuzz-token-0123456789abcdef"
	fzIdentity    = "spiffe://cluster.local/ns/fuzz/sa/caller"
	// fzMaxTTL is the CA's MaxCertTTL in FuzzCreateCertificate.
	fzMaxTTL = 48 * time.Hour
)

// fzCSR makes a PEM CSR for key, with tmpl (nil: an empty request).
func fzCSR(tb testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	tb.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func fzECKey(tb testing.TB) crypto.Signer {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// FuzzCreateCertificate drives the whole handler of
// IstioCertificateService.CreateCertificate with an authenticated caller
// (a bearer token from the token file) and a fuzzed CSR and validity. The
// CA must refuse what it cannot sign with InvalidArgument and a message,
// and whatever it signs must be a certificate that verifies to its root,
// for the caller's identity only, for the CSR's own public key (a strong
// one), within the CA's validity and the requested TTL.
func FuzzCreateCertificate(f *testing.F) {
	dir := f.TempDir()
	authority, err := ca.New(ca.Options{
		DataDir:    filepath.Join(dir, "ca"),
		MaxCertTTL: dur(fzMaxTTL),
	}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(fzToken+",fuzz,caller\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	auth, err := ca.NewTokenFileAuthenticator(tokens, fzTrustDomain)
	if err != nil {
		f.Fatal(err)
	}
	svc := ca.NewService(authority, nil, []ca.Authenticator{auth})
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+fzToken))

	ec := fzCSR(f, fzECKey(f), nil)
	f.Add(ec, int64(0))
	f.Add(ec, int64(3600))
	f.Add(ec, int64(-1))
	f.Add(ec, int64(math.MaxInt64))
	f.Add(ec, int64(math.MinInt64))
	f.Add(ec, int64(fzMaxTTL/time.Second))
	f.Add(ec, int64(fzMaxTTL/time.Second)+1)
	f.Add(append(bytes.Clone(ec), "trailing junk"...), int64(0))
	f.Add(append(bytes.Clone(ec), ec...), int64(0))
	for _, bits := range []int{1024, 2048} {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(fzCSR(f, k, nil), int64(0))
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fzCSR(f, edKey, nil), int64(0))
	f.Add(fzCSR(f, fzECKey(f), &x509.CertificateRequest{
		DNSNames: []string{"evil.example.com"},
		URIs:     []*url.URL{{Scheme: "spiffe", Host: fzTrustDomain, Path: "/ns/kube-system/sa/admin"}},
	}), int64(0))
	der, _ := pem.Decode(ec)
	broken := bytes.Clone(der.Bytes)
	broken[len(broken)-1] ^= 0xff // the signature
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: broken}), int64(0))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der.Bytes}), int64(0))
	f.Add([]byte{}, int64(0))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\n"), int64(0))

	f.Fuzz(func(t *testing.T, csr []byte, validity int64) {
		begin := time.Now()
		resp, err := svc.CreateCertificate(ctx, &pb.IstioCertificateRequest{Csr: string(csr), ValidityDuration: validity})
		if err != nil {
			st, ok := status.FromError(err)
			if !ok {
				t.Fatalf("error is not a gRPC status: %v", err)
			}
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("bad input answered with %s, want InvalidArgument: %s", st.Code(), st.Message())
			}
			if strings.TrimSpace(st.Message()) == "" {
				t.Fatal("InvalidArgument without a message")
			}
			return
		}
		checkIssued(t, authority, csr, validity, begin, resp.GetCertChain())
	})
}

// checkIssued asserts what CreateCertificate promises of a chain it
// returned for csr.
func checkIssued(t *testing.T, authority *ca.CA, csrPEM []byte, validity int64, begin time.Time, chain []string) {
	t.Helper()
	block, rest := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("signed something that is not a PEM CERTIFICATE REQUEST: %q", csrPEM)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		t.Fatalf("signed a CSR followed by %d bytes of something else", len(bytes.TrimSpace(rest)))
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatalf("signed a CSR that does not parse: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("signed a CSR whose signature is wrong: %v", err)
	}
	if k, ok := csr.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
		t.Fatalf("signed a weak key: RSA %d", k.N.BitLen())
	}
	switch {
	case validity > int64(fzMaxTTL/time.Second):
		t.Fatalf("signed for %ds, more than the max TTL %v", validity, fzMaxTTL)
	case len(chain) < 2:
		t.Fatalf("chain of %d elements, want the leaf and the roots", len(chain))
	}
	var certs [][]*x509.Certificate
	for i, p := range chain {
		if !strings.HasSuffix(p, "\n") {
			t.Fatalf("chain element %d does not end in a newline", i)
		}
		cs, err := pemutil.ParseCerts([]byte(p))
		if err != nil {
			t.Fatalf("chain element %d: %v", i, err)
		}
		certs = append(certs, cs)
	}
	if len(certs[0]) != 1 {
		t.Fatalf("leaf element holds %d certificates", len(certs[0]))
	}
	leaf := certs[0][0]
	inter := x509.NewCertPool()
	for _, cs := range certs[1 : len(certs)-1] {
		for _, c := range cs {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: authority.Roots(), Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("issued certificate does not verify to the root: %v", err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != fzIdentity {
		t.Fatalf("issued for %v, want only the caller's %s", leaf.URIs, fzIdentity)
	}
	if len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.EmailAddresses) > 0 || leaf.IsCA {
		t.Fatalf("issued certificate carries names or CA rights the caller does not own: DNS %v IP %v email %v CA %v",
			leaf.DNSNames, leaf.IPAddresses, leaf.EmailAddresses, leaf.IsCA)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := leaf.PublicKey.(equaler); !ok || !pub.Equal(csr.PublicKey) {
		t.Fatalf("issued for another key than the CSR's (%s)", pemutil.KeyDescription(csr.PublicKey))
	}
	signer := authority.SigningCert()
	if !leaf.NotBefore.Before(leaf.NotAfter) || leaf.NotAfter.After(signer.NotAfter) || leaf.NotBefore.Before(signer.NotBefore) {
		t.Fatalf("validity %s..%s outside the signer's %s..%s", leaf.NotBefore, leaf.NotAfter, signer.NotBefore, signer.NotAfter)
	}
	want := authority.Options().DefaultCertTTL
	if validity > 0 {
		want = dur(time.Duration(validity) * time.Second)
	}
	if limit := time.Now().Add(time.Duration(want)).Add(time.Second); leaf.NotAfter.After(limit) {
		t.Fatalf("NotAfter %s is later than asked (%v from %s)", leaf.NotAfter, want, begin)
	}
}

// FuzzTokenFile reads a fuzzed token file. A file it refuses gets an error
// that names it; a file it accepts authenticates each token listed on a
// well-formed line as exactly that line's identity, a valid SPIFFE ID of
// DNS-1123 names, and nothing else.
func FuzzTokenFile(f *testing.F) {
	dir := f.TempDir()
	f.Add([]byte("# token,namespace,serviceaccount\n" + fzToken + ",default,default\n"))
	f.Add([]byte(fzToken + ",a,b\r\n0123456789abcdef-second,c,d"))
	f.Add([]byte("  " + fzToken + " , team-a , builder  \n\n   \n  # comment\n"))
	f.Add([]byte(fzToken + ",a,b\n" + fzToken + ",c,d\n"))
	f.Add([]byte(fzToken + ",a/ns/x/sa,b\n"))
	f.Add([]byte(fzToken + ",Kube System,ad min\n"))
	f.Add([]byte(fzToken + ",a,b,c\n"))
	f.Add([]byte("short,a,b\n"))
	f.Add([]byte(""))
	f.Add([]byte("#" + strings.Repeat("x", 70<<10) + "\n" + fzToken + ",a,b\n"))
	f.Add([]byte("\xff\xfe" + fzToken + ",a,b\n"))

	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		n++ // a new name each time: a file replaced under its name is not the point here
		path := filepath.Join(dir, fmt.Sprintf("tokens-%d.csv", n))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(path)
		a, err := ca.NewTokenFileAuthenticator(path, fzTrustDomain)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("the error does not name the file %s: %v", path, err)
			}
			if strings.HasSuffix(err.Error(), "no tokens") && fzHasEntry(data) {
				t.Fatalf("a file with entries refused as one without: %v", err)
			}
			return
		}
		// The file's lines, read as documented: "token,namespace,serviceaccount",
		// blanks and # comments skipped, spaces around fields ignored.
		ids := map[string]map[string]bool{} // token -> identities listed for it
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			fields := strings.Split(line, ",")
			if len(fields) != 3 {
				t.Fatalf("accepted a line of %d fields: %q", len(fields), line)
			}
			tok := strings.TrimSpace(fields[0])
			if ids[tok] == nil {
				ids[tok] = map[string]bool{}
			}
			ids[tok][ca.SpiffeID(fzTrustDomain, strings.TrimSpace(fields[1]), strings.TrimSpace(fields[2]))] = true
		}
		if len(ids) == 0 {
			t.Fatal("accepted a file without tokens")
		}
		for tok, want := range ids {
			if len(tok) < 16 {
				t.Fatalf("accepted the short token %q", tok)
			}
			if len(want) > 1 {
				t.Fatalf("accepted token %q for %d identities", tok, len(want))
			}
			caller, err := a.Authenticate(fzBearer("Bearer " + tok))
			if err != nil || caller == nil {
				t.Fatalf("token %q from the file is refused: %v", tok, err)
			}
			if len(caller.Identities) != 1 || !want[caller.Identities[0]] {
				t.Fatalf("token %q authenticates as %v, want one of %v", tok, caller.Identities, want)
			}
			checkSpiffeID(t, caller.Identities[0])
		}
		for _, wrong := range []string{"Bearer not-in-the-file-" + fmt.Sprint(n), "Bearer ", "Basic " + fzToken} {
			if _, ok := ids[strings.TrimSpace(strings.TrimPrefix(wrong, "Bearer "))]; ok {
				continue
			}
			if caller, err := a.Authenticate(fzBearer(wrong)); err == nil {
				t.Fatalf("%q authenticates as %v", wrong, caller)
			}
		}
	})
}

// fzHasEntry reports whether data has a line that is neither blank nor a
// comment.
func fzHasEntry(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			return true
		}
	}
	return false
}

func fzBearer(v string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", v))
}

// checkSpiffeID asserts that id is spiffe://<trust domain>/ns/<ns>/sa/<sa>
// with DNS-1123 names, and reads back as itself.
func checkSpiffeID(t *testing.T, id string) {
	t.Helper()
	u, err := url.Parse(id)
	if err != nil || u.Scheme != "spiffe" || u.Host != fzTrustDomain || u.String() != id {
		t.Fatalf("identity %q is not a SPIFFE ID of %s that reads back as itself (%v)", id, fzTrustDomain, err)
	}
	parts := strings.Split(u.Path, "/")
	if len(parts) != 5 || parts[0] != "" || parts[1] != "ns" || parts[3] != "sa" {
		t.Fatalf("identity %q is not /ns/<namespace>/sa/<serviceaccount>", id)
	}
	if msgs := validation.IsDNS1123Label(parts[2]); len(msgs) > 0 {
		t.Fatalf("identity %q: namespace %q: %s", id, parts[2], strings.Join(msgs, "; "))
	}
	if msgs := validation.IsDNS1123Subdomain(parts[4]); len(msgs) > 0 {
		t.Fatalf("identity %q: service account %q: %s", id, parts[4], strings.Join(msgs, "; "))
	}
}
