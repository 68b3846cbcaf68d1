package servingcert_test

import (
	"crypto/tls"
	"crypto/x509"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

func TestBundleEmpty(t *testing.T) {
	t.Parallel()
	b := servingcert.NewBundle()

	assert.Nil(t, b.Leaf())
	assert.Nil(t, b.CertChainPEM())
	assert.Nil(t, b.KeyPEM())
	assert.Nil(t, b.RootsPEM())
	require.NotNil(t, b.Roots())
	assert.True(t, b.Roots().Equal(x509.NewCertPool()), "roots of an empty bundle must be an empty pool")
	assert.ErrorContains(t, b.Valid(time.Now()), "no serving certificate")
	_, err := b.GetCertificate(nil)
	assert.ErrorContains(t, err, "no serving certificate")
}

func TestBundleSetAndGetters(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	p := issue(t, c)
	b := servingcert.NewBundle()

	require.NoError(t, b.Set(p.chain, p.key, c.RootPEM()))

	require.NotNil(t, b.Leaf())
	assert.Equal(t, p.leaf.Raw, b.Leaf().Raw)
	assert.Equal(t, p.chain, b.CertChainPEM())
	assert.Equal(t, p.key, b.KeyPEM())
	assert.Equal(t, c.RootPEM(), b.RootsPEM())
	assert.True(t, b.Roots().Equal(c.Roots()), "bundle roots must equal the CA roots")
	assert.NoError(t, b.Valid(time.Now()))
	cert, err := b.GetCertificate(nil)
	require.NoError(t, err)
	assert.Equal(t, p.leaf.Raw, cert.Certificate[0])

	// Set without roots leaves an empty (not nil) pool.
	require.NoError(t, b.Set(p.chain, p.key, nil))
	assert.True(t, b.Roots().Equal(x509.NewCertPool()))
	assert.Nil(t, b.RootsPEM())
}

func TestBundleSetRejectsAndKeepsPrevious(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	good := issue(t, c)
	other := issue(t, c)

	tests := []struct {
		name                string
		chain, key, rootPEM []byte
		wantErr             string
	}{
		{"key of another certificate", good.chain, other.key, c.RootPEM(), "serving certificate and key"},
		{"no key", good.chain, nil, c.RootPEM(), "serving certificate and key"},
		{"garbage chain", []byte("not a certificate"), good.key, c.RootPEM(), "serving certificate and key"},
		{"garbage roots", other.chain, other.key, []byte("garbage"), "roots"},
		{"roots hold only a key", other.chain, other.key, other.key, "roots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := servingcert.NewBundle()
			require.NoError(t, b.Set(good.chain, good.key, c.RootPEM()))
			var notified atomic.Int32
			b.Subscribe(func() { notified.Add(1) })

			err := b.Set(tt.chain, tt.key, tt.rootPEM)

			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Equal(t, good.leaf.Raw, b.Leaf().Raw, "a rejected Set must keep the previous certificate")
			assert.Equal(t, good.chain, b.CertChainPEM())
			assert.Equal(t, good.key, b.KeyPEM())
			assert.Equal(t, c.RootPEM(), b.RootsPEM())
			assert.Zero(t, notified.Load(), "subscribers must not hear of a rejected Set")
		})
	}
}

func TestBundleSubscribe(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	a, b2 := issue(t, c), issue(t, c)
	b := servingcert.NewBundle()
	var calls atomic.Int32
	var seen atomic.Pointer[x509.Certificate]
	b.Subscribe(func() { calls.Add(1); seen.Store(b.Leaf()) })

	require.NoError(t, b.Set(a.chain, a.key, c.RootPEM()))
	assert.Equal(t, int32(1), calls.Load())
	assert.Equal(t, a.leaf.SerialNumber, seen.Load().SerialNumber, "subscriber must see the new content")

	require.NoError(t, b.Set(a.chain, a.key, c.RootPEM()))
	assert.Equal(t, int32(1), calls.Load(), "an unchanged Set must not notify")

	require.NoError(t, b.Set(b2.chain, b2.key, c.RootPEM()))
	assert.Equal(t, int32(2), calls.Load())
	assert.Equal(t, b2.leaf.SerialNumber, seen.Load().SerialNumber)
}

