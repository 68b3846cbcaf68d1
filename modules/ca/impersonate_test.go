package ca_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	pb "istio.io/api/security/v1alpha1"

	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/modules/ca"
)

// nodeAuthorizer refuses identities of namespace "elsewhere", as the kube
// part's would for one with no pod on the caller's node.
type nodeAuthorizer struct{}

func (nodeAuthorizer) AuthorizeImpersonation(_ context.Context, _ *ca.Caller, ns, sa string) error {
	if ns == "elsewhere" {
		return errors.New("no pod of service account " + ns + "/" + sa + " runs on the caller's node")
	}
	return nil
}

// ImpersonatedIdentity (what ztunnel sends) is refused with Unauthenticated
// and istiod's opaque message unless the caller is a trusted node
// account; a trusted one gets the impersonated identity, within the trust
// domain and, with a node authorizer, only for identities on its node.
// The reasons go to the log and the metrics.
func TestImpersonation(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c, err := ca.New(ca.Options{DataDir: filepath.Join(t.TempDir(), "ca"), TrustedNodeAccounts: []string{"istio-system/ztunnel"}},
		nil, ca.NewMetrics(reg))
	require.NoError(t, err)
	core, logs := observer.New(zap.InfoLevel)
	addr, serverRoots := serveService(t, c, ca.NewService(c, zap.New(core), nil).WithNodeAuthorizer(nodeAuthorizer{}))
	ztunnel := clientCert(t, c, ca.SpiffeID("cluster.local", "istio-system", "ztunnel"))
	app := clientCert(t, c, ca.SpiffeID("cluster.local", "default", "app"))

	call := func(cert *tls.Certificate, impersonate string) (*pb.IstioCertificateResponse, error) {
		md, err := structpb.NewStruct(map[string]any{ca.ImpersonatedIdentityMetadata: impersonate})
		require.NoError(t, err)
		return rawCall(t, addr, serverRoots, cert, &pb.IstioCertificateRequest{Csr: string(csrPEM(t, ecKey(t), nil)), ValidityDuration: 3600, Metadata: md})
	}
	tests := []struct {
		name, impersonate string
		cert              *tls.Certificate
		wantID, wantLog   string
	}{
		{"trusted node account", "spiffe://cluster.local/ns/default/sa/app", ztunnel, "spiffe://cluster.local/ns/default/sa/app", ""},
		{"workload", "spiffe://cluster.local/ns/istio-system/sa/istiod", app, "", "is not a trusted node account"},
		{"another trust domain", "spiffe://evil.example/ns/default/sa/app", ztunnel, "", `not in trust domain "cluster.local"`},
		{"not a SPIFFE ID", "admin", ztunnel, "", "is not a SPIFFE ID"},
		{"no pod on the node", "spiffe://cluster.local/ns/elsewhere/sa/app", ztunnel, "", "no pod of service account elsewhere/app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := call(tt.cert, tt.impersonate)
			if tt.wantID != "" {
				require.NoError(t, err)
				leaf := parseChain(t, resp.GetCertChain())[0][0]
				assert.Equal(t, []string{tt.wantID}, uriStrings(leaf.URIs))
				return
			}
			require.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
			assert.Equal(t, "request impersonation authentication failure", status.Convert(err).Message())
			assert.True(t, logged(logs, tt.wantLog), "the log says why: %q", tt.wantLog)
		})
	}
	assert.Equal(t, 4.0, metricValue(t, reg, "citadel_server_authentication_failure_count", nil))
	assert.Equal(t, 4.0, metricValue(t, reg, "bootgraph_ca_authentication_failures_total", map[string]string{"reason": "impersonation"}))

	// Without trusted node accounts nobody impersonates.
	none := ca.NewService(defaultCA(t), zap.New(core), nil)
	addr2, roots2 := serveService(t, defaultCA(t), none)
	md, err := structpb.NewStruct(map[string]any{ca.ImpersonatedIdentityMetadata: "spiffe://cluster.local/ns/default/sa/app"})
	require.NoError(t, err)
	_, err = rawCall(t, addr2, roots2, clientCert(t, defaultCA(t), ca.SpiffeID("cluster.local", "istio-system", "ztunnel")),
		&pb.IstioCertificateRequest{Csr: string(csrPEM(t, ecKey(t), nil)), Metadata: md})
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	assert.True(t, logged(logs, "no trusted node accounts are configured"))
}

// Authentication failures: the caller gets istiod's opaque message; the
// reason is logged (never the token) and counted, by reason.
func TestAuthenticationFailureReasons(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c, err := ca.New(ca.Options{DataDir: filepath.Join(t.TempDir(), "ca")}, nil, ca.NewMetrics(reg))
	require.NoError(t, err)
	core, logs := observer.New(zap.InfoLevel)
	addr, roots := serveService(t, c, ca.NewService(c, zap.New(core), []ca.Authenticator{tokenAuth(t)}))
	for _, tt := range []struct {
		cfg              *tls.Certificate
		token, wantLog   string
		wantReasonMetric string
	}{
		{token: wrongToken, wantLog: "TokenFile: bearer token is not in the token file", wantReasonMetric: "TokenFile"},
		{wantLog: "no credentials", wantReasonMetric: "no_credentials"},
		{cfg: servingCert(t, c), wantLog: "ClientCert: client certificate has no SPIFFE URI SAN", wantReasonMetric: "ClientCert"},
	} {
		cfg := caclient.Config{ClientCert: tt.cfg, Token: tt.token}
		_, err := dial(t, addr, roots, cfg).CreateCertificate(callCtx(t), csrPEM(t, ecKey(t), nil), time.Hour)
		require.Equal(t, codes.Unauthenticated, status.Code(err))
		assert.Equal(t, "request authenticate failure", status.Convert(err).Message())
		assert.True(t, logged(logs, tt.wantLog), "logged: %q", tt.wantLog)
		assert.Equal(t, 1.0, metricValue(t, reg, "bootgraph_ca_authentication_failures_total", map[string]string{"reason": tt.wantReasonMetric}))
	}
	assert.Equal(t, 3.0, metricValue(t, reg, "citadel_server_authentication_failure_count", nil))
	for _, e := range logs.All() {
		for _, f := range e.Context {
			if err, ok := f.Interface.(error); ok {
				assert.NotContains(t, err.Error(), wrongToken, "the log never holds the token")
			}
		}
	}
}

// logged reports whether an entry's message or error holds s.
func logged(logs *observer.ObservedLogs, s string) bool {
	for _, e := range logs.All() {
		if strings.Contains(e.Message, s) {
			return true
		}
		for _, f := range e.Context {
			if err, ok := f.Interface.(error); ok && strings.Contains(err.Error(), s) {
				return true
			}
		}
	}
	return false
}

// rawCall sends req over mTLS with cert, trusting serverRoots.
func rawCall(t *testing.T, addr string, serverRoots []byte, cert *tls.Certificate, req *pb.IstioCertificateRequest) (*pb.IstioCertificateResponse, error) {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(serverRoots))
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12,
	})))
	require.NoError(t, err)
	defer cc.Close()
	return pb.NewIstioCertificateServiceClient(cc).CreateCertificate(callCtx(t), req)
}
