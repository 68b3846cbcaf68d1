package ca_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	pb "istio.io/api/security/v1alpha1"

	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/modules/ca"
)

const (
	validToken = "s3cr3t-token-for-team-a-builder"
	wrongToken = "this-token-is-not-in-the-file"
	builderID  = "spiffe://cluster.local/ns/team-a/sa/builder"
	fooBarID   = "spiffe://cluster.local/ns/foo/sa/bar"
)

// startServer serves c's IstioCertificateService over real TLS on a free
// loopback port, as the secure gRPC listener does, and returns its address.
func startServer(t *testing.T, c *ca.CA, extra ...ca.Authenticator) string {
	t.Helper()
	certPEM, keyPEM, err := c.GenKeyCert([]string{"localhost", "127.0.0.1"}, time.Hour)
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
	ca.NewService(c, nil, extra).Register(s)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		assert.NoError(t, <-served, "Serve must return cleanly after Stop")
	})
	return lis.Addr().String()
}

// tokenAuth is a token file authenticator that knows validToken.
func tokenAuth(t *testing.T) ca.Authenticator {
	t.Helper()
	a, err := ca.NewTokenFileAuthenticator(writeTokenFile(t,
		"# test tokens\n"+validToken+",team-a,builder\n"), "cluster.local")
	require.NoError(t, err)
	return a
}