func TestBundleValid(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name                string
		notBefore, notAfter time.Time
		wantErr             string
	}{
		{"valid", now.Add(-time.Hour), now.Add(time.Hour), ""},
		{"expired", now.Add(-2 * time.Hour), now.Add(-time.Hour), "expired at"},
		{"not yet valid", now.Add(time.Hour), now.Add(2 * time.Hour), "not valid before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := selfSigned(t, tt.notBefore, tt.notAfter)
			b := servingcert.NewBundle()
			require.NoError(t, b.Set(p.chain, p.key, nil), "Set does not judge validity; Valid does")

			err := b.Valid(now)

			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			// The message carries the offending instant.
			at := tt.notAfter
			if tt.name == "not yet valid" {
				at = tt.notBefore
			}
			assert.Contains(t, err.Error(), at.UTC().Truncate(time.Second).Format(time.RFC3339))
		})
	}
}

// TestServerTLSConfigHotReload shows that a running listener presents the
// new certificate on the next handshake after Set, without a restart.
func TestServerTLSConfigHotReload(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	a, bPair := issue(t, c), issue(t, c)
	require.NotEqual(t, 0, a.leaf.SerialNumber.Cmp(bPair.leaf.SerialNumber))
	b := servingcert.NewBundle()
	require.NoError(t, b.Set(a.chain, a.key, c.RootPEM()))
	addr := serveTLS(t, b.ServerTLSConfig(&tls.Config{}))
	client := &tls.Config{RootCAs: c.Roots(), ServerName: "localhost"}

	leaf, err := handshake(addr, client)
	require.NoError(t, err)
	assert.Equal(t, a.leaf.SerialNumber, leaf.SerialNumber, "first handshake presents certificate A")

	require.NoError(t, b.Set(bPair.chain, bPair.key, c.RootPEM()))

	leaf, err = handshake(addr, client)
	require.NoError(t, err)
	assert.Equal(t, bPair.leaf.SerialNumber, leaf.SerialNumber, "handshake after Set presents certificate B on the same listener")

	// And back again: nothing is cached past a change.
	require.NoError(t, b.Set(a.chain, a.key, c.RootPEM()))
	leaf, err = handshake(addr, client)
	require.NoError(t, err)
	assert.Equal(t, a.leaf.SerialNumber, leaf.SerialNumber)
}

// TestServerTLSConfigClientCAsFollowRoots swaps the bundle's roots under a
// running listener that requires client certificates.
func TestServerTLSConfigClientCAsFollowRoots(t *testing.T) {
	t.Parallel()
	ca1, ca2 := testutil.NewCA(t), testutil.NewCA(t)
	serving := issue(t, ca1)
	client1, client2 := issue(t, ca1, "client-1"), issue(t, ca2, "client-2")
	cert1, err := tls.X509KeyPair(client1.chain, client1.key)
	require.NoError(t, err)
	cert2, err := tls.X509KeyPair(client2.chain, client2.key)
	require.NoError(t, err)

	b := servingcert.NewBundle()
	require.NoError(t, b.Set(serving.chain, serving.key, ca1.RootPEM()))
	addr := serveTLS(t, b.ServerTLSConfig(&tls.Config{ClientAuth: tls.RequireAndVerifyClientCert}))
	clientWith := func(cert tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: ca1.Roots(), ServerName: "localhost", Certificates: []tls.Certificate{cert}}
	}

	_, err = handshake(addr, clientWith(cert1))
	require.NoError(t, err, "CA1 client accepted while roots are CA1")
	_, err = handshake(addr, clientWith(cert2))
	require.ErrorContains(t, err, "unknown certificate authority", "CA2 client rejected while roots are CA1")
	_, err = handshake(addr, &tls.Config{RootCAs: ca1.Roots(), ServerName: "localhost"})
	require.Error(t, err, "a client without a certificate is rejected")

	require.NoError(t, b.Set(serving.chain, serving.key, ca2.RootPEM()))

	_, err = handshake(addr, clientWith(cert1))
	require.ErrorContains(t, err, "unknown certificate authority", "CA1 client rejected once roots are CA2")
	_, err = handshake(addr, clientWith(cert2))
	require.NoError(t, err, "CA2 client accepted once roots are CA2")
}

