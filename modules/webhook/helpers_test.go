package webhook_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/dnscert"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// fixture is a CA, its serving bundle and a started webhook server.
type fixture struct {
	ca     *ca.CA
	bundle *dnscert.Bundle
	server *webhook.Server
	client *http.Client
}

func newCA(t testing.TB) *ca.CA {
	t.Helper()
	c, err := ca.New(ca.Options{DataDir: t.TempDir()}, nil, nil)
	require.NoError(t, err)
	return c
}

func newBundle(t testing.TB, c *ca.CA) *dnscert.Bundle {
	t.Helper()
	b := dnscert.NewBundle()
	chain, key, err := c.GenKeyCert([]string{"localhost", "127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	require.NoError(t, b.Set(chain, key, c.RootPEM()))
	return b
}

func start(t testing.TB, opts webhook.Options, handlers ...webhook.Handler) *fixture {
	t.Helper()
	c := newCA(t)
	f := &fixture{ca: c, bundle: newBundle(t, c)}
	opts.Addr = "127.0.0.1:0"
	opts.SetDefaults()
	s, err := webhook.NewServer(opts, f.bundle, zap.NewNop(), handlers)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Stop(context.Background())) })
	f.server = s
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(c.RootPEM()))
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}, ForceAttemptHTTP2: true}
	t.Cleanup(transport.CloseIdleConnections)
	f.client = &http.Client{Transport: transport, Timeout: 10 * time.Second}
	return f
}

func (f *fixture) url(path string) string { return "https://" + f.server.Addr() + path }