func dial(t *testing.T, addr string, roots []byte, cfg caclient.Config) *caclient.Client {
	t.Helper()
	cfg.Addr, cfg.RootsPEM = addr, roots
	cl, err := caclient.Dial(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// clientCert is a TLS client certificate that c issued for ids.
func clientCert(t *testing.T, c *ca.CA, ids ...string) *tls.Certificate {
	t.Helper()
	key := ecKey(t)
	chain, err := c.Sign(csrPEM(t, key, nil), ids, time.Hour)
	require.NoError(t, err)
	keyPEM, err := pemutil.EncodeKey(key)
	require.NoError(t, err)
	cert, err := tls.X509KeyPair([]byte(strings.Join(chain[:len(chain)-1], "")), keyPEM)
	require.NoError(t, err)
	return &cert
}

// servingCert is a certificate from c with DNS names and no URI SAN.
func servingCert(t *testing.T, c *ca.CA) *tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := c.GenKeyCert([]string{"istiod.example"}, time.Hour)
	require.NoError(t, err)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	return &cert
}

func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestServiceCreateCertificate(t *testing.T) {
	t.Parallel()
	c := newCA(t, ca.Options{MaxCertTTL: dur(48 * time.Hour)})
	addr := startServer(t, c, tokenAuth(t))
	roots := c.RootPEM()

	foreign := newCA(t, ca.Options{})
	foreignCert := clientCert(t, foreign, fooBarID)

	t.Run("issue", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name    string
			cfg     caclient.Config
			keyType string
			ttl     time.Duration
			wantID  string
			wantTTL time.Duration
		}{
			{name: "bearer token", cfg: caclient.Config{Token: validToken}, ttl: time.Hour, wantID: builderID, wantTTL: time.Hour},
			{name: "bearer token, default TTL", cfg: caclient.Config{Token: validToken}, wantID: builderID, wantTTL: 24 * time.Hour},
			{name: "bearer token, RSA key", cfg: caclient.Config{Token: validToken}, keyType: caclient.KeyRSA2048, ttl: time.Hour, wantID: builderID, wantTTL: time.Hour},
			{name: "client certificate", cfg: caclient.Config{ClientCert: clientCert(t, c, fooBarID)}, ttl: time.Hour, wantID: fooBarID, wantTTL: time.Hour},
			{
				name:   "client certificate wins over token",
				cfg:    caclient.Config{ClientCert: clientCert(t, c, fooBarID), Token: validToken},
				ttl:    time.Hour,
				wantID: fooBarID, wantTTL: time.Hour,
			},
			{
				name:   "certificate without SPIFFE ID falls through to token",
				cfg:    caclient.Config{ClientCert: servingCert(t, c), Token: validToken},
				ttl:    time.Hour,
				wantID: builderID, wantTTL: time.Hour,
			},
			{
				name:   "server name given explicitly",
				cfg:    caclient.Config{Token: validToken, ServerName: "localhost"},
				ttl:    time.Hour,
				wantID: builderID, wantTTL: time.Hour,
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				cl := dial(t, addr, roots, tt.cfg)
				start := time.Now()
				res, err := cl.Issue(callCtx(t), tt.keyType, tt.ttl)
				require.NoError(t, err)

				assert.Equal(t, []string{tt.wantID}, uriStrings(res.Leaf.URIs))
				assert.Equal(t, roots, res.RootPEM, "the response ends in the CA's root bundle")
				requireAbout(t, start.Add(tt.wantTTL), res.Leaf.NotAfter, 10*time.Second, "NotAfter")
				_, err = res.Leaf.Verify(x509.VerifyOptions{Roots: c.Roots(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
				require.NoError(t, err)
				_, err = tls.X509KeyPair(res.CertChainPEM, res.KeyPEM)
				require.NoError(t, err, "issued cert and key must form a pair")

				// The issued certificate works as a client certificate.
				again := dial(t, addr, roots, caclient.Config{ClientCert: &tls.Certificate{
					Certificate: [][]byte{res.Leaf.Raw}, PrivateKey: mustKey(t, res.KeyPEM),
				}})
				res2, err := again.Issue(callCtx(t), "", time.Hour)
				require.NoError(t, err)
				assert.Equal(t, []string{tt.wantID}, uriStrings(res2.Leaf.URIs))
			})
		}
	})

	t.Run("rejected", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name     string
			cfg      caclient.Config
			csr      []byte // nil: a good CSR
			ttl      time.Duration
			wantCode codes.Code
			wantMsg  []string
			wantLog  []string // Unauthenticated: the reason, which only the log gets (TestAuthenticationFailureReasons checks logging)
		}{
			{name: "no credentials", wantCode: codes.Unauthenticated, wantLog: []string{"no credentials"}},
			{name: "wrong token", cfg: caclient.Config{Token: wrongToken}, wantCode: codes.Unauthenticated, wantLog: []string{"TokenFile: bearer token is not in the token file"}},
			{
				name:     "client certificate with non-SPIFFE URI",
				cfg:      caclient.Config{ClientCert: clientCert(t, c, "https://example.com/workload")},
				wantCode: codes.Unauthenticated,
				wantLog:  []string{"ClientCert: client certificate has no SPIFFE URI SAN"},
			},
			{
				name:     "client certificate without URI",
				cfg:      caclient.Config{ClientCert: servingCert(t, c)},
				wantCode: codes.Unauthenticated,
				wantLog:  []string{"no SPIFFE URI SAN"},
			},
			{
				name:     "non-SPIFFE certificate and wrong token",
				cfg:      caclient.Config{ClientCert: clientCert(t, c, "https://example.com/workload"), Token: wrongToken},
				wantCode: codes.Unauthenticated,
				wantLog:  []string{"ClientCert: client certificate has no SPIFFE URI SAN", "TokenFile: bearer token is not in the token file"},
			},
			{
				name:     "client certificate of another trust domain",
				cfg:      caclient.Config{ClientCert: clientCert(t, c, "spiffe://other.example/ns/foo/sa/bar")},
				wantCode: codes.Unauthenticated,
				wantLog:  []string{`not in trust domain "cluster.local"`},
			},
			{
				// Verified by the authenticator, not the handshake: the
				// caller hears it was not authenticated, the log says why.
				name:     "client certificate of another CA",
				cfg:      caclient.Config{ClientCert: foreignCert},
				wantCode: codes.Unauthenticated,
				wantLog:  []string{"does not verify to the CA's roots"},
			},
			{name: "garbage CSR", cfg: caclient.Config{Token: validToken}, csr: []byte("garbage"), wantCode: codes.InvalidArgument, wantMsg: []string{"CSR_ERROR"}},
			{
				name:     "corrupted CSR signature",
				cfg:      caclient.Config{Token: validToken},
				csr:      corruptSignature(t, csrPEM(t, ecKey(t), nil)),
				wantCode: codes.InvalidArgument,
				wantMsg:  []string{"CSR_ERROR", "CSR signature"},
			},
			{name: "TTL over max", cfg: caclient.Config{Token: validToken}, ttl: 49 * time.Hour, wantCode: codes.InvalidArgument, wantMsg: []string{"TTL_ERROR"}},
			{name: "TTL over max with client certificate", cfg: caclient.Config{ClientCert: clientCert(t, c, fooBarID)}, ttl: 1000 * time.Hour, wantCode: codes.InvalidArgument, wantMsg: []string{"TTL_ERROR"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				csr := tt.csr
				if csr == nil {
					csr = csrPEM(t, ecKey(t), nil)
				}
				cl := dial(t, addr, roots, tt.cfg)
				chain, err := cl.CreateCertificate(callCtx(t), csr, tt.ttl)
				require.Error(t, err)
				assert.Nil(t, chain)
				st, ok := status.FromError(err)
				require.Truef(t, ok, "not a gRPC status: %v", err)
				assert.Equalf(t, tt.wantCode, st.Code(), "status: %v", st)
				for _, want := range tt.wantMsg {
					assert.Contains(t, st.Message(), want)
				}
				if tt.wantCode == codes.Unauthenticated {
					assert.Equal(t, "request authenticate failure", st.Message(), "istiod's answer, the reason only in the log")
				}
				assert.NotContains(t, st.Message(), validToken)
				assert.NotContains(t, st.Message(), wrongToken, "tokens must not be echoed")
			})
		}
	})

	t.Run("basic auth over the generated client", func(t *testing.T) {
		t.Parallel()
		api, conn := rawClient(t, addr, c)
		defer conn.Close()
		ctx := metadata.AppendToOutgoingContext(callCtx(t), "authorization", "Basic dXNlcjpwYXNz")
		_, err := api.CreateCertificate(ctx, &pb.IstioCertificateRequest{Csr: string(csrPEM(t, ecKey(t), nil))})
		assert.Equal(t, codes.Unauthenticated, status.Code(err), "error: %v", err)
	})
}

