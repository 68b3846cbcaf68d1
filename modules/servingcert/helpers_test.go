package servingcert_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
)

// kubeEnv is the API server of the kubernetes provider's tests, started once
// for the package by TestMain; nil (those tests skip) without the binaries.
var kubeEnv *kubetest.Env

// TestMain runs the tests against one API server, stops it, and then checks
// for leaked goroutines as goleak.VerifyTestMain does.
func TestMain(m *testing.M) {
	code := kubetest.Main(m, &kubeEnv)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: Errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// pair is a certificate chain and its key, both PEM, with the leaf parsed.
type pair struct {
	chain, key []byte
	leaf       *x509.Certificate
}

// issue has c sign a serving (and client: the CA adds both EKUs)
// certificate for names.
func issue(t *testing.T, c *ca.CA, names ...string) pair {
	t.Helper()
	if len(names) == 0 {
		names = []string{"localhost", "127.0.0.1"}
	}
	chain, key, err := c.GenKeyCert(names, time.Hour)
	require.NoError(t, err)
	return pair{chain: chain, key: key, leaf: parseLeaf(t, chain)}
}

func parseLeaf(t *testing.T, chainPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(chainPEM)
	require.NotNil(t, block, "no PEM block in chain")
	leaf, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return leaf
}

// selfSigned crafts a self-signed certificate valid from notBefore to
// notAfter, to test validity checks that the CA would never produce.
func selfSigned(t *testing.T, notBefore, notAfter time.Time) pair {
	t.Helper()
	chain, key := testutil.SelfSigned(t, notBefore, notAfter)
	return pair{chain: chain, key: key, leaf: parseLeaf(t, chain)}
}

func pool(t *testing.T, rootsPEM []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	require.True(t, p.AppendCertsFromPEM(rootsPEM), "no certificate in roots PEM")
	return p
}

// serveTLS runs a real TLS listener on 127.0.0.1:0 with cfg. Each accepted
// connection completes the handshake, writes "ok" and closes, so a client
// learns whether the server accepted it (with TLS 1.3 a rejected client
// certificate only shows up on the client's first read). It returns the
// address; the listener and its goroutines end with the test.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if err := c.(*tls.Conn).Handshake(); err != nil {
					return
				}
				_, _ = c.Write([]byte("ok"))
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return l.Addr().String()
}

// handshake connects to addr with cfg and returns the server's leaf
// certificate once the server has accepted the connection.
func handshake(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return nil, err
	}
	if string(buf) != "ok" {
		return nil, errors.New("unexpected server reply " + string(buf))
	}
	return conn.ConnectionState().PeerCertificates[0], nil
}
