package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bootgraph/bootgraph/modules/ca"
)

func ExampleCA_Sign() {
	dir, err := os.MkdirTemp("", "ca-example-*")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	// A self-signed CA, generated on first use in its data directory.
	c, err := ca.New(ca.Options{DataDir: filepath.Join(dir, "ca")}, nil, nil)
	if err != nil {
		panic(err)
	}

	// A workload's key and CSR. The names a CSR asks for are ignored.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		DNSNames: []string{"ignored.example.com"},
	}, key)
	if err != nil {
		panic(err)
	}
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})

	// Sign for the caller's authenticated identity.
	id := ca.SpiffeID(c.TrustDomain(), "default", "app")
	chain, err := c.Sign(csr, []string{id}, time.Hour)
	if err != nil {
		panic(err)
	}
	block, _ := pem.Decode([]byte(chain[0]))
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		panic(err)
	}
	fmt.Println("chain elements:", len(chain))
	fmt.Println("URI SAN:", leaf.URIs[0])
	fmt.Println("DNS SANs:", len(leaf.DNSNames))
	fmt.Println("root last:", chain[len(chain)-1] == string(c.RootPEM()))
	// Output:
	// chain elements: 2
	// URI SAN: spiffe://cluster.local/ns/default/sa/app
	// DNS SANs: 0
	// root last: true
}
