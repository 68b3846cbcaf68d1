package kube_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/client-go/rest"

	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
)

// serveCALogged serves c's IstioCertificateService over TLS on a loopback
// port, as the secure gRPC listener does, with extra authenticators after
// the client certificate, and returns its address and what it logs.
func serveCALogged(t *testing.T, c *ca.CA, extra ...ca.Authenticator) (string, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	certPEM, keyPEM, err := c.GenKeyCert([]string{"localhost", "127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert, // as the plane's secure listener: the authenticator verifies
		ClientCAs:    c.Roots(),
		MinVersion:   tls.VersionTLS12,
	})))
	ca.NewService(c, zap.New(core), extra).Register(s)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		assert.NoError(t, <-served)
	})
	return lis.Addr().String(), logs
}

// A pod's projected token (audience istio-ca) gets a workload certificate
// for its ServiceAccount's SPIFFE ID; every other token is Unauthenticated.
func TestTokenReviewAuthenticator(t *testing.T) {
	e := kubetest.Need(t, env)
	t.Parallel()
	ns := e.Namespace(t, "tokenreview")
	c := testutil.NewCA(t)
	addr, logs := serveCALogged(t, c, kube.NewTokenReviewAuthenticator(e.API(t), kube.Options{ClusterID: "east"}, c.TrustDomain()))

	podToken := e.ServiceAccountToken(t, ns, "app", "istio-ca")
	wantID := "spiffe://cluster.local/ns/" + ns + "/sa/app"
	const garbage = "not-a-jwt-but-long-enough-to-look-like-one"

	tests := []struct {
		name      string
		token     string
		clusterID string
		wantCode  codes.Code
		wantMsg   string
	}{
		{name: "pod token", token: podToken, wantCode: codes.OK},
		{name: "pod token, matching clusterid", token: podToken, clusterID: "east", wantCode: codes.OK},
		{name: "pod token, other clusterid", token: podToken, clusterID: "west", wantCode: codes.Unauthenticated, wantMsg: `KubeJWT: clusterid metadata "west": unknown cluster (this is cluster "east"`},
		{name: "token for another audience", token: e.ServiceAccountToken(t, ns, "app", "other"), wantCode: codes.Unauthenticated, wantMsg: `KubeJWT: TokenReview: token not accepted: [invalid bearer token, token audiences ["other"] is invalid for the target audiences ["istio-ca"]]`},
		{name: "token for the API server", token: e.ServiceAccountToken(t, ns, "app"), wantCode: codes.Unauthenticated, wantMsg: `is invalid for the target audiences ["istio-ca"]`},
		{name: "garbage token", token: garbage, wantCode: codes.Unauthenticated, wantMsg: "KubeJWT: TokenReview: token not accepted: invalid bearer token"},
		{name: "no token", wantCode: codes.Unauthenticated, wantMsg: "no credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cl, err := caclient.Dial(caclient.Config{Addr: addr, RootsPEM: c.RootPEM(), Token: tt.token})
			require.NoError(t, err)
			t.Cleanup(func() { _ = cl.Close() })
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if tt.clusterID != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, kube.ClusterIDMetadata, tt.clusterID)
			}

			res, err := cl.Issue(ctx, "", time.Hour)
			if tt.wantCode == codes.OK {
				require.NoError(t, err)
				require.Len(t, res.Leaf.URIs, 1)
				assert.Equal(t, wantID, res.Leaf.URIs[0].String())
				return
			}
			require.Error(t, err)
			st, _ := status.FromError(err)
			assert.Equalf(t, tt.wantCode, st.Code(), "status: %v", err)
			assert.True(t, strings.HasSuffix(st.Message(), "desc = request authenticate failure"), "istiod's answer, the reason in the log only: %q", st.Message())
			assert.True(t, loggedReason(logs, tt.wantMsg), "the log says why: %q", tt.wantMsg)
			if tt.token != "" {
				assert.NotContains(t, st.Message(), tt.token, "the error must not reveal the token")
			}
		})
	}
}

// The kube module adds the authenticator to the CA's chain, with the CA's
// trust domain and the module's options.
func TestTokenReviewJoinsCAChain(t *testing.T) {
	e := kubetest.Need(t, env)
	t.Parallel()
	ns := e.Namespace(t, "tokenreview-fx")
	c := testutil.NewCA(t)
	var chain []ca.Authenticator
	fxtest.New(t,
		fx.NopLogger,
		fx.Provide(zap.NewNop),
		fx.Supply(c),
		kube.Module(kube.Options{Kubeconfig: e.Kubeconfig(t), ClusterID: "east"}),
		component.SupplyEnv(component.Env{Namespace: ns}),
		fx.Invoke(func(in ca.AuthenticatorsIn) { chain = in.Authenticators }),
	).RequireStart().RequireStop()

	require.Len(t, chain, 1)
	assert.Equal(t, kube.AuthSourceKubeJWT, chain[0].Name())

	token := e.ServiceAccountToken(t, ns, "app", kube.DefaultTokenAudience)
	caller, err := chain[0].Authenticate(incoming(token, "east"))
	require.NoError(t, err)
	assert.Equal(t, &ca.Caller{Identities: []string{"spiffe://cluster.local/ns/" + ns + "/sa/app"}, AuthSource: "KubeJWT",
		Namespace: ns, ServiceAccount: "app"}, caller)
}

