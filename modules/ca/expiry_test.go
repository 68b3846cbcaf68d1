package ca_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	pb "istio.io/api/security/v1alpha1"

	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/monitoring"
)

// expiryBound bounds the wait for a short-lived root to expire; it only
// matters when the test fails.
const expiryBound = 2 * time.Minute

// serveWith serves c's IstioCertificateService over TLS with a serving
// certificate from another, long-lived CA (so that the connection outlives
// c's root), and returns its address and the roots a client must trust.
func serveWith(t *testing.T, c *ca.CA, log *zap.Logger, extra ...ca.Authenticator) (addr string, serverRoots []byte) {
	t.Helper()
	return serveService(t, c, ca.NewService(c, log, extra))
}

// serveService is serveWith for a service the test made.
func serveService(t *testing.T, c *ca.CA, svc *ca.Service) (addr string, serverRoots []byte) {
	t.Helper()
	other := defaultCA(t)
	certPEM, keyPEM, err := other.GenKeyCert([]string{"localhost", "127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	serverCert, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequestClientCert, // as the plane's secure listener: the authenticator verifies
		ClientCAs:    c.Roots(),
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2"},
	}
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsCfg)))
	svc.Register(s)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		assert.NoError(t, <-served)
	})
	return lis.Addr().String(), other.RootPEM()
}

// A root that expires while the CA runs: every certificate issued before
// lies inside the root's validity (NotAfter clamped to the root's), and
// from the moment the root has expired every request is refused with
// FailedPrecondition, counted, and the CA's readiness says why. The test
// waits for the event (the wall clock passing the root's NotAfter), with a
// bound for failure only.
func TestCARefusesAfterRootExpires(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c, err := ca.New(ca.Options{DataDir: filepath.Join(t.TempDir(), "ca"), RootTTL: dur(4 * time.Second)}, nil, ca.NewMetrics(reg))
	require.NoError(t, err)
	root := c.SigningCert()
	addr, serverRoots := serveWith(t, c, nil, tokenAuth(t))
	client := dial(t, addr, serverRoots, caclient.Config{Token: validToken})
	ctx := callCtx(t)
	csr := csrPEM(t, ecKey(t), nil)

	issued, refused := 0, 0
	deadline := time.Now().Add(expiryBound)
	for {
		before := time.Now()
		chain, err := client.CreateCertificate(ctx, csr, time.Hour)
		after := time.Now()
		if err == nil {
			require.Falsef(t, before.After(root.NotAfter), "issued at %s although the root expired at %s", before, root.NotAfter)
			leaf := parseChain(t, chain)[0][0]
			assert.False(t, leaf.NotBefore.Before(root.NotBefore), "NotBefore %s before the root's %s", leaf.NotBefore, root.NotBefore)
			assert.False(t, leaf.NotAfter.After(root.NotAfter), "NotAfter %s after the root's %s", leaf.NotAfter, root.NotAfter)
			assert.True(t, leaf.NotBefore.Before(leaf.NotAfter), "NotBefore %s is not before NotAfter %s", leaf.NotBefore, leaf.NotAfter)
			issued++
		} else {
			require.Equalf(t, codes.FailedPrecondition, status.Code(err), "%v", err)
			assert.Contains(t, err.Error(), "the CA cannot sign: the signing certificate (ca-cert.pem) expired at "+root.NotAfter.UTC().Format(time.RFC3339))
			require.Falsef(t, after.Before(root.NotAfter), "refused at %s, before the root expired at %s", after, root.NotAfter)
			refused++
			if before.After(root.NotAfter) {
				break // a request made wholly after the expiry was refused
			}
		}
		require.True(t, time.Now().Before(deadline), "the root did not expire within %v", expiryBound)
		time.Sleep(50 * time.Millisecond)
	}
	require.Positive(t, issued, "the CA issued while its root was valid")
	t.Logf("issued %d certificates before the root expired, then refused %d requests", issued, refused)

	// Every later request is refused too, and counted.
	for range 3 {
		_, err := client.CreateCertificate(ctx, csr, time.Hour)
		require.Equal(t, codes.FailedPrecondition, status.Code(err))
		refused++
	}
	assert.Equal(t, float64(refused), metricValue(t, reg, "citadel_server_csr_sign_err_count", map[string]string{"error": "CA_CERT_NOT_VALID"}))
	assert.Equal(t, float64(issued), metricValue(t, reg, "citadel_server_success_cert_issuance_count", nil))

	err = c.Ready(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "expired at "+root.NotAfter.UTC().Format(time.RFC3339)+"; rotate the CA")
	_, _, err = c.GenKeyCert([]string{"istiod.example"}, time.Hour)
	require.Error(t, err, "no serving certificate either")
	assert.Contains(t, err.Error(), "the CA cannot sign")
	_, err = c.Sign(csr, []string{fooBarID}, time.Hour)
	assert.Equal(t, ca.ErrSignerNotValid, ca.KindOf(err))
}