// TestServiceValidityDuration sends validity_duration values, in seconds,
// that overflow a time.Duration; they must be rejected, not wrap around.
func TestServiceValidityDuration(t *testing.T) {
	t.Parallel()
	c := newCA(t, ca.Options{})
	addr := startServer(t, c, tokenAuth(t))
	api, conn := rawClient(t, addr, c)
	t.Cleanup(func() { _ = conn.Close() })

	tests := []struct {
		name     string
		secs     int64
		wantCode codes.Code
		wantTTL  time.Duration // for OK
	}{
		{name: "one hour", secs: 3600, wantCode: codes.OK, wantTTL: time.Hour},
		{name: "max exactly", secs: int64(ca.DefaultMaxCertTTL / time.Second), wantCode: codes.OK, wantTTL: ca.DefaultMaxCertTTL},
		{name: "max plus one second", secs: int64(ca.DefaultMaxCertTTL/time.Second) + 1, wantCode: codes.InvalidArgument},
		{name: "just past the Duration range", secs: 9223372037, wantCode: codes.InvalidArgument},
		{name: "wraps to under a second", secs: 18446744074, wantCode: codes.InvalidArgument},
		{name: "max int64", secs: math.MaxInt64, wantCode: codes.InvalidArgument},
		{name: "zero means default", secs: 0, wantCode: codes.OK, wantTTL: ca.DefaultCertTTL},
		{name: "negative means default", secs: -60, wantCode: codes.OK, wantTTL: ca.DefaultCertTTL},
		{name: "hugely negative means default", secs: -18446744074, wantCode: codes.OK, wantTTL: ca.DefaultCertTTL},
		{name: "min int64 means default", secs: math.MinInt64, wantCode: codes.OK, wantTTL: ca.DefaultCertTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := metadata.AppendToOutgoingContext(callCtx(t), "authorization", "Bearer "+validToken)
			start := time.Now()
			resp, err := api.CreateCertificate(ctx, &pb.IstioCertificateRequest{
				Csr:              string(csrPEM(t, ecKey(t), nil)),
				ValidityDuration: tt.secs,
			})
			require.Equalf(t, tt.wantCode, status.Code(err), "error: %v", err)
			if tt.wantCode != codes.OK {
				assert.Contains(t, status.Convert(err).Message(), "TTL_ERROR")
				return
			}
			leaf := verifyLeaf(t, resp.GetCertChain(), c.Roots(), x509.ExtKeyUsageClientAuth)
			requireAbout(t, start.Add(tt.wantTTL), leaf.NotAfter, 10*time.Second, "NotAfter")
		})
	}
}

// rawClient dials addr with the generated client, trusting c's roots.
func rawClient(t *testing.T, addr string, c *ca.CA) (pb.IstioCertificateServiceClient, *grpc.ClientConn) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs:    c.Roots(),
		ServerName: "localhost",
		MinVersion: tls.VersionTLS12,
	})))
	require.NoError(t, err)
	return pb.NewIstioCertificateServiceClient(conn), conn
}

func mustKey(t *testing.T, keyPEM []byte) any {
	t.Helper()
	k, err := pemutil.ParseKey(keyPEM)
	require.NoError(t, err)
	return k
}

