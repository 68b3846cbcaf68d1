package kube_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube"
)

// The root tests are not parallel: every distributor writes the ConfigMap
// in every namespace, so two with different roots would fight.

const (
	rootWait = 30 * time.Second
	rootTick = 50 * time.Millisecond
)

// swappableRoot is a RootSource whose root a test can change.
type swappableRoot struct{ pem atomic.Pointer[[]byte] }

func newSwappableRoot(pem []byte) *swappableRoot {
	r := &swappableRoot{}
	r.set(pem)
	return r
}

func (r *swappableRoot) set(pem []byte)  { r.pem.Store(&pem) }
func (r *swappableRoot) RootPEM() []byte { return *r.pem.Load() }

func rootTestCA(t *testing.T) *ca.CA {
	t.Helper()
	c, err := ca.New(ca.Options{DataDir: t.TempDir()}, nil, nil)
	require.NoError(t, err)
	return c
}

// distributor is a RootDistributor running in the background with short
// election timing.
type distributor struct {
	*kube.RootDistributor
	cancel context.CancelFunc
	done   chan struct{}
}

func startDistributor(t *testing.T, client kubernetes.Interface, roots kube.RootSource, leaseNS, identity string) *distributor {
	t.Helper()
	d := &distributor{done: make(chan struct{})}
	d.RootDistributor = kube.NewRootDistributor(client, roots, kube.RootDistributorOptions{
		LeaseNamespace: leaseNS, Identity: identity,
		LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond,
		RootCheckInterval: 100 * time.Millisecond,
	}, zaptest.NewLogger(t).Named(identity))
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() {
		defer close(d.done)
		d.Run(ctx)
	}()
	t.Cleanup(func() { d.stop(t) })
	return d
}

// stop cancels the distributor and requires it to return promptly.
func (d *distributor) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	select {
	case <-d.done:
	case <-time.After(rootWait):
		t.Fatalf("distributor %s did not stop", d.Identity())
	}
}

// requireRoot waits until namespace ns holds root in its ConfigMap.
func requireRoot(t *testing.T, client kubernetes.Interface, ns string, root []byte) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		cm, err := client.CoreV1().ConfigMaps(ns).Get(context.Background(), kube.RootCertConfigMap, metav1.GetOptions{})
		if !assert.NoError(c, err) {
			return
		}
		assert.Equal(c, string(root), cm.Data[kube.RootCertKey])
		assert.Equal(c, "true", cm.Labels[kube.RootCertLabel])
	}, rootWait, rootTick, "ConfigMap %s/%s holds the root", ns, kube.RootCertConfigMap)
}

