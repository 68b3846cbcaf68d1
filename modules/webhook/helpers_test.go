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

	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// fixture is a CA, its serving bundle and a started webhook server.
type fixture struct {
	ca     *ca.CA
	bundle *servingcert.Bundle
	server *webhook.Server
	client *http.Client
}

func start(t testing.TB, opts webhook.Options, handlers ...webhook.Handler) *fixture {
	t.Helper()
	c := testutil.NewCA(t)
	f := &fixture{ca: c, bundle: testutil.NewBundle(t, c)}
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
