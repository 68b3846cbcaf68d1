package webhook_test

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

const (
	patchWait = 30 * time.Second
	patchTick = 50 * time.Millisecond
	// denyMessage is what denyLabelled answers; seeing it in the API
	// server's error proves the API server called the webhook.
	denyMessage = "bootgraph test webhook: deny=true is not allowed"
)

// denyLabelled allows everything but objects labelled deny=true.
func denyLabelled(_ context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	var obj metav1.PartialObjectMetadata
	if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
		return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: err.Error(), Code: 400}}
	}
	if obj.Labels["deny"] == "true" {
		return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: denyMessage, Code: 403}}
	}
	return &admissionv1.AdmissionResponse{Allowed: true}
}

// kubeWebhook is a webhook server on a loopback port presenting a
// certificate from the istiod provider (loopback names included), with
// denyLabelled at /validate.
type kubeWebhook struct {
	bundle *servingcert.Bundle
	server *webhook.Server
}

func startKubeWebhook(t *testing.T) *kubeWebhook {
	t.Helper()
	var opts servingcert.Options
	opts.SetDefaults()
	provider, err := servingcert.NewIstiodProvider(testutil.NewCA(t), opts, opts.Names(component.DefaultNamespace, true), zap.NewNop())
	require.NoError(t, err)
	wopts := webhook.Options{Addr: "127.0.0.1:0"}
	wopts.SetDefaults()
	s, err := webhook.NewServer(wopts, provider.Bundle(), zaptest.NewLogger(t),
		[]webhook.Handler{{Path: "/validate", Handler: webhook.Admission(denyLabelled)}})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Stop(context.Background())) })
	return &kubeWebhook{bundle: provider.Bundle(), server: s}
}

func (w *kubeWebhook) url(t *testing.T, path string) string {
	_, port, err := net.SplitHostPort(w.server.Addr())
	require.NoError(t, err)
	return "https://127.0.0.1:" + port + path
}

// startPatcher runs a Patcher until the test ends.
func startPatcher(t *testing.T, client *kubeapi.Client, bundle *servingcert.Bundle, opts webhook.PatchOptions) {
	t.Helper()
	p, err := webhook.NewPatcher(client, bundle, opts, zaptest.NewLogger(t))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(patchWait):
			t.Error("the patcher did not stop")
		}
	})
}

// inNamespace selects objects of namespace ns.
func inNamespace(ns string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
}

var configMapCreates = []admissionregistrationv1.RuleWithOperations{{
	Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
	Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
}}

// createValidating creates a configuration whose one webhook sends the
// creation of ConfigMaps in ns to url, failing closed, with caBundle.
func createValidating(t *testing.T, client kubernetes.Interface, ns, url string, caBundle []byte) string {
	t.Helper()
	fail, none := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	cfg, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(context.Background(),
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "bootgraph-test-"},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name:                    "deny.bootgraph.test",
				ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle},
				Rules:                   configMapCreates,
				FailurePolicy:           &fail,
				SideEffects:             &none,
				AdmissionReviewVersions: []string{"v1"},
				NamespaceSelector:       inNamespace(ns),
			}},
		}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), cfg.Name, metav1.DeleteOptions{})
	})
	return cfg.Name
}

// createMutating creates a configuration with two webhooks that no object
// matches, labelled labels, with an empty caBundle.
func createMutating(t *testing.T, client kubernetes.Interface, ns, url string, labels map[string]string) string {
	t.Helper()
	ignore, none := admissionregistrationv1.Ignore, admissionregistrationv1.SideEffectClassNone
	hook := func(name string) admissionregistrationv1.MutatingWebhook {
		return admissionregistrationv1.MutatingWebhook{
			Name:                    name,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url},
			Rules:                   configMapCreates,
			FailurePolicy:           &ignore,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
			NamespaceSelector:       inNamespace(ns),
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{"bootgraph.test/never": "matches"}},
		}
	}
	cfg, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(context.Background(),
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "bootgraph-test-", Labels: labels},
			Webhooks:   []admissionregistrationv1.MutatingWebhook{hook("a.bootgraph.test"), hook("b.bootgraph.test")},
		}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), cfg.Name, metav1.DeleteOptions{})
	})
	return cfg.Name
}

