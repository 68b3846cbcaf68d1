package bootgraph_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/config"
	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube"
)

// Three replicas on the real API server and one re-key, started with
// `bootgraph ca rotate`'s call against istio-ca-secret: every replica
// adopts it, they race to take each step (the Secret's resourceVersion
// lets one win; the others adopt its write), and they end with one bundle,
// the Secret's, after exactly three stored changes; every namespace's
// istio-ca-root-cert holds both roots during the overlap and the same
// single root at the end.
func TestKubeReplicasRotateToOneBundle(t *testing.T) {
	e := kubetest.Need(t, kenv)
	ns := e.Namespace(t, "rotation")
	extra := []string{e.Namespace(t, "rotation-app"), e.Namespace(t, "rotation-app")}
	const replicas = 3
	cas := make([]*ca.CA, replicas)
	planes := make([]*bootgraph.Plane, replicas)
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		cfg := kubeConfig(t, e, ns)
		cfg.Logger = zaptest.NewLogger(t).Named("replica" + string(rune('0'+i)))
		off := false
		o := config.Options[ca.Options](cfg, "ca")
		o.DefaultCertTTL, o.MaxCertTTL = component.Duration(3*time.Second), component.Duration(3*time.Second)
		o.ReloadInterval = component.Duration(500 * time.Millisecond)
		o.Rotation = ca.RotationOptions{Auto: &off, PropagationDelay: component.Duration(3 * time.Second)}
		wg.Go(func() {
			p, err := cfg.Build(fx.Populate(&cas[i]))
			if err == nil {
				err = p.Start(context.Background())
			}
			planes[i], errs[i] = p, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "replica %d", i)
		t.Cleanup(func() { assert.NoError(t, planes[i].Stop(context.Background())) })
	}
	r1 := string(cas[0].RootPEM())

	store := kube.NewSecretStore(e.API(t), ns, kube.Options{}, nil)
	opts := ca.Options{Rotation: ca.RotationOptions{PropagationDelay: component.Duration(3 * time.Second)},
		DefaultCertTTL: component.Duration(3 * time.Second), MaxCertTTL: component.Duration(3 * time.Second)}
	started, err := ca.RotateStored(context.Background(), opts, store, ca.RotateRekey)
	require.NoError(t, err)
	require.Len(t, started.Roots, 2)

	// The overlap reaches every replica and every namespace.
	for i, c := range cas {
		st := waitCAStatus(t, c, func(st ca.Status) bool { return st.Rotation.Generation >= 1 })
		assert.Equal(t, rootFingerprints(started.Roots), rootFingerprints(st.Roots), "replica %d", i)
	}
	both := string(cas[0].RootPEM())
	assert.NotEqual(t, r1, both)
	// (the switch may already have happened: then the roots are in the other order)
	waitConfigMaps(t, e, append(extra, ns), func(root string) bool { return len(root) > len(r1) })

	// The end: one bundle everywhere, from three stored changes.
	for _, c := range cas {
		waitCAStatus(t, c, func(st ca.Status) bool { return st.Rotation.Generation == 3 && st.Rotation.Phase == ca.PhaseIdle })
	}
	secret, err := e.Client.CoreV1().Secrets(ns).Get(context.Background(), kube.CASecretName, metav1.GetOptions{})
	require.NoError(t, err)
	final := string(secret.Data[ca.RootCertFile])
	for i, c := range cas {
		assert.Equal(t, final, string(c.RootPEM()), "replica %d", i)
		assert.Equal(t, int64(3), c.Status().Rotation.Generation)
	}
	assert.Contains(t, string(secret.Data[ca.RotationFile]), `"generation": 3`, "one rotation: three stored changes, no more")
	assert.NotContains(t, final, r1, "the old root has left")
	waitConfigMaps(t, e, allActiveNamespaces(t, e), func(root string) bool { return root == final })
}

func rootFingerprints(roots []ca.RootInfo) []string {
	var out []string
	for _, r := range roots {
		out = append(out, r.Fingerprint)
	}
	return out
}

// allActiveNamespaces lists the namespaces that can hold a ConfigMap.
func allActiveNamespaces(t *testing.T, e *kubetest.Env) []string {
	t.Helper()
	list, err := e.Client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var out []string
	for _, n := range list.Items {
		if n.Status.Phase == corev1.NamespaceActive && n.DeletionTimestamp == nil {
			out = append(out, n.Name)
		}
	}
	return out
}

// waitConfigMaps waits until istio-ca-root-cert in each namespace holds a
// root for which ok is true, watching the ConfigMaps' changes.
func waitConfigMaps(t *testing.T, e *kubetest.Env, namespaces []string, ok func(root string) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rekeyBound)
	defer cancel()
	pending := map[string]bool{}
	for _, n := range namespaces {
		pending[n] = true
	}
	check := func(cm *corev1.ConfigMap) {
		if pending[cm.Namespace] && ok(cm.Data[kube.RootCertKey]) {
			delete(pending, cm.Namespace)
		}
	}
	list, err := e.Client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + kube.RootCertConfigMap})
	require.NoError(t, err)
	for i := range list.Items {
		check(&list.Items[i])
	}
	if len(pending) == 0 {
		return
	}
	w, err := e.Client.CoreV1().ConfigMaps("").Watch(ctx, metav1.ListOptions{
		FieldSelector: "metadata.name=" + kube.RootCertConfigMap, ResourceVersion: list.ResourceVersion})
	require.NoError(t, err)
	defer w.Stop()
	for len(pending) > 0 {
		select {
		case ev, open := <-w.ResultChan():
			require.True(t, open, "the watch ended with %d namespaces pending", len(pending))
			if cm, isCM := ev.Object.(*corev1.ConfigMap); isCM {
				check(cm)
			}
		case <-ctx.Done():
			t.Fatalf("ConfigMaps of %d namespaces never got the roots: %v", len(pending), keysOf(pending))
		}
	}
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
