package kube_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
)

// An empty namespace: the first store creates istio-ca-secret as istiod
// writes it; a second store (another start) reuses it.
func TestSecretStoreCreatesRoot(t *testing.T) {
	e := kubetest.Need(t, env)
	t.Parallel()
	ns := e.Namespace(t, "castore-create")
	store, logs := newCAStore(t, e.API(t), ns)
	gen := &countingGenerator{t: t}

	st, err := store.LoadOrCreate(context.Background(), gen.generate)
	require.NoError(t, err)
	assert.True(t, st.Created)
	assert.False(t, st.PluggedIn)
	assert.Equal(t, "Secret "+ns+"/istio-ca-secret", st.Where)
	assert.Equal(t, 1, gen.calls())

	secret := getSecret(t, e.Client, ns, kube.CASecretName)
	assert.Equal(t, kube.CASecretType, secret.Type)
	assert.Equal(t, "bootgraph", secret.Labels["app.kubernetes.io/managed-by"])
	assert.ElementsMatch(t, []string{ca.CACertFile, ca.CAKeyFile, ca.CertChainFile, ca.RootCertFile}, keysOf(secret.Data))
	assert.Equal(t, st.CertPEM, secret.Data[ca.CACertFile])
	assert.Equal(t, st.KeyPEM, secret.Data[ca.CAKeyFile])
	assert.Equal(t, st.CertPEM, secret.Data[ca.RootCertFile])
	assert.Empty(t, secret.Data[ca.CertChainFile])

	again, _ := newCAStore(t, e.API(t), ns)
	st2, err := again.LoadOrCreate(context.Background(), gen.generate)
	require.NoError(t, err)
	assert.False(t, st2.Created)
	assert.Equal(t, 1, gen.calls(), "a stored root is reused, not regenerated")
	assert.Equal(t, st.RootPEM, st2.RootPEM)
	assert.Equal(t, st.KeyPEM, st2.KeyPEM)

	assertNoKeyLogged(t, logs, st.KeyPEM)
}

// A root already in istio-ca-secret is reused as it is, including one from
// an older istiod without root-cert.pem; an incomplete one is an error that
// names the Secret and the missing key.
func TestSecretStoreExistingRoot(t *testing.T) {
	e := kubetest.Need(t, env)
	t.Parallel()
	root := newTestRoot(t, "Existing Root")
	tests := []struct {
		name     string
		data     map[string][]byte
		wantRoot []byte
		wantErr  []string
	}{
		{
			name:     "as istiod writes it",
			data:     map[string][]byte{ca.CACertFile: root.certPEM, ca.CAKeyFile: root.keyPEM, ca.CertChainFile: {}, ca.RootCertFile: root.certPEM},
			wantRoot: root.certPEM,
		},
		{
			name:     "without root-cert.pem",
			data:     map[string][]byte{ca.CACertFile: root.certPEM, ca.CAKeyFile: root.keyPEM},
			wantRoot: root.certPEM,
		},
		{
			name:    "without ca-key.pem",
			data:    map[string][]byte{ca.CACertFile: root.certPEM, ca.RootCertFile: root.certPEM},
			wantErr: []string{"istio-ca-secret", "incomplete", ca.CAKeyFile},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns := e.Namespace(t, "castore-existing")
			createSecret(t, e.Client, ns, kube.CASecretName, kube.CASecretType, tt.data)
			store, _ := newCAStore(t, e.API(t), ns)
			gen := &countingGenerator{t: t}

			st, err := store.LoadOrCreate(context.Background(), gen.generate)
			assert.Zero(t, gen.calls(), "nothing is generated when istio-ca-secret exists")
			if tt.wantErr != nil {
				require.Error(t, err)
				for _, want := range append(tt.wantErr, ns) {
					assert.Contains(t, err.Error(), want)
				}
				return
			}
			require.NoError(t, err)
			assert.False(t, st.Created)
			assert.Equal(t, tt.wantRoot, st.RootPEM)
			assert.Equal(t, root.keyPEM, st.KeyPEM)
		})
	}
}