// The module adds the CA's readiness check to /ready: ready with a valid
// root, "not ready" with the reason once the root has expired.
func TestModuleReadinessAfterRootExpires(t *testing.T) {
	t.Parallel()
	var (
		mon    *monitoring.Server
		checks []component.Check
	)
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Provide(zap.NewNop),
		component.SupplyEnv(component.Env{DataDir: t.TempDir()}),
		ca.Module(ca.Options{RootTTL: dur(4 * time.Second)}),
		monitoring.Module(monitoring.Options{Addr: "127.0.0.1:0"}),
		fx.Populate(&mon),
		fx.Invoke(func(in component.ChecksIn) { checks = in.Checks }),
	)
	app.RequireStart()
	defer app.RequireStop()

	var names []string
	for _, c := range checks {
		names = append(names, c.Name)
	}
	assert.Contains(t, names, "ca")

	get := func() (int, string) {
		resp, err := http.Get("http://" + mon.Addr() + "/ready")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	code, body := get()
	if code == http.StatusOK {
		assert.Equal(t, "ready\n", body)
	}
	deadline := time.Now().Add(expiryBound)
	for code == http.StatusOK {
		require.True(t, time.Now().Before(deadline), "/ready stayed ready although the root expired")
		time.Sleep(50 * time.Millisecond)
		code, body = get()
	}
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "not ready: ca: the CA cannot sign: the signing certificate (ca-cert.pem) expired at ")
	assert.Contains(t, body, "rotate the CA")
}

