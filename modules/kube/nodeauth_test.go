package kube_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	pb "istio.io/api/security/v1alpha1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube"
)

// Impersonation on the real API server, as ztunnel does it: the trusted
// node account's token is bound to its pod on node A; it gets certificates
// for service accounts that have a pod on node A, and Unauthenticated for
// one whose pods are all on node B, with a token not bound to a pod, or
// when the caller is not a trusted node account.
func TestNodeAuthorizerImpersonation(t *testing.T) {
	e := kubetest.Need(t, env)
	t.Parallel()
	sys, apps := e.Namespace(t, "ztunnel"), e.Namespace(t, "apps")
	nodeA, nodeB := createNode(t, e, "impersonation-a"), createNode(t, e, "impersonation-b")
	ztunnelPod := createPod(t, e, sys, "ztunnel", nodeA)
	appPod := createPod(t, e, apps, "app", nodeA)
	createPod(t, e, apps, "remote", nodeB)
	createPod(t, e, apps, "unscheduled", "")

	c, err := ca.New(ca.Options{DataDir: filepath.Join(t.TempDir(), "ca"), TrustedNodeAccounts: []string{sys + "/ztunnel"}}, nil, nil)
	require.NoError(t, err)
	core, logs := observer.New(zap.InfoLevel)
	svc := ca.NewService(c, zap.New(core), []ca.Authenticator{kube.NewTokenReviewAuthenticator(e.API(t), kube.Options{}, c.TrustDomain())}).
		WithNodeAuthorizer(kube.NewNodeAuthorizer(e.API(t)))
	addr := serveService(t, c, svc)

	ztunnelToken := podToken(t, e, ztunnelPod)
	tests := []struct {
		name, token, impersonate, wantLog string
	}{
		{name: "an identity on the caller's node", token: ztunnelToken, impersonate: id(apps, "app")},
		{name: "an identity on another node", token: ztunnelToken, impersonate: id(apps, "remote"), wantLog: "no pod of service account " + apps + "/remote runs on node " + nodeA},
		{name: "an unscheduled identity", token: ztunnelToken, impersonate: id(apps, "unscheduled"), wantLog: "no pod of service account"},
		{name: "a token not bound to a pod", token: e.ServiceAccountToken(t, sys, "ztunnel", kube.DefaultTokenAudience), impersonate: id(apps, "app"),
			wantLog: "the caller's node is unknown"},
		{name: "a workload that is not a node account", token: podToken(t, e, appPod), impersonate: id(apps, "remote"), wantLog: "is not a trusted node account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := structpb.NewStruct(map[string]any{ca.ImpersonatedIdentityMetadata: tt.impersonate})
			require.NoError(t, err)
			resp, err := call(t, addr, c, tt.token, &pb.IstioCertificateRequest{Csr: string(newCSR(t)), ValidityDuration: 3600, Metadata: md})
			if tt.wantLog == "" {
				require.NoError(t, err)
				leaf, err := x509.ParseCertificate(pemBlock(t, resp.GetCertChain()[0]))
				require.NoError(t, err)
				require.Len(t, leaf.URIs, 1)
				assert.Equal(t, tt.impersonate, leaf.URIs[0].String())
				return
			}
			require.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
			assert.Equal(t, "request impersonation authentication failure", status.Convert(err).Message())
			assert.True(t, loggedReason(logs, tt.wantLog), "logged: %q", tt.wantLog)
		})
	}
}

func id(ns, sa string) string { return ca.SpiffeID("cluster.local", ns, sa) }

func createNode(t *testing.T, e *kubetest.Env, prefix string) string {
	t.Helper()
	n, err := e.Client.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Client.CoreV1().Nodes().Delete(context.Background(), n.Name, metav1.DeleteOptions{}) })
	return n.Name
}

// createPod makes a pod of service account sa (created if needed) in ns,
// scheduled on node ("" leaves it unscheduled).
func createPod(t *testing.T, e *kubetest.Env, ns, sa, node string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	_, err := e.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	pod, err := e.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: sa + "-"},
		Spec: corev1.PodSpec{ServiceAccountName: sa, NodeName: node,
			Containers: []corev1.Container{{Name: "c", Image: "example.invalid/none"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return pod
}

// podToken is a ServiceAccount token bound to pod, as a projected token.
func podToken(t *testing.T, e *kubetest.Env, pod *corev1.Pod) string {
	t.Helper()
	expiry := int64(3600)
	tr, err := e.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(context.Background(), pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{kube.DefaultTokenAudience}, ExpirationSeconds: &expiry,
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return tr.Status.Token
}

// serveService serves svc as serveCA does.
func serveService(t *testing.T, c *ca.CA, svc *ca.Service) string {
	t.Helper()
	certPEM, keyPEM, err := c.GenKeyCert([]string{"localhost", "127.0.0.1"}, time.Hour)
	require.NoError(t, err)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	svc.Register(s)
	lis, err := netListen(t)
	require.NoError(t, err)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

func call(t *testing.T, addr string, c *ca.CA, token string, req *pb.IstioCertificateRequest) (*pb.IstioCertificateResponse, error) {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(c.RootPEM()))
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})))
	require.NoError(t, err)
	defer cc.Close()
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token), 20*time.Second)
	defer cancel()
	return pb.NewIstioCertificateServiceClient(cc).CreateCertificate(ctx, req)
}

func newCSR(t *testing.T) []byte {
	t.Helper()
	key, err := caclient.NewKey(caclient.KeyECDSAP256)
	require.NoError(t, err)
	csr, err := caclient.NewCSR(key)
	require.NoError(t, err)
	return csr
}

func netListen(t *testing.T) (net.Listener, error) {
	t.Helper()
	return net.Listen("tcp", "127.0.0.1:0")
}

func pemBlock(t *testing.T, s string) []byte {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	require.NotNil(t, b)
	return b.Bytes
}