// An operator's CA in the Secret cacerts wins over istio-ca-secret, under
// istiod's names or in the kubernetes.io/tls layout, and the CA signs with
// it; an incomplete cacerts is an error naming the Secret and what is
// missing.
func TestSecretStorePluggedIn(t *testing.T) {
	e := kubetest.Need(t, env)
	t.Parallel()
	root := newTestRoot(t, "Operator Root")
	inter := root.issueCA(t, "Operator Intermediate")
	istiodNames := map[string][]byte{
		ca.CACertFile:    inter.certPEM,
		ca.CAKeyFile:     inter.keyPEM,
		ca.CertChainFile: concatPEM(inter.certPEM, root.certPEM),
		ca.RootCertFile:  root.certPEM,
	}
	tests := []struct {
		name    string
		data    map[string][]byte
		wantErr []string
	}{
		{name: "istiod names", data: istiodNames},
		{name: "kubernetes.io/tls layout", data: map[string][]byte{
			corev1.TLSCertKey: inter.certPEM, corev1.TLSPrivateKeyKey: inter.keyPEM, "ca.crt": root.certPEM,
		}},
		{name: "istiod names, two missing", data: map[string][]byte{
			ca.CACertFile: inter.certPEM, ca.CertChainFile: concatPEM(inter.certPEM, root.certPEM),
		}, wantErr: []string{"cacerts", "incomplete", ca.CAKeyFile, ca.RootCertFile}},
		{name: "tls layout, ca.crt missing", data: map[string][]byte{
			corev1.TLSCertKey: inter.certPEM, corev1.TLSPrivateKeyKey: inter.keyPEM,
		}, wantErr: []string{"cacerts", "incomplete", "ca.crt"}},
		{name: "no known keys", data: map[string][]byte{"foo": []byte("bar")},
			wantErr: []string{"cacerts", ca.CACertFile, ca.CAKeyFile, ca.CertChainFile, ca.RootCertFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns := e.Namespace(t, "castore-plugged")
			createSecret(t, e.Client, ns, kube.PluggedCASecretName, corev1.SecretTypeOpaque, tt.data)
			// A self-signed root from an earlier start must not win.
			old := newTestRoot(t, "Old Self-Signed Root")
			createSecret(t, e.Client, ns, kube.CASecretName, kube.CASecretType,
				map[string][]byte{ca.CACertFile: old.certPEM, ca.CAKeyFile: old.keyPEM})
			store, _ := newCAStore(t, e.API(t), ns)

			if tt.wantErr != nil {
				_, err := store.LoadOrCreate(context.Background(), (&countingGenerator{t: t}).generate)
				require.Error(t, err)
				for _, want := range append(tt.wantErr, "Secret "+ns+"/cacerts") {
					assert.Contains(t, err.Error(), want)
				}
				return
			}
			st, err := store.LoadOrCreate(context.Background(), (&countingGenerator{t: t}).generate)
			require.NoError(t, err)
			assert.True(t, st.PluggedIn)
			assert.False(t, st.Created)
			assert.Equal(t, "Secret "+ns+"/cacerts", st.Where)

			c, err := ca.NewFromStore(ca.Options{DataDir: t.TempDir()}, store, nil, nil)
			require.NoError(t, err, "the CA accepts the plugged-in material")
			assert.True(t, c.SigningCert().Equal(inter.cert), "signs with the intermediate")
			assert.Equal(t, root.certPEM, c.RootPEM())
		})
	}
}

// Three replicas start at once on an empty namespace, as istiod replicas
// do after an install: all end with the same root, exactly one created it,
// and none crash-loops on the lost race (istio#43089). "forced" holds every
// replica until all have generated a root, so that all three race to
// create; "natural" only starts them together.
func TestSecretStoreReplicasRace(t *testing.T) {
	e := kubetest.Need(t, env)
	t.Parallel()
	for _, mode := range []struct {
		name   string
		rounds int
		forced bool
	}{{"forced", 2, true}, {"natural", 5, false}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			for round := range mode.rounds {
				generated := raceReplicas(t, e, 3, mode.forced)
				t.Logf("round %d: %d of 3 replicas generated a root", round, generated)
				if mode.forced {
					assert.Equal(t, 3, generated, "every replica raced to create")
				}
			}
		})
	}
}

