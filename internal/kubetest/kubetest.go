// Package kubetest runs a real etcd and kube-apiserver for the tests that
// need a Kubernetes API server, with controller-runtime's envtest.
//
// The binaries are built from the Go module proxy by scripts/kube-testenv.sh
// (there is nothing to download them from here) into
// $BOOTGRAPH_CACHE/kube/v<Version>, or found through KUBEBUILDER_ASSETS. When
// they are missing, tests skip with that instruction — except under CI (the
// CI environment variable set), where they fail.
package kubetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
)

// Version is the Kubernetes release the tests run against.
const Version = "1.37.2"

// ErrNoAssets says the binaries are not built.
var ErrNoAssets = errors.New("etcd and kube-apiserver not found: run scripts/kube-testenv.sh (it builds them from the Go module proxy) or set KUBEBUILDER_ASSETS")

// Assets returns the directory that holds etcd and kube-apiserver.
func Assets() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		cache := os.Getenv("BOOTGRAPH_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", ErrNoAssets
			}
			cache = filepath.Join(home, ".cache", "bootgraph")
		}
		dir = filepath.Join(cache, "kube", "v"+Version)
	}
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%w (looked in %s)", ErrNoAssets, dir)
		}
	}
	return dir, nil
}

// Env is a running API server and an admin client for it.
type Env struct {
	Config *rest.Config
	Client kubernetes.Interface
	env    *envtest.Environment
}

// Start starts etcd and kube-apiserver and waits until the API server
// serves and the "default" namespace exists (/readyz answers before it does).
func Start() (*Env, error) {
	dir, err := Assets()
	if err != nil {
		return nil, err
	}
	reapOrphans(dir)
	env := &envtest.Environment{BinaryAssetsDirectory: dir, ControlPlaneStartTimeout: 2 * time.Minute}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("kubetest: start the API server: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, errors.Join(err, env.Stop())
	}
	e := &Env{Config: cfg, Client: client, env: env}
	err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("kubetest: the default namespace never appeared: %w", err), env.Stop())
	}
	return e, nil
}

// API returns a kubeapi client (the narrow client bootgraph's parts use)
// for the admin user.
func (e *Env) API(t testing.TB) *kubeapi.Client {
	t.Helper()
	c, err := kubeapi.New(e.Config)
	if err != nil {
		t.Fatalf("kubeapi client: %v", err)
	}
	return c
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error { return e.env.Stop() }

// Main is a TestMain for a package whose tests need an API server: it
// starts one for the whole package, runs the tests, and stops it. Without
// the binaries it runs the tests with *env nil (Need skips them), or fails
// under CI.
func Main(m *testing.M, env **Env) int {
	e, err := Start()
	switch {
	case errors.Is(err, ErrNoAssets) && os.Getenv("CI") == "":
		fmt.Fprintln(os.Stderr, "kubetest:", err, "- tests that need an API server will skip")
	case err != nil:
		fmt.Fprintln(os.Stderr, "kubetest:", err)
		return 1
	default:
		*env = e
		defer func() {
			if err := e.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "kubetest: stop:", err)
			}
		}()
	}
	return m.Run()
}

// Need skips t when env is nil (no API server outside CI).
func Need(t testing.TB, env *Env) *Env {
	t.Helper()
	if env == nil {
		t.Skip(ErrNoAssets.Error())
	}
	return env
}

// Namespace creates a namespace for one test and deletes it afterwards.
func (e *Env) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ns, err := e.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = e.Client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// Kubeconfig writes a kubeconfig file for the admin user and returns its
// path, for code that takes --kubeconfig.
func (e *Env) Kubeconfig(t testing.TB) string {
	t.Helper()
	c := e.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.CertData, ClientKeyData: c.KeyData, Token: c.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	return path
}

// ServiceAccountToken creates service account ns/sa (if needed) and returns
// a token for it with the given audiences, from the TokenRequest API, as a
// pod's projected token.
func (e *Env) ServiceAccountToken(t testing.TB, ns, sa string, audiences ...string) string {
	t.Helper()
	ctx := context.Background()
	_, err := e.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: sa},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create service account %s/%s: %v", ns, sa, err)
	}
	expiry := int64(3600)
	tr, err := e.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, sa, err)
	}
	return tr.Status.Token
}
