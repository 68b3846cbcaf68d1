package kube_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube"
)

// Save is conditional on the resourceVersion Load returned: the first of
// two writers from one version wins, the second gets ca.ErrConflict and
// nothing of it is stored. The rotation keys round-trip, and keys a state
// no longer has (the next root after a switch) are removed.
func TestSecretStoreSaveIsOptimistic(t *testing.T) {
	e := kubetest.Need(t, env)
	t.Parallel()
	ns := e.Namespace(t, "castore-save")
	ctx := context.Background()
	store := kube.NewSecretStore(e.API(t), ns, kube.Options{}, nil)
	none, err := store.Load(ctx)
	require.NoError(t, err)
	assert.Nil(t, none)
	created, err := store.LoadOrCreate(ctx, (&countingGenerator{t: t}).generate)
	require.NoError(t, err)

	loaded, err := store.Load(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, loaded.Version)
	first, second := *loaded, *loaded
	next := newTestRoot(t, "Next Root")
	first.Rotation, first.NextCertPEM, first.NextKeyPEM = []byte(`{"phase":"propagating"}`), next.certPEM, next.keyPEM
	saved, err := store.Save(ctx, &first)
	require.NoError(t, err)
	assert.NotEqual(t, loaded.Version, saved.Version)
	second.Rotation = []byte(`{"phase":"idle","generation":7}`)
	_, err = store.Save(ctx, &second)
	require.ErrorIs(t, err, ca.ErrConflict)
	assert.Contains(t, err.Error(), "Secret "+ns+"/istio-ca-secret")

	got, err := store.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, first.Rotation, got.Rotation, "the winner's write")
	assert.Equal(t, next.keyPEM, got.NextKeyPEM)
	assert.Equal(t, created.CertPEM, got.CertPEM)

	got.NextCertPEM, got.NextKeyPEM = nil, nil
	_, err = store.Save(ctx, got)
	require.NoError(t, err)
	secret, err := e.Client.CoreV1().Secrets(ns).Get(ctx, kube.CASecretName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, secret.Data, ca.NextKeyFile, "a key the state no longer has is removed")
	assert.Equal(t, kube.CASecretType, secret.Type)

	// The operator's cacerts, when present, is what LoadPlugged returns.
	p, err := store.LoadPlugged(ctx)
	require.NoError(t, err)
	assert.Nil(t, p)
	root := newTestRoot(t, "Operator Root")
	_, err = e.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: kube.PluggedCASecretName},
		Data:       map[string][]byte{ca.CACertFile: root.certPEM, ca.CAKeyFile: root.keyPEM, ca.CertChainFile: nil, ca.RootCertFile: root.certPEM},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	p, err = store.LoadPlugged(ctx)
	require.NoError(t, err)
	require.NotNil(t, p)
	assert.True(t, p.PluggedIn)
	assert.Equal(t, root.certPEM, p.CertPEM)
}