// leaseHolder returns the Lease's holder, "" when released or absent.
func leaseHolder(t *testing.T, client kubernetes.Interface, ns string) string {
	t.Helper()
	l, err := client.CoordinationV1().Leases(ns).Get(context.Background(), kube.DefaultRootDistributionLease, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ""
	}
	require.NoError(t, err)
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// The root reaches every namespace, old and new, and stays there: edits
// are reverted, deletions recreated, a new root replaces the old.
func TestRootDistribution(t *testing.T) {
	e := kubetest.Need(t, env)
	client := e.Client
	ctx := context.Background()
	leaseNS := e.Namespace(t, "rootcert-lease")
	existing := e.Namespace(t, "rootcert-existing")
	authority := rootTestCA(t)
	roots := newSwappableRoot(authority.RootPEM())
	startDistributor(t, client, roots, leaseNS, "only")

	for _, ns := range []string{existing, leaseNS, "default", "kube-system"} {
		requireRoot(t, client, ns, authority.RootPEM())
	}

	t.Run("a namespace created afterwards", func(t *testing.T) {
		requireRoot(t, client, e.Namespace(t, "rootcert-new"), authority.RootPEM())
	})

	t.Run("an edit is reverted", func(t *testing.T) {
		cm, err := client.CoreV1().ConfigMaps(existing).Get(ctx, kube.RootCertConfigMap, metav1.GetOptions{})
		require.NoError(t, err)
		cm.Data[kube.RootCertKey] = "tampered"
		delete(cm.Labels, kube.RootCertLabel)
		cm.Data["extra"] = "kept"
		tampered, err := client.CoreV1().ConfigMaps(existing).Update(ctx, cm, metav1.UpdateOptions{})
		require.NoError(t, err)
		requireRoot(t, client, existing, authority.RootPEM())
		cm, err = client.CoreV1().ConfigMaps(existing).Get(ctx, kube.RootCertConfigMap, metav1.GetOptions{})
		require.NoError(t, err)
		assert.NotEqual(t, tampered.ResourceVersion, cm.ResourceVersion, "rewritten after the edit")
		assert.Equal(t, "kept", cm.Data["extra"], "other keys are left alone")
	})

	t.Run("a deletion is recreated", func(t *testing.T) {
		old, err := client.CoreV1().ConfigMaps(existing).Get(ctx, kube.RootCertConfigMap, metav1.GetOptions{})
		require.NoError(t, err)
		require.NoError(t, client.CoreV1().ConfigMaps(existing).Delete(ctx, kube.RootCertConfigMap, metav1.DeleteOptions{}))
		requireRoot(t, client, existing, authority.RootPEM())
		cm, err := client.CoreV1().ConfigMaps(existing).Get(ctx, kube.RootCertConfigMap, metav1.GetOptions{})
		require.NoError(t, err)
		assert.NotEqual(t, old.UID, cm.UID, "a new ConfigMap")
	})

	t.Run("a new root replaces the old everywhere", func(t *testing.T) {
		next := rootTestCA(t).RootPEM()
		roots.set(next)
		for _, ns := range []string{existing, leaseNS, "default"} {
			requireRoot(t, client, ns, next)
		}
	})
}

// Two replicas at once: one holds the Lease and writes, the other waits
// and takes over when the first stops; the last one releases the Lease.
func TestRootDistributionOneLeader(t *testing.T) {
	e := kubetest.Need(t, env)
	client := e.Client
	leaseNS := e.Namespace(t, "rootcert-election")
	authority := rootTestCA(t)
	a := startDistributor(t, client, authority, leaseNS, "replica-a")
	b := startDistributor(t, client, authority, leaseNS, "replica-b")
	byName := map[string]*distributor{a.Identity(): a, b.Identity(): b}

	var leader string
	require.Eventually(t, func() bool {
		leader = leaseHolder(t, client, leaseNS)
		return byName[leader] != nil && byName[leader].IsLeader()
	}, rootWait, rootTick, "one replica takes the Lease")
	follower := a.Identity()
	if leader == follower {
		follower = b.Identity()
	}
	for range 20 { // over several retry periods, the roles hold
		assert.Equal(t, leader, leaseHolder(t, client, leaseNS))
		assert.True(t, byName[leader].IsLeader())
		assert.False(t, byName[follower].IsLeader(), "two leaders at once")
		time.Sleep(rootTick)
	}
	requireRoot(t, client, leaseNS, authority.RootPEM())

	byName[leader].stop(t)
	assert.False(t, byName[leader].IsLeader())
	require.Eventually(t, func() bool {
		return leaseHolder(t, client, leaseNS) == follower && byName[follower].IsLeader()
	}, rootWait, rootTick, "the other replica takes over")

	byName[follower].stop(t)
	assert.False(t, byName[follower].IsLeader())
	assert.Empty(t, leaseHolder(t, client, leaseNS), "a stopped replica releases the Lease")
}

// In the composed module the distributor runs with the CA of the graph and
// elects in kube.Options.Namespace; without a CA it does nothing.
func TestRootDistributionModule(t *testing.T) {
	e := kubetest.Need(t, env)
	leaseNS := e.Namespace(t, "rootcert-module")
	kubeconfig := e.Kubeconfig(t)
	log := zap.NewNop()

	t.Run("with a CA", func(t *testing.T) {
		var authority *ca.CA
		app := fxtest.New(t,
			fx.Supply(log),
			kube.Module(kube.Options{Kubeconfig: kubeconfig, Namespace: leaseNS}),
			ca.Module(ca.Options{DataDir: t.TempDir()}),
			fx.Populate(&authority),
		)
		app.RequireStart()
		requireRoot(t, e.Client, leaseNS, authority.RootPEM())
		assert.NotEmpty(t, leaseHolder(t, e.Client, leaseNS))
		app.RequireStop()
		assert.Empty(t, leaseHolder(t, e.Client, leaseNS), "stopping the plane releases the Lease")
	})

	t.Run("without a CA it names the missing part", func(t *testing.T) {
		err := fx.ValidateApp(fx.Supply(log), kube.Module(kube.Options{Kubeconfig: kubeconfig, Namespace: leaseNS}))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "missing type: *ca.CA")
	})

	t.Run("turned off", func(t *testing.T) {
		quiet := e.Namespace(t, "rootcert-noca")
		off := false
		app := fxtest.New(t,
			fx.Supply(log),
			kube.Module(kube.Options{Kubeconfig: kubeconfig, Namespace: quiet, DistributeRoot: &off}),
		)
		app.RequireStart()
		time.Sleep(time.Second)
		_, err := e.Client.CoreV1().ConfigMaps(quiet).Get(context.Background(), kube.RootCertConfigMap, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "no ConfigMap when turned off: %v", err)
		_, err = e.Client.CoordinationV1().Leases(quiet).Get(context.Background(), kube.DefaultRootDistributionLease, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "no election when turned off: %v", err)
		app.RequireStop()
	})
}