func TestServerTLSConfigNoCertificate(t *testing.T) {
	t.Parallel()
	b := servingcert.NewBundle()
	addr := serveTLS(t, b.ServerTLSConfig(&tls.Config{}))

	_, err := handshake(addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // nothing to verify: the server must refuse
	require.Error(t, err, "a bundle without a certificate must fail the handshake")
}

func TestServerTLSConfigMinVersion(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	p := issue(t, c)
	b := servingcert.NewBundle()
	require.NoError(t, b.Set(p.chain, p.key, c.RootPEM()))

	tests := []struct {
		name       string
		baseMin    uint16
		wantMin    uint16
		clientMax  uint16
		wantAccept bool
	}{
		{"unset base, TLS 1.1 client", 0, tls.VersionTLS12, tls.VersionTLS11, false},
		{"base TLS 1.0, TLS 1.0 client", tls.VersionTLS10, tls.VersionTLS12, tls.VersionTLS10, false},
		{"base TLS 1.0, TLS 1.1 client", tls.VersionTLS10, tls.VersionTLS12, tls.VersionTLS11, false},
		{"base TLS 1.0, TLS 1.2 client", tls.VersionTLS10, tls.VersionTLS12, tls.VersionTLS12, true},
		{"base TLS 1.3 kept, TLS 1.2 client", tls.VersionTLS13, tls.VersionTLS13, tls.VersionTLS12, false},
		{"base TLS 1.3 kept, TLS 1.3 client", tls.VersionTLS13, tls.VersionTLS13, tls.VersionTLS13, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := &tls.Config{MinVersion: tt.baseMin}
			cfg := b.ServerTLSConfig(base)
			assert.Equal(t, tt.wantMin, cfg.MinVersion)
			assert.Equal(t, tt.baseMin, base.MinVersion, "the caller's base must not be modified")
			addr := serveTLS(t, cfg)

			leaf, err := handshake(addr, &tls.Config{
				RootCAs:    c.Roots(),
				ServerName: "localhost",
				MinVersion: tls.VersionTLS10, // let the client offer old versions
				MaxVersion: tt.clientMax,
			})

			if tt.wantAccept {
				require.NoError(t, err)
				assert.Equal(t, p.leaf.SerialNumber, leaf.SerialNumber)
				return
			}
			// The server refused the version; not a local client error.
			require.ErrorContains(t, err, "protocol version")
		})
	}
}

// A nil base config is an empty one, raised to TLS 1.2.
func TestServerTLSConfigNilBase(t *testing.T) {
	cfg := servingcert.NewBundle().ServerTLSConfig(nil)
	require.NotNil(t, cfg)
	assert.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
}

// A certificate is due for renewal at half its lifetime.
func TestBundleRenewAt(t *testing.T) {
	b := servingcert.NewBundle()
	assert.True(t, b.RenewAt().IsZero(), "nothing to renew before Set")
	notBefore := time.Now().Add(-time.Hour).Truncate(time.Second)
	p := selfSigned(t, notBefore, notBefore.Add(4*time.Hour))
	require.NoError(t, b.Set(p.chain, p.key, nil))
	assert.True(t, notBefore.Add(2*time.Hour).Equal(b.RenewAt()), "RenewAt %v", b.RenewAt())
}
