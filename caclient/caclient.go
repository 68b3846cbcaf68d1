// Package caclient gets workload certificates from an
// istio.v1.auth.IstioCertificateService over TLS, as an Istio agent does:
// it makes a key and CSR, authenticates with a bearer token or a client
// certificate, and checks that the returned chain verifies to the root it
// trusts.
package caclient

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	pb "istio.io/api/security/v1alpha1"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// Config says where the CA is and how to authenticate to it.
type Config struct {
	// Addr of the CA's secure gRPC listener, e.g. "127.0.0.1:15012".
	Addr string
	// RootsPEM verify the server's certificate and the issued chain.
	RootsPEM []byte
	// ServerName checked against the server certificate; default Addr's host.
	ServerName string
	// Token is sent as "authorization: Bearer <Token>" when set.
	Token string
	// ClientCert authenticates with mTLS when set.
	ClientCert *tls.Certificate
}

// Client is a connection to a CA.
type Client struct {
	conn  *grpc.ClientConn
	api   pb.IstioCertificateServiceClient
	cfg   Config
	roots *x509.CertPool
}

// Dial prepares a client; the connection is made on first use.
func Dial(cfg Config) (*Client, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(cfg.RootsPEM) {
		return nil, errors.New("caclient: no root certificate in the roots PEM")
	}
	serverName := cfg.ServerName
	if serverName == "" {
		serverName = cfg.Addr
		if i := strings.LastIndex(serverName, ":"); i >= 0 {
			serverName = strings.Trim(serverName[:i], "[]")
		}
	}
	tlsCfg := &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if cfg.ClientCert != nil {
		tlsCfg.Certificates = []tls.Certificate{*cfg.ClientCert}
	}
	conn, err := grpc.NewClient(cfg.Addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		return nil, fmt.Errorf("caclient: %s: %w", cfg.Addr, err)
	}
	return &Client{conn: conn, api: pb.NewIstioCertificateServiceClient(conn), cfg: cfg, roots: roots}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Result is an issued certificate with its key.
type Result struct {
	KeyPEM       []byte
	CertChainPEM []byte // leaf and intermediates
	RootPEM      []byte // the root bundle, the response's last element
	Leaf         *x509.Certificate
}

// KeyTypes accepted by NewKey.
const (
	KeyECDSAP256 = "ecdsa-p256"
	KeyRSA2048   = "rsa-2048"
)

// NewKey generates a private key of keyType.
func NewKey(keyType string) (crypto.Signer, error) {
	switch keyType {
	case KeyECDSAP256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("caclient: key type %q is not %s or %s", keyType, KeyECDSAP256, KeyRSA2048)
	}
}

// NewCSR makes a PEM CSR for key. The CA ignores the CSR's names and issues
// for the caller's authenticated identity, so none are needed.
func NewCSR(key crypto.Signer) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, fmt.Errorf("caclient: create CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// CreateCertificate sends csrPEM and returns the raw response chain.
func (c *Client) CreateCertificate(ctx context.Context, csrPEM []byte, ttl time.Duration) ([]string, error) {
	if c.cfg.Token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.cfg.Token)
	}
	resp, err := c.api.CreateCertificate(ctx, &pb.IstioCertificateRequest{
		Csr:              string(csrPEM),
		ValidityDuration: int64(ttl / time.Second),
	})
	if err != nil {
		return nil, err
	}
	return resp.GetCertChain(), nil
}

// Issue makes a key and CSR, gets them signed, and verifies the chain to
// the client's roots.
func (c *Client) Issue(ctx context.Context, keyType string, ttl time.Duration) (*Result, error) {
	key, err := NewKey(keyType)
	if err != nil {
		return nil, err
	}
	csr, err := NewCSR(key)
	if err != nil {
		return nil, err
	}
	chain, err := c.CreateCertificate(ctx, csr, ttl)
	if err != nil {
		return nil, fmt.Errorf("caclient: CreateCertificate at %s: %w", c.cfg.Addr, err)
	}
	res, err := c.verify(chain, key)
	if err != nil {
		return nil, fmt.Errorf("caclient: response from %s: %w", c.cfg.Addr, err)
	}
	return res, nil
}

// verify checks the response shape and that the leaf, for key, chains to
// the trusted roots.
func (c *Client) verify(chain []string, key crypto.Signer) (*Result, error) {
	if len(chain) < 2 {
		return nil, fmt.Errorf("want leaf ... root, got %d elements", len(chain))
	}
	var certs []*x509.Certificate
	for i, p := range chain {
		if !strings.HasSuffix(p, "\n") {
			return nil, fmt.Errorf("element %d does not end in a newline", i)
		}
		cs, err := pemutil.ParseCerts([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		certs = append(certs, cs...)
	}
	leaf := certs[0]
	if !pemutil.KeyMatches(key, leaf.PublicKey) {
		return nil, errors.New("the issued certificate is not for our key")
	}
	inter := x509.NewCertPool()
	for _, p := range chain[1 : len(chain)-1] {
		inter.AppendCertsFromPEM([]byte(p))
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("issued chain does not verify to the trusted root: %w", err)
	}
	keyPEM, err := pemutil.EncodeKey(key)
	if err != nil {
		return nil, err
	}
	return &Result{
		KeyPEM:       keyPEM,
		CertChainPEM: []byte(strings.Join(chain[:len(chain)-1], "")),
		RootPEM:      []byte(chain[len(chain)-1]),
		Leaf:         leaf,
	}, nil
}
