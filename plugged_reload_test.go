package bootgraph_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/config"
	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	bggrpc "github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/monitoring"
)

// operatorCA makes a CA of an operator's, as cacerts files: a root that
// signs for itself (cert-chain.pem empty, as istiod writes it).
func operatorCA(t *testing.T) []pemutil.File {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	_, err := ca.New(ca.Options{DataDir: dir, TrustDomain: "cluster.local"}, nil, nil)
	require.NoError(t, err)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return b
	}
	return []pemutil.File{
		{Name: ca.CACertFile, Data: read(ca.CACertFile)}, {Name: ca.CAKeyFile, Data: read(ca.CAKeyFile)},
		{Name: ca.CertChainFile, Data: nil}, {Name: ca.RootCertFile, Data: read(ca.CACertFile)},
	}
}

// A plane on a plugged-in CA whose cacerts volume changes: a half-updated
// set (a new certificate beside the old key) is refused (the listeners keep the old certificate, /ready says
// why), and a complete new set, swapped in the Kubernetes way, is trusted
// first and then signs the serving certificate that every handshake gets.
func TestPluggedCAReloadOnThePlane(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cacerts")
	a, b := operatorCA(t), operatorCA(t)
	require.NoError(t, pemutil.WriteGeneration(dir, a))
	cfg := localConfig(t)
	o := config.Options[ca.Options](cfg, "ca")
	o.PluggedCertsDir = dir
	o.ReloadInterval = component.Duration(time.Hour) // what changes is seen through fsnotify
	o.Rotation.PropagationDelay = component.Duration(500 * time.Millisecond)
	var (
		authority *ca.CA
		grpcSrv   *bggrpc.Server
		mon       *monitoring.Server
	)
	p, err := cfg.Build(fx.Populate(&authority, &grpcSrv, &mon))
	require.NoError(t, err)
	startPlane(t, p)
	issuer := func() string {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(authority.RootPEM())
		conn, err := tls.Dial("tcp", grpcSrv.Addr(), &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"h2"}})
		require.NoError(t, err)
		defer conn.Close()
		return ca.Fingerprint(conn.ConnectionState().VerifiedChains[0][1])
	}
	fpA := ca.Fingerprint(authority.SigningCert())
	require.Equal(t, fpA, issuer())

	// Half written: the Secret updated with B's certificate and root but
	// still A's key, which the kubelet swaps in as a generation.
	require.NoError(t, pemutil.WriteGeneration(dir, []pemutil.File{b[0], a[1], b[2], b[3]}))
	waitCAStatus(t, authority, func(st ca.Status) bool { return st.ReloadError != "" })
	code, body := getURL(t, "http://"+mon.Addr()+"/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "ca-reload: plugged-in: ca: plugged-in CA in "+dir)
	assert.Contains(t, body, "still serving with the previous signer and roots")
	assert.Equal(t, fpA, issuer(), "the old set keeps signing")

	// The whole set, swapped in as a new generation.
	require.NoError(t, pemutil.WriteGeneration(dir, b))
	fpB := ca.Fingerprint(mustCert(t, b[0].Data))
	waitCAStatus(t, authority, func(st ca.Status) bool { return st.Signer.Fingerprint == fpB })
	assert.Len(t, authority.TrustBundle(), 2, "A stays trusted until its leaves have expired")
	deadline := time.Now().Add(rekeyBound)
	for issuer() != fpB { // the serving certificate follows the CA's change notification
		require.True(t, time.Now().Before(deadline), "the listener never presented a certificate from the new CA")
		time.Sleep(10 * time.Millisecond)
	}
	code, body = getURL(t, "http://"+mon.Addr()+"/ready")
	assert.Equal(t, http.StatusOK, code, body)
}

func mustCert(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	certs, err := pemutil.ParseCerts(pemBytes)
	require.NoError(t, err)
	return certs[0]
}

func getURL(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}