func validatingBundles(t *testing.T, client kubernetes.Interface, name string) []string {
	t.Helper()
	cfg, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	var out []string
	for _, w := range cfg.Webhooks {
		out = append(out, string(w.ClientConfig.CABundle))
	}
	return out
}

func mutatingBundles(t *testing.T, client kubernetes.Interface, name string) []string {
	t.Helper()
	cfg, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	var out []string
	for _, w := range cfg.Webhooks {
		out = append(out, string(w.ClientConfig.CABundle))
	}
	return out
}

// requireBundles waits until get returns want for each of n webhooks.
func requireBundles(t *testing.T, get func() []string, n int, want []byte) {
	t.Helper()
	wants := make([]string, n)
	for i := range wants {
		wants[i] = string(want)
	}
	require.Eventually(t, func() bool { return assert.ObjectsAreEqual(wants, get()) },
		patchWait, patchTick, "every webhook's caBundle is the serving roots")
}

// createConfigMap creates a ConfigMap in ns, labelled deny=true if deny.
func createConfigMap(client kubernetes.Interface, ns string, deny bool) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"}}
	if deny {
		cm.Labels = map[string]string{"deny": "true"}
	}
	_, err := client.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{})
	return err
}

// requireDenied waits until the API server rejects a deny=true ConfigMap
// with the webhook's own message: it called the webhook over TLS and
// trusted its certificate through the caBundle. (Configuration changes
// reach the API server's admission chain asynchronously.)
func requireDenied(t *testing.T, client kubernetes.Interface, ns string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.ErrorContains(c, createConfigMap(client, ns, true), denyMessage)
	}, patchWait, 100*time.Millisecond, "the API server calls the webhook, which denies")
}

// The patcher gives an empty caBundle the serving roots, and the API server
// then calls the webhook over TLS: a deny=true ConfigMap is rejected with
// the handler's message, another is admitted. An overwritten caBundle is
// repaired; new roots are published.
func TestPatcherValidatingWebhook(t *testing.T) {
	e := kubetest.Need(t, kenv)
	client := e.Client
	ns := e.Namespace(t, "webhook-patch")
	w := startKubeWebhook(t)
	name := createValidating(t, client, ns, w.url(t, "/validate"), nil)
	get := func() []string { return validatingBundles(t, client, name) }

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.ErrorContains(c, createConfigMap(client, ns, true), "x509")
	}, patchWait, 100*time.Millisecond, "before the patch, the API server does not trust the webhook")

	startPatcher(t, e.API(t), w.bundle, webhook.PatchOptions{ValidatingWebhooks: []string{name}})
	requireBundles(t, get, 1, w.bundle.RootsPEM())
	requireDenied(t, client, ns)
	require.NoError(t, createConfigMap(client, ns, false), "a ConfigMap without deny=true is admitted")

	t.Run("an overwritten caBundle is repaired", func(t *testing.T) {
		cfg, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err)
		cfg.Webhooks[0].ClientConfig.CABundle = []byte("garbage")
		overwritten, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(context.Background(), cfg, metav1.UpdateOptions{})
		require.NoError(t, err)
		requireBundles(t, get, 1, w.bundle.RootsPEM())
		now, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(context.Background(), name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.NotEqual(t, overwritten.ResourceVersion, now.ResourceVersion, "rewritten after the overwrite")
		requireDenied(t, client, ns)
	})

	t.Run("new roots are published", func(t *testing.T) {
		roots := append(append([]byte{}, w.bundle.RootsPEM()...), testutil.NewCA(t).RootPEM()...)
		require.NoError(t, w.bundle.Set(w.bundle.CertChainPEM(), w.bundle.KeyPEM(), roots))
		requireBundles(t, get, 1, roots)
		requireDenied(t, client, ns)
	})
}

