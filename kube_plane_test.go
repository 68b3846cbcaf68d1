package bootgraph_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/config"
	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	bggrpc "github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/kube"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

var kenv *kubetest.Env

// TestMain starts one real API server for the package's Kubernetes-mode
// tests (the others do not use it).
func TestMain(m *testing.M) {
	code := kubetest.Main(m, &kenv)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// kubeConfig is the default plane in Kubernetes mode, in its own namespace,
// every listener on a free loopback port.
func kubeConfig(t *testing.T, e *kubetest.Env, ns string) *config.Config {
	t.Helper()
	cfg := localConfig(t)
	cfg.Namespace = ns
	config.Options[kube.Options](cfg, "kube").Kubeconfig = e.Kubeconfig(t)
	return cfg
}

// Three replicas starting at once on an empty cluster end with one root,
// kept in the istio-ca-secret Secret, that all of them serve.
func TestKubeReplicasAgreeOnOneRoot(t *testing.T) {
	e := kubetest.Need(t, kenv)
	ns := e.Namespace(t, "replicas")
	const replicas = 3
	roots := make([][]byte, replicas)
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, replicas)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var authority *ca.CA
			<-start
			p, err := kubeConfig(t, e, ns).Build(fx.Populate(&authority))
			if err != nil {
				errs <- err
				return
			}
			if err := p.Start(context.Background()); err != nil {
				errs <- err
				return
			}
			roots[i] = authority.RootPEM()
			t.Cleanup(func() { p.Stop(context.Background()) })
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i := 1; i < replicas; i++ {
		assert.Equal(t, string(roots[0]), string(roots[i]), "replica %d serves another root", i)
	}
	secret, err := e.Client.CoreV1().Secrets(ns).Get(context.Background(), "istio-ca-secret", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "istio.io/ca-root", string(secret.Type))
	assert.Equal(t, string(roots[0]), string(secret.Data["root-cert.pem"]))
}

// A pod's ServiceAccount token (TokenRequest API) gets a workload
// certificate for its identity; a token for another audience does not.
func TestKubeServiceAccountTokenGetsCertificate(t *testing.T) {
	e := kubetest.Need(t, kenv)
	ns := e.Namespace(t, "tokens")
	cfg := kubeConfig(t, e, ns)
	var (
		authority *ca.CA
		srv       *bggrpc.Server
	)
	p, err := cfg.Build(fx.Populate(&authority, &srv))
	require.NoError(t, err)
	startPlane(t, p)
	_, err = os.Stat(filepath.Join(cfg.DataDir, "tokens.csv"))
	assert.True(t, os.IsNotExist(err), "Kubernetes mode creates no local token file")

	issue := func(token string) (*caclient.Result, error) {
		c, err := caclient.Dial(caclient.Config{Addr: srv.Addr(), RootsPEM: authority.RootPEM(), ServerName: "localhost", Token: token})
		require.NoError(t, err)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return c.Issue(ctx, caclient.KeyECDSAP256, time.Hour)
	}
	res, err := issue(e.ServiceAccountToken(t, ns, "app", "istio-ca"))
	require.NoError(t, err)
	assert.Equal(t, "spiffe://cluster.local/ns/"+ns+"/sa/app", res.Leaf.URIs[0].String())

	_, err = issue(e.ServiceAccountToken(t, ns, "app", "another-audience"))
	require.Error(t, err)
	assert.Equal(t, codes.Unauthenticated, status.Code(err))
}

// The API server away at boot: New retries (logging each attempt), then
// fails clearly after kube.connectTimeout; nothing is started.
func TestKubeAPIServerAwayAtBoot(t *testing.T) {
	cfg := localConfig(t)
	kc := config.Options[kube.Options](cfg, "kube")
	kc.Kubeconfig = unreachableKubeconfig(t, testutil.FreeAddr(t))
	kc.ConnectTimeout = component.Duration(1500 * time.Millisecond)
	begin := time.Now()
	_, err := cfg.Build()
	require.Error(t, err)
	assert.GreaterOrEqual(t, time.Since(begin), time.Second, "gave up before the timeout")
	assert.Contains(t, err.Error(), "did not answer within 1.5s")
	entries, _ := os.ReadDir(cfg.DataDir)
	assert.Empty(t, entries, "a failed boot left state behind")
}

func unreachableKubeconfig(t *testing.T, addr string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["away"] = &clientcmdapi.Cluster{Server: "https://" + addr, InsecureSkipTLSVerify: true}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "x"}
	kc.Contexts["away"] = &clientcmdapi.Context{Cluster: "away", AuthInfo: "u"}
	kc.CurrentContext = "away"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*kc, path))
	return path
}

// Kubernetes mode without the CA part (the files provider serves its own
// certificate) builds: root distribution is off by default then, not a
// missing part, and appends no hook.
func TestKubeWithoutCA(t *testing.T) {
	e := kubetest.Need(t, kenv)
	cfg := kubeConfig(t, e, e.Namespace(t, "noca"))
	files := writeServingFiles(t)
	require.NoError(t, cfg.SetEnabled("ca", false))
	sc := config.Options[servingcert.Options](cfg, "servingCert")
	sc.CertFile, sc.KeyFile, sc.CACertFile = files.cert, files.key, files.root
	p, err := cfg.Build()
	require.NoError(t, err)
	startPlane(t, p)
	for _, h := range p.Hooks() {
		assert.NotContains(t, h.Name, "RootDistribution", "root distribution without a CA")
	}
}
