package ca_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/modules/ca"
)

func TestNewPlugged(t *testing.T) {
	t.Parallel()
	pki := newPluggedPKI(t)
	// A deeper hierarchy: root -> inter1 -> inter2, signing with inter2.
	inter2 := makeCert(t, certSpec{cn: "Test Issuing CA", isCA: true, ttl: 30 * 24 * time.Hour, parent: pki.inter})

	tests := []struct {
		name string
		// files overrides the files that pki.write made.
		files     map[string][]byte
		signer    *testCert
		wantInter []*x509.Certificate // between leaf and root, in order
	}{
		{
			name:      "chain holds intermediate and root",
			signer:    pki.inter,
			wantInter: []*x509.Certificate{pki.inter.cert},
		},
		{
			name:      "chain holds intermediate only",
			files:     map[string][]byte{ca.CertChainFile: pki.inter.certPEM()},
			signer:    pki.inter,
			wantInter: []*x509.Certificate{pki.inter.cert},
		},
		{
			name:      "empty chain file",
			files:     map[string][]byte{ca.CertChainFile: {}},
			signer:    pki.inter,
			wantInter: []*x509.Certificate{pki.inter.cert},
		},
		{
			name: "two intermediates",
			files: map[string][]byte{
				ca.CACertFile:    inter2.certPEM(),
				ca.CAKeyFile:     inter2.keyPEM(t),
				ca.CertChainFile: concat(inter2.certPEM(), pki.inter.certPEM(), pki.root.certPEM()),
			},
			signer:    inter2,
			wantInter: []*x509.Certificate{inter2.cert, pki.inter.cert},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := pki.write(t)
			for name, data := range tt.files {
				writeFile(t, dir, name, data)
			}
			// DataDir must not be touched by a plugged-in CA.
			dataDir := filepath.Join(t.TempDir(), "unused")
			c, err := ca.New(ca.Options{PluggedCertsDir: dir, DataDir: dataDir}, nil, nil)
			require.NoError(t, err)
			_, statErr := os.Stat(dataDir)
			assert.True(t, os.IsNotExist(statErr), "a plugged-in CA must not create the self-signed data dir")

			assert.True(t, c.SigningCert().Equal(tt.signer.cert), "signs with ca-cert.pem")
			assert.Equal(t, pki.root.certPEM(), c.RootPEM(), "root bundle is root-cert.pem")

			id := ca.SpiffeID("cluster.local", "prod", "web")
			chain, err := c.Sign(csrPEM(t, ecKey(t), nil), []string{id}, time.Hour)
			require.NoError(t, err)
			require.Len(t, chain, len(tt.wantInter)+2, "chain = leaf, intermediates, root bundle")
			parsed := parseChain(t, chain)
			for i, want := range tt.wantInter {
				require.Len(t, parsed[i+1], 1)
				assert.Truef(t, parsed[i+1][0].Equal(want), "chain[%d] is %s, want %s", i+1, parsed[i+1][0].Subject, want.Subject)
			}
			assert.Equal(t, string(c.RootPEM()), chain[len(chain)-1])

			leaf := verifyLeaf(t, chain, c.Roots(), x509.ExtKeyUsageClientAuth)
			assert.Equal(t, []string{id}, uriStrings(leaf.URIs))
			assert.Equal(t, tt.signer.cert.Subject.String(), leaf.Issuer.String())

			// The leaf must also verify with only the operator's root, as a
			// workload that trusts root-cert.pem would.
			pool := x509.NewCertPool()
			pool.AddCert(pki.root.cert)
			verifyLeaf(t, chain, pool, x509.ExtKeyUsageServerAuth)

			// Serving certificates carry the intermediates but no root.
			servingPEM, _, err := c.GenKeyCert([]string{"istiod.example"}, time.Hour)
			require.NoError(t, err)
			var serving []*x509.Certificate
			for b, rest := pem.Decode(servingPEM); b != nil; b, rest = pem.Decode(rest) {
				cert, err := x509.ParseCertificate(b.Bytes)
				require.NoError(t, err)
				serving = append(serving, cert)
			}
			require.Len(t, serving, len(tt.wantInter)+1)
			for i, want := range tt.wantInter {
				assert.True(t, serving[i+1].Equal(want))
			}
		})
	}
}