// A mutating configuration selected by label is patched, every webhook of
// it, including one created after the patcher started; an unselected one
// is left alone.
func TestPatcherMutatingByLabel(t *testing.T) {
	e := kubetest.Need(t, kenv)
	client := e.Client
	ns := e.Namespace(t, "webhook-patch-label")
	w := startKubeWebhook(t)
	startPatcher(t, e.API(t), w.bundle, webhook.PatchOptions{LabelSelector: "bootgraph.test/patch=" + ns})

	other := createMutating(t, client, ns, w.url(t, "/mutate"), map[string]string{"bootgraph.test/patch": "someone-else"})
	selected := createMutating(t, client, ns, w.url(t, "/mutate"), map[string]string{"bootgraph.test/patch": ns})
	requireBundles(t, func() []string { return mutatingBundles(t, client, selected) }, 2, w.bundle.RootsPEM())
	// The informer delivers events in order: other's came first.
	assert.Equal(t, []string{"", ""}, mutatingBundles(t, client, other), "an unselected configuration is left alone")
}

// In a composed plane the patcher runs by what the graph provides: with a
// *kubeapi.Client it patches, without one it does not and the plane
// starts all the same.
func TestModulePatchesInKubernetesMode(t *testing.T) {
	e := kubetest.Need(t, kenv)
	client := e.Client
	ns := e.Namespace(t, "webhook-patch-module")
	w := startKubeWebhook(t)
	compose := func(name string, extra ...fx.Option) *fxtest.App {
		return fxtest.New(t, append(extra,
			fx.Supply(zap.NewNop(), w.bundle),
			webhook.Module(webhook.Options{Addr: "127.0.0.1:0", Patch: webhook.PatchOptions{ValidatingWebhooks: []string{name}}}),
		)...)
	}

	t.Run("without a Kubernetes client it names the missing part", func(t *testing.T) {
		err := fx.ValidateApp(fx.Supply(zap.NewNop(), w.bundle),
			webhook.Module(webhook.Options{Addr: "127.0.0.1:0", Patch: webhook.PatchOptions{ValidatingWebhooks: []string{"x"}}}))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "missing type: *kubeapi.Client")
	})

	t.Run("with a Kubernetes client", func(t *testing.T) {
		name := createValidating(t, client, ns, w.url(t, "/validate"), nil)
		api := e.API(t)
		app := compose(name, fx.Provide(func() *kubeapi.Client { return api }))
		app.RequireStart()
		requireBundles(t, func() []string { return validatingBundles(t, client, name) }, 1, w.bundle.RootsPEM())
		app.RequireStop()
	})
}

func TestPatchOptionsValidate(t *testing.T) {
	opts := webhook.Options{Patch: webhook.PatchOptions{
		ValidatingWebhooks: []string{"ok", ""},
		LabelSelector:      "a in (",
	}}
	opts.SetDefaults()
	err := opts.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "patch.validatingWebhooks[1]: must not be empty")
	assert.Contains(t, err.Error(), `patch.labelSelector: "a in ("`)
	assert.NotContains(t, err.Error(), "webhook.", "errors are relative to the options")
	var fe *component.FieldError
	require.ErrorAs(t, err, &fe)

	_, err = webhook.NewPatcher(nil, servingcert.NewBundle(), webhook.PatchOptions{LabelSelector: "a in ("}, zap.NewNop())
	assert.ErrorContains(t, err, `patch.labelSelector: "a in ("`)

	assert.False(t, webhook.PatchOptions{}.Enabled(), "patching is off by default")
	assert.True(t, webhook.PatchOptions{LabelSelector: "istio.io/rev=default"}.Enabled())
}