func TestServicePluggedCA(t *testing.T) {
	t.Parallel()
	pki := newPluggedPKI(t)
	c, err := ca.New(ca.Options{PluggedCertsDir: pki.write(t), DataDir: t.TempDir()}, nil, nil)
	require.NoError(t, err)
	addr := startServer(t, c, tokenAuth(t))

	// The client trusts only the operator's root; the server's serving
	// certificate and the issued chain both go through the intermediate.
	cl := dial(t, addr, pki.root.certPEM(), caclient.Config{Token: validToken})
	res, err := cl.Issue(callCtx(t), "", time.Hour)
	require.NoError(t, err)
	assert.Equal(t, []string{builderID}, uriStrings(res.Leaf.URIs))
	assert.NoError(t, res.Leaf.CheckSignatureFrom(pki.inter.cert), "the leaf is signed by the intermediate")

	chain, err := pemutil.ParseCerts(res.CertChainPEM)
	require.NoError(t, err)
	require.Len(t, chain, 2, "leaf and intermediate")
	assert.True(t, chain[1].Equal(pki.inter.cert))
	assert.Equal(t, pki.root.certPEM(), res.RootPEM)
}

func TestServiceMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c, err := ca.New(ca.Options{DataDir: t.TempDir()}, nil, ca.NewMetrics(reg))
	require.NoError(t, err)

	rootExpiry := float64(c.SigningCert().NotAfter.Unix())
	assert.Equal(t, rootExpiry, metricValue(t, reg, "citadel_server_root_cert_expiry_timestamp", nil),
		"the root expiry is recorded at New")
	assert.Equal(t, 0.0, metricValue(t, reg, "citadel_server_csr_count", nil))

	addr := startServer(t, c, tokenAuth(t))
	roots := c.RootPEM()
	byToken := dial(t, addr, roots, caclient.Config{Token: validToken})
	byCert := dial(t, addr, roots, caclient.Config{ClientCert: clientCert(t, c, fooBarID)})
	anonymous := dial(t, addr, roots, caclient.Config{})
	impostor := dial(t, addr, roots, caclient.Config{Token: wrongToken})
	ctx := callCtx(t)

	// Two successes.
	_, err = byToken.Issue(ctx, "", time.Hour)
	require.NoError(t, err)
	_, err = byCert.Issue(ctx, "", 0)
	require.NoError(t, err)
	// Two CSR errors, one TTL error.
	_, err = byToken.CreateCertificate(ctx, []byte("garbage"), time.Hour)
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	_, err = byCert.CreateCertificate(ctx, corruptSignature(t, csrPEM(t, ecKey(t), nil)), time.Hour)
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	_, err = byToken.CreateCertificate(ctx, csrPEM(t, ecKey(t), nil), 91*24*time.Hour)
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	// Two authentication failures.
	_, err = anonymous.CreateCertificate(ctx, csrPEM(t, ecKey(t), nil), time.Hour)
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	_, err = impostor.CreateCertificate(ctx, csrPEM(t, ecKey(t), nil), time.Hour)
	require.Equal(t, codes.Unauthenticated, status.Code(err))

	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"citadel_server_csr_count", nil, 7},
		{"citadel_server_success_cert_issuance_count", nil, 2},
		{"citadel_server_csr_sign_err_count", map[string]string{"error": "CSR_ERROR"}, 2},
		{"citadel_server_csr_sign_err_count", map[string]string{"error": "TTL_ERROR"}, 1},
		{"citadel_server_authentication_failure_count", nil, 2},
		{"citadel_server_root_cert_expiry_timestamp", nil, rootExpiry},
	} {
		assert.Equalf(t, m.want, metricValue(t, reg, m.name, m.labels), "%s%v", m.name, m.labels)
	}
	_, found := findMetric(t, reg, "citadel_server_csr_sign_err_count", map[string]string{"error": "IDENTITY_ERROR"})
	assert.False(t, found, "no identity error happened")
}

// findMetric returns the value of the counter or gauge name whose labels
// include labels.
func findMetric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), true
			default:
				t.Fatalf("metric %s has unexpected type %v", name, f.GetType())
			}
		}
	}
	return 0, false
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := findMetric(t, reg, name, labels)
	require.Truef(t, ok, "metric %s%v not found", name, labels)
	return v
}

func TestNewMetricsUnregistered(t *testing.T) {
	t.Parallel()
	// A nil registerer must work: New then signs and counts without exporting.
	m := ca.NewMetrics(nil)
	require.NotNil(t, m)
	c, err := ca.New(ca.Options{DataDir: t.TempDir()}, nil, m)
	require.NoError(t, err)
	_, err = c.Sign(csrPEM(t, ecKey(t), nil), []string{testID}, 0)
	require.NoError(t, err)

	// Registering the same metrics twice is a programming error and panics,
	// which proves that NewMetrics(reg) registers everything with reg.
	reg := prometheus.NewRegistry()
	ca.NewMetrics(reg)
	assert.Panics(t, func() { ca.NewMetrics(reg) })
}

func TestRunReturnsWhenContextDone(t *testing.T) {
	t.Parallel()
	c := newCA(t, ca.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}
