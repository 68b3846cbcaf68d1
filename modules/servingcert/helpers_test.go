package servingcert_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ptr[T any](v T) *T { return &v }

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