// Every certificate stays inside its signer's validity and its issuers':
// a request for longer than the signing certificate (or its root) has left
// ends with it, and NotBefore is never before the signer's NotBefore, even
// when the clock-skew backdating would put it there.
func TestSignStaysInsideSignerValidity(t *testing.T) {
	t.Parallel()
	now := time.Now()
	// A root that ends in 2h; an intermediate that began 30s ago (less than
	// the 2 minutes of backdating) and would last 10h, past its root.
	root := mkCert(t, certOpts{cn: "Short Root", isCA: true, notBefore: now.Add(-time.Hour), notAfter: now.Add(2 * time.Hour)})
	inter := mkCert(t, certOpts{cn: "Fresh Intermediate", isCA: true, notBefore: now.Add(-30 * time.Second), notAfter: now.Add(10 * time.Hour), parent: root})
	dir := t.TempDir()
	writeFile(t, dir, ca.CACertFile, inter.certPEM())
	writeFile(t, dir, ca.CAKeyFile, inter.keyPEM(t))
	writeFile(t, dir, ca.CertChainFile, append(inter.certPEM(), root.certPEM()...))
	writeFile(t, dir, ca.RootCertFile, root.certPEM())
	c, err := ca.New(ca.Options{PluggedCertsDir: dir, MaxCertTTL: dur(48 * time.Hour)}, nil, nil)
	require.NoError(t, err)

	for _, ttl := range []time.Duration{time.Hour, 3 * time.Hour, 24 * time.Hour} {
		chain, err := c.Sign(csrPEM(t, ecKey(t), nil), []string{fooBarID}, ttl)
		require.NoError(t, err)
		leaf := parseChain(t, chain)[0][0]
		assert.False(t, leaf.NotBefore.Before(inter.cert.NotBefore), "ttl %v: NotBefore %s before the signer's %s", ttl, leaf.NotBefore, inter.cert.NotBefore)
		assert.False(t, leaf.NotAfter.After(root.cert.NotAfter), "ttl %v: NotAfter %s after the root's %s", ttl, leaf.NotAfter, root.cert.NotAfter)
		if ttl > 2*time.Hour {
			assert.Equal(t, root.cert.NotAfter, leaf.NotAfter, "ttl %v ends with the root", ttl)
		}
		_, err = leaf.Verify(x509.VerifyOptions{Roots: c.Roots(), Intermediates: poolOf(inter.cert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		require.NoError(t, err)
	}
	certPEM, _, err := c.GenKeyCert([]string{"istiod.example"}, 30*24*time.Hour)
	require.NoError(t, err)
	serving, err := pemutil.ParseCerts(certPEM)
	require.NoError(t, err)
	assert.Equal(t, root.cert.NotAfter, serving[0].NotAfter, "the serving certificate ends with the root too")
	assert.False(t, serving[0].NotBefore.Before(inter.cert.NotBefore))
	require.NoError(t, c.Ready(context.Background()))
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// A plugged-in CA whose signing certificate or root is not valid now is
// refused at load, with the file and the date.
func TestNewRefusesSignerOutsideValidity(t *testing.T) {
	t.Parallel()
	now := time.Now()
	okRoot := mkCert(t, certOpts{cn: "Root", isCA: true, notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour)})
	tests := []struct {
		name        string
		root, inter *testCert
		want        string
	}{
		{
			name:  "signing certificate not valid yet",
			root:  okRoot,
			inter: mkCert(t, certOpts{cn: "Future", isCA: true, notBefore: now.Add(time.Hour), notAfter: now.Add(2 * time.Hour), parent: okRoot}),
			want:  "ca-cert.pem: the signing certificate is not valid before",
		},
		{
			name:  "signing certificate expired",
			root:  okRoot,
			inter: mkCert(t, certOpts{cn: "Past", isCA: true, notBefore: now.Add(-2 * time.Hour), notAfter: now.Add(-time.Hour), parent: okRoot}),
			want:  "ca-cert.pem: the signing certificate expired at",
		},
	}
	expiredRoot := mkCert(t, certOpts{cn: "Old Root", isCA: true, notBefore: now.Add(-2 * time.Hour), notAfter: now.Add(-time.Minute)})
	tests = append(tests, struct {
		name        string
		root, inter *testCert
		want        string
	}{
		name:  "root expired",
		root:  expiredRoot,
		inter: mkCert(t, certOpts{cn: "Orphan", isCA: true, notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour), parent: expiredRoot}),
		want:  "does not verify to the root (root-cert.pem): x509: certificate has expired or is not yet valid",
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFile(t, dir, ca.CACertFile, tt.inter.certPEM())
			writeFile(t, dir, ca.CAKeyFile, tt.inter.keyPEM(t))
			writeFile(t, dir, ca.CertChainFile, append(tt.inter.certPEM(), tt.root.certPEM()...))
			writeFile(t, dir, ca.RootCertFile, tt.root.certPEM())
			_, err := ca.New(ca.Options{PluggedCertsDir: dir}, nil, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "plugged-in CA in "+dir)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// Requests refused for lack of authentication are logged sampled, not a
// line each, and all of them are counted: 10,000 of them, the first 400
// over TLS and gRPC, the rest straight into the handler (as gRPC calls it,
// with the request's metadata in the context), which keeps the test short
// on a busy machine.
func TestUnauthenticatedRefusalsAreSampledAndCounted(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c, err := ca.New(ca.Options{DataDir: filepath.Join(t.TempDir(), "ca")}, nil, ca.NewMetrics(reg))
	require.NoError(t, err)
	core, logs := observer.New(zapcore.InfoLevel)
	svc := ca.NewService(c, zap.New(core), []ca.Authenticator{tokenAuth(t)})
	addr, serverRoots := serveService(t, c, svc)
	impostor := dial(t, addr, serverRoots, caclient.Config{Token: wrongToken})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a bound for failure only
	defer cancel()
	csr := csrPEM(t, ecKey(t), nil)

	const requests, overGRPC, workers = 10000, 400, 8
	begin := time.Now()
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := w; i < overGRPC; i += workers {
				_, err := impostor.CreateCertificate(ctx, csr, time.Hour)
				if status.Code(err) != codes.Unauthenticated {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
	bad := metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer "+wrongToken))
	req := &pb.IstioCertificateRequest{Csr: string(csr), ValidityDuration: 3600}
	for range requests - overGRPC {
		_, err := svc.CreateCertificate(bad, req)
		require.Equal(t, codes.Unauthenticated, status.Code(err))
	}
	elapsed := time.Since(begin)

	assert.Equal(t, float64(requests), metricValue(t, reg, "citadel_server_authentication_failure_count", nil), "every refusal is counted")
	assert.Equal(t, float64(requests), metricValue(t, reg, "citadel_server_csr_count", nil))
	// The sampler logs 5 lines a second, then one in 1000.
	seconds := int(elapsed/time.Second) + 2
	bound := 5*seconds + requests/1000
	lines := logs.FilterMessage("CA request not authenticated").Len()
	assert.Positive(t, lines, "refusals are still logged")
	assert.LessOrEqualf(t, lines, bound, "%d refusals in %v gave %d log lines", requests, elapsed, lines)
	t.Logf("%d refused requests in %v: %d log lines (bound %d), metric %v", requests, elapsed.Round(time.Millisecond), lines,
		bound, metricValue(t, reg, "citadel_server_authentication_failure_count", nil))
}