func TestNewPluggedErrors(t *testing.T) {
	t.Parallel()
	pki := newPluggedPKI(t)
	otherRoot := makeCert(t, certSpec{cn: "Other Root CA", isCA: true, ttl: 24 * time.Hour})
	otherInter := makeCert(t, certSpec{cn: "Other Intermediate CA", isCA: true, parent: otherRoot})
	notCA := makeCert(t, certSpec{cn: "not-a-ca.example", parent: pki.root})
	expired := makeCert(t, certSpec{cn: "Expired CA", isCA: true, ttl: -time.Minute, parent: pki.root})
	junkDER := func(typ string) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: []byte("definitely not DER")})
	}

	type tc struct {
		name    string
		remove  []string
		files   map[string][]byte
		wantErr []string
	}
	tests := []tc{
		{
			name:    "key does not match cert",
			files:   map[string][]byte{ca.CAKeyFile: otherInter.keyPEM(t)},
			wantErr: []string{"private key does not match the signing certificate"},
		},
		{
			name: "signing cert is not a CA",
			files: map[string][]byte{
				ca.CACertFile:    notCA.certPEM(),
				ca.CAKeyFile:     notCA.keyPEM(t),
				ca.CertChainFile: notCA.certPEM(),
			},
			wantErr: []string{"is not a CA"},
		},
		{
			name:    "cert does not chain to root",
			files:   map[string][]byte{ca.RootCertFile: otherRoot.certPEM()},
			wantErr: []string{"does not verify to the root"},
		},
		{
			name: "intermediate of another root",
			files: map[string][]byte{
				ca.CACertFile:    otherInter.certPEM(),
				ca.CAKeyFile:     otherInter.keyPEM(t),
				ca.CertChainFile: otherInter.certPEM(),
			},
			wantErr: []string{"does not verify to the root"},
		},
		{
			name: "expired signing cert",
			files: map[string][]byte{
				ca.CACertFile:    expired.certPEM(),
				ca.CAKeyFile:     expired.keyPEM(t),
				ca.CertChainFile: expired.certPEM(),
			},
			wantErr: []string{"signing certificate expired"},
		},
		{
			name:    "two files missing",
			remove:  []string{ca.CertChainFile, ca.RootCertFile},
			wantErr: []string{"missing [" + ca.CertChainFile + " " + ca.RootCertFile + "]"},
		},
	}
	for _, name := range []string{ca.CACertFile, ca.CAKeyFile, ca.CertChainFile, ca.RootCertFile} {
		tests = append(tests, tc{
			name:    "missing " + name,
			remove:  []string{name},
			wantErr: []string{"incomplete", "missing [" + name + "]"},
		})
	}
	// Garbage in each file, both as text that holds no PEM block and as a
	// PEM block of the right type whose body is not DER.
	for _, f := range []struct{ name, typ, noBlock, badDER string }{
		{ca.CACertFile, "CERTIFICATE", "no PEM CERTIFICATE block", "parse certificate 1"},
		{ca.CAKeyFile, "PRIVATE KEY", "no PEM private key block", "parse PRIVATE KEY"},
		{ca.CertChainFile, "CERTIFICATE", "no PEM CERTIFICATE block", "parse certificate 1"},
		{ca.RootCertFile, "CERTIFICATE", "no PEM CERTIFICATE block", "parse certificate 1"},
	} {
		tests = append(tests,
			tc{
				name:    "not PEM in " + f.name,
				files:   map[string][]byte{f.name: []byte("this is not PEM\n")},
				wantErr: []string{f.name + ": " + f.noBlock},
			},
			tc{
				name:    "not DER in " + f.name,
				files:   map[string][]byte{f.name: junkDER(f.typ)},
				wantErr: []string{f.name + ": " + f.badDER},
			})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := pki.write(t)
			for name, data := range tt.files {
				writeFile(t, dir, name, data)
			}
			for _, name := range tt.remove {
				require.NoError(t, os.Remove(filepath.Join(dir, name)))
			}
			c, err := ca.New(ca.Options{PluggedCertsDir: dir, DataDir: t.TempDir()}, nil, nil)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), "plugged-in CA in "+dir)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func concat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}