// raceReplicas runs n CAs on one fresh namespace at once, checks that they
// agree on the stored root, and returns how many generated one.
func raceReplicas(t *testing.T, e *kubetest.Env, n int, forced bool) int {
	t.Helper()
	ns := e.Namespace(t, "castore-race")
	start := newRaceBarrier(n)
	var generating *raceBarrier // only awaited when forced: unawaited, its goroutine would leak
	if forced {
		generating = newRaceBarrier(n)
	}
	replicas := make([]*raceReplica, n)
	cas := make([]*ca.CA, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range replicas {
		replicas[i] = &raceReplica{store: kube.NewSecretStore(newClient(t, e.Config), ns, kube.Options{}, zap.NewNop())}
		if forced {
			replicas[i].generating = generating
		}
		wg.Go(func() {
			if !start.await(30 * time.Second) {
				errs[i] = errors.New("test: replicas did not all start")
				return
			}
			cas[i], errs[i] = ca.NewFromStore(ca.Options{DataDir: t.TempDir()}, replicas[i], nil, nil)
		})
	}
	wg.Wait()

	stored := getSecret(t, e.Client, ns, kube.CASecretName).Data[ca.RootCertFile]
	created, generated := 0, 0
	for i, r := range replicas {
		require.NoErrorf(t, errs[i], "replica %d", i)
		assert.Equalf(t, string(stored), string(cas[i].RootPEM()), "replica %d uses the stored root", i)
		if r.stored.Created {
			created++
		}
		if r.generated.Load() {
			generated++
		}
	}
	assert.Equal(t, 1, created, "exactly one replica created the root")
	return generated
}

// The CA module keeps its root in istio-ca-secret of the Env's namespace
// when the kube module is in the graph, and writes nothing to its data
// directory: neither the one its options name nor the Env's (no CA files,
// and no local token file, which only local mode creates).
func TestModuleKeepsCARootInSecret(t *testing.T) {
	e := kubetest.Need(t, env)
	t.Parallel()
	kubeconfig := e.Kubeconfig(t)
	tests := []struct {
		name string
		// opts gets the directory the test watches, which must stay absent.
		opts func(dir string) ca.Options
		env  func(ns, dir string) component.Env
	}{
		{
			name: "ca.Options.DataDir",
			opts: func(dir string) ca.Options { return ca.Options{DataDir: filepath.Join(dir, "ca")} },
			env:  func(ns, _ string) component.Env { return component.Env{Namespace: ns} },
		},
		{
			name: "Env.DataDir",
			opts: func(string) ca.Options { return ca.Options{} },
			env:  func(ns, dir string) component.Env { return component.Env{Namespace: ns, DataDir: dir} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns := e.Namespace(t, "castore-module")
			dir := filepath.Join(t.TempDir(), "data")
			var c *ca.CA
			app := fxtest.New(t,
				fx.NopLogger,
				ca.Module(tt.opts(dir)),
				kube.Module(kube.Options{Kubeconfig: kubeconfig}),
				component.SupplyEnv(tt.env(ns, dir)),
				fx.Supply(zap.NewNop()),
				fx.Populate(&c),
			)
			app.RequireStart()
			app.RequireStop()

			secret := getSecret(t, e.Client, ns, kube.CASecretName)
			assert.Equal(t, string(secret.Data[ca.RootCertFile]), string(c.RootPEM()))
			_, err := os.Stat(dir)
			assert.Truef(t, errors.Is(err, os.ErrNotExist), "the data dir must stay untouched, stat: %v", err)
		})
	}
}

// Transient API errors are retried and logged; an answer such as Forbidden
// is not retried; a create whose answer is lost, retried, finds its own
// Secret; a store that never reaches the API server gives up within
// kube.connectTimeout, naming the Secret. The errors are injected at the
// HTTP layer of a client of the real API server.
func TestSecretStoreRetries(t *testing.T) {
	t.Parallel()
	secrets := func(ns string) string { return "/namespaces/" + ns + "/secrets" }
	t.Run("transient errors", func(t *testing.T) {
		e := kubetest.Need(t, env)
		t.Parallel()
		ns := e.Namespace(t, "castore-retries")
		client := faultyAPI(t, e.Config,
			fault{method: http.MethodGet, path: secrets(ns) + "/", times: 2, status: apierrors.NewServiceUnavailable("etcd is restarting")},
			fault{method: http.MethodPost, path: secrets(ns), times: 1, status: apierrors.NewTooManyRequests("slow down", 0)})
		store, logs := newCAStore(t, client, ns)
		st, err := store.LoadOrCreate(context.Background(), (&countingGenerator{t: t}).generate)
		require.NoError(t, err)
		assert.True(t, st.Created)
		retries := logs.FilterMessage("retrying a Kubernetes API call for the CA").All()
		require.Len(t, retries, 3)
		assert.Equal(t, "Secret "+ns+"/cacerts", retries[0].ContextMap()["secret"])
		assert.Equal(t, "create", retries[2].ContextMap()["verb"])
		assert.Equal(t, string(st.RootPEM), string(getSecret(t, e.Client, ns, kube.CASecretName).Data[ca.RootCertFile]))
	})
	t.Run("forbidden", func(t *testing.T) {
		e := kubetest.Need(t, env)
		t.Parallel()
		ns := e.Namespace(t, "castore-forbidden")
		forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "cacerts", errors.New("RBAC"))
		client := faultyAPI(t, e.Config, fault{method: http.MethodGet, path: secrets(ns) + "/", status: forbidden})
		store, logs := newCAStore(t, client, ns)
		_, err := store.LoadOrCreate(context.Background(), (&countingGenerator{t: t}).generate)
		require.Error(t, err)
		assert.True(t, apierrors.IsForbidden(err), "wraps the API error: %v", err)
		assert.Contains(t, err.Error(), "Secret "+ns+"/cacerts")
		assert.Zero(t, logs.FilterMessage("retrying a Kubernetes API call for the CA").Len())
	})
	t.Run("a create whose answer is lost", func(t *testing.T) {
		e := kubetest.Need(t, env)
		t.Parallel()
		ns := e.Namespace(t, "castore-lost")
		client := faultyAPI(t, e.Config,
			fault{method: http.MethodPost, path: secrets(ns), times: 1, lost: true, err: errors.New("test: the connection dropped")})
		store, logs := newCAStore(t, client, ns)
		gen := &countingGenerator{t: t}
		st, err := store.LoadOrCreate(context.Background(), gen.generate)
		require.NoError(t, err)
		assert.True(t, st.Created, "the retry's AlreadyExists is our own Secret")
		assert.Equal(t, 1, gen.calls())
		retries := logs.FilterMessage("retrying a Kubernetes API call for the CA").All()
		require.Len(t, retries, 1)
		assert.Equal(t, "create", retries[0].ContextMap()["verb"])
		assert.Equal(t, string(st.RootPEM), string(getSecret(t, e.Client, ns, kube.CASecretName).Data[ca.RootCertFile]))
	})
	t.Run("API server unreachable", func(t *testing.T) {
		t.Parallel()
		client := newClient(t, &rest.Config{Host: "https://" + testutil.FreeAddr(t), TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
		core, logs := observer.New(zapcore.DebugLevel)
		store := kube.NewSecretStore(client, "istio-system", kube.Options{ConnectTimeout: component.Duration(time.Second)}, zap.New(core))
		begin := time.Now()
		_, err := store.LoadOrCreate(context.Background(), (&countingGenerator{t: t}).generate)
		require.Error(t, err)
		assert.Less(t, time.Since(begin), 5*time.Second, "bounded by kube.connectTimeout")
		for _, want := range []string{"Secret istio-system/cacerts", "the connect timeout", "connection refused"} {
			assert.Contains(t, err.Error(), want)
		}
		assert.GreaterOrEqual(t, logs.FilterMessage("retrying a Kubernetes API call for the CA").Len(), 3)
	})
}

// newCAStore is a SecretStore for ns whose logs the test can read.
func newCAStore(t *testing.T, client *kubeapi.Client, ns string) (*kube.SecretStore, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	return kube.NewSecretStore(client, ns, kube.Options{ConnectTimeout: component.Duration(10 * time.Second)}, zap.New(core)), logs
}

// newClient is a client of its own, as each replica has.
func newClient(t *testing.T, cfg *rest.Config) *kubeapi.Client {
	t.Helper()
	client, err := kubeapi.New(cfg)
	require.NoError(t, err)
	return client
}

func getSecret(t *testing.T, client kubernetes.Interface, ns, name string) *corev1.Secret {
	t.Helper()
	s, err := client.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return s
}

func createSecret(t *testing.T, client kubernetes.Interface, ns, name string, typ corev1.SecretType, data map[string][]byte) {
	t.Helper()
	_, err := client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Type: typ, Data: data,
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func keysOf(data map[string][]byte) []string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	return keys
}

// assertNoKeyLogged checks that no log entry carries key material.
func assertNoKeyLogged(t *testing.T, logs *observer.ObservedLogs, keyPEM []byte) {
	t.Helper()
	require.NotZero(t, logs.Len(), "the store logs what it does")
	for _, entry := range logs.All() {
		text := entry.Message
		for k, v := range entry.ContextMap() {
			text += " " + k + "=" + strings.TrimSpace(toString(v))
		}
		assert.NotContains(t, text, "PRIVATE KEY")
		assert.NotContains(t, text, strings.TrimSpace(string(keyPEM)))
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}

// countingGenerator makes self-signed roots and counts how many.
type countingGenerator struct {
	t *testing.T
	n atomic.Int32
}

func (g *countingGenerator) generate() (*ca.Stored, error) {
	g.n.Add(1)
	r := newTestRoot(g.t, "Generated Root")
	return &ca.Stored{CertPEM: r.certPEM, KeyPEM: r.keyPEM, RootPEM: r.certPEM}, nil
}

func (g *countingGenerator) calls() int { return int(g.n.Load()) }

// raceReplica is one replica's store, recording what it got and whether
// it generated a root; with generating set, it holds the generation until
// every replica has reached it.
type raceReplica struct {
	store      ca.Store
	generating *raceBarrier
	generated  atomic.Bool
	stored     *ca.Stored
}

func (r *raceReplica) LoadOrCreate(ctx context.Context, generate func() (*ca.Stored, error)) (*ca.Stored, error) {
	st, err := r.store.LoadOrCreate(ctx, func() (*ca.Stored, error) {
		r.generated.Store(true)
		if r.generating != nil && !r.generating.await(30*time.Second) {
			return nil, errors.New("test: not every replica reached generate")
		}
		return generate()
	})
	r.stored = st
	return st, err
}

// raceBarrier releases its n waiters together.
type raceBarrier struct {
	wg   sync.WaitGroup
	open chan struct{}
}

func newRaceBarrier(n int) *raceBarrier {
	b := &raceBarrier{open: make(chan struct{})}
	b.wg.Add(n)
	go func() { b.wg.Wait(); close(b.open) }()
	return b
}

// await arrives and waits for the others, for at most timeout.
func (b *raceBarrier) await(timeout time.Duration) bool {
	b.wg.Done()
	select {
	case <-b.open:
		return true
	case <-time.After(timeout):
		return false
	}
}

// testRoot is a CA certificate and its key, in PEM.
type testRoot struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
}

// newTestRoot makes a self-signed root CA.
func newTestRoot(t *testing.T, cn string) *testRoot {
	t.Helper()
	return issueTestCA(t, cn, nil)
}

// issueCA makes an intermediate CA signed by r.
func (r *testRoot) issueCA(t *testing.T, cn string) *testRoot {
	t.Helper()
	return issueTestCA(t, cn, r)
}

func issueTestCA(t *testing.T, cn string, parent *testRoot) *testRoot {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	require.NoError(t, err)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"bootgraph test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	signer, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, key.Public(), signerKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	keyPEM, err := pemutil.EncodeKey(key)
	require.NoError(t, err)
	return &testRoot{cert: cert, key: key, certPEM: pemutil.EncodeCert(der), keyPEM: keyPEM}
}

func concatPEM(blocks ...[]byte) []byte {
	var out []byte
	for _, b := range blocks {
		out = append(out, b...)
	}
	return out
}