// loggedReason reports whether a logged refusal's error holds reason.
func loggedReason(logs *observer.ObservedLogs, reason string) bool {
	for _, e := range logs.All() {
		for _, f := range e.Context {
			if err, ok := f.Interface.(error); ok && strings.Contains(err.Error(), reason) {
				return true
			}
		}
	}
	return false
}

// incoming is a server-side context carrying token and clusterID metadata.
func incoming(token, clusterID string) context.Context {
	md := metadata.MD{}
	if token != "" {
		md.Set("authorization", "Bearer "+token)
	}
	if clusterID != "" {
		md.Set(kube.ClusterIDMetadata, clusterID)
	}
	return metadata.NewIncomingContext(context.Background(), md)
}

// Review results the API server of a test cannot produce (a user token, a
// server that ignores audiences) are refused. The TokenReview goes to the
// real API server; its answer's status is replaced at the HTTP layer.
func TestTokenReviewAuthenticatorStatus(t *testing.T) {
	e := kubetest.Need(t, env)
	t.Parallel()
	sa := authenticationv1.UserInfo{Username: "system:serviceaccount:team-a:builder", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:team-a"}}
	tests := []struct {
		name    string
		ctx     context.Context
		status  authenticationv1.TokenReviewStatus
		wantID  string
		wantErr string
	}{
		{name: "service account", status: authenticationv1.TokenReviewStatus{Authenticated: true, User: sa, Audiences: []string{"istio-ca"}}, wantID: "spiffe://example.org/ns/team-a/sa/builder"},
		{name: "no authorization metadata", ctx: incoming("", ""), status: authenticationv1.TokenReviewStatus{Authenticated: true, User: sa, Audiences: []string{"istio-ca"}}},
		{name: "review error", status: authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}, wantErr: "TokenReview: token not accepted: invalid bearer token"},
		{name: "not authenticated", status: authenticationv1.TokenReviewStatus{}, wantErr: "TokenReview: token not authenticated"},
		{name: "audience not confirmed", status: authenticationv1.TokenReviewStatus{Authenticated: true, User: sa}, wantErr: `confirmed none of the audiences ["istio-ca"]`},
		{
			name:    "user, not a service account",
			status:  authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}}, Audiences: []string{"istio-ca"}},
			wantErr: `user "alice" is not in group system:serviceaccounts`,
		},
		{
			name:    "malformed username",
			status:  authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "system:serviceaccount:team-a", Groups: sa.Groups}, Audiences: []string{"istio-ca"}},
			wantErr: `username "system:serviceaccount:team-a" is not system:serviceaccount:<namespace>:<name>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			answers := &reviewAnswers{status: tt.status}
			client := answers.client(t, e.Config)
			ctx := tt.ctx
			if ctx == nil {
				ctx = incoming("a-token", "")
			}
			caller, err := kube.NewTokenReviewAuthenticator(client, kube.Options{}, "example.org").Authenticate(ctx)
			got := answers.reviewed(t)
			switch {
			case tt.wantErr != "":
				require.ErrorContains(t, err, tt.wantErr)
				assert.NotContains(t, err.Error(), "a-token")
			case tt.wantID == "":
				require.NoError(t, err)
				assert.Nil(t, caller, "no token: the next authenticator is tried")
				assert.Nil(t, got, "no TokenReview without a token")
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.wantID, caller.Identities[0])
				assert.Equal(t, []string{tt.wantID}, caller.Identities)
				assert.Equal(t, "KubeJWT", caller.AuthSource)
				assert.Equal(t, []string{"istio-ca"}, got.Spec.Audiences)
				assert.Equal(t, "a-token", got.Spec.Token)
			}
		})
	}
}

// reviewAnswers is the transport of a client whose TokenReviews go to the
// API server and come back with the server's answer, its status replaced:
// a review result that the test's API server cannot produce.
type reviewAnswers struct {
	status authenticationv1.TokenReviewStatus
	next   http.RoundTripper

	mu   sync.Mutex
	sent []*authenticationv1.TokenReview
}

// client is a kubeapi client for cfg's API server through a.
func (a *reviewAnswers) client(t *testing.T, cfg *rest.Config) *kubeapi.Client {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		a.next = rt
		return a
	}
	client, err := kubeapi.New(cfg)
	require.NoError(t, err)
	return client
}

// reviewed returns the one TokenReview sent, nil when none was.
func (a *reviewAnswers) reviewed(t *testing.T) *authenticationv1.TokenReview {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	require.LessOrEqual(t, len(a.sent), 1, "one TokenReview per authentication")
	if len(a.sent) == 0 {
		return nil
	}
	return a.sent[0]
}

func (a *reviewAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/tokenreviews") {
		return a.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	var sent authenticationv1.TokenReview
	if err := json.Unmarshal(body, &sent); err != nil {
		return nil, fmt.Errorf("test: the TokenReview sent (%s): %w", req.Header.Get("Content-Type"), err)
	}
	a.mu.Lock()
	a.sent = append(a.sent, &sent)
	a.mu.Unlock()

	req = req.Clone(req.Context())
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	resp, err := a.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	answer, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("test: the API server answered the TokenReview with %s: %s", resp.Status, answer)
	}
	var review authenticationv1.TokenReview
	if err := json.Unmarshal(answer, &review); err != nil {
		return nil, fmt.Errorf("test: the API server's TokenReview: %w", err)
	}
	review.Status = a.status
	if answer, err = json.Marshal(&review); err != nil {
		return nil, err
	}
	resp.Header = resp.Header.Clone()
	resp.Header.Set("Content-Length", strconv.Itoa(len(answer)))
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(answer)), int64(len(answer))
	return resp, nil
}
