package kube_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
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

// distributor is a RootDistributor running in the background.
type distributor struct {
	*kube.RootDistributor
	cancel context.CancelFunc
	done   chan struct{}
}

// startDistributor starts a distributor with short election timing.
func startDistributor(t *testing.T, client *kubeapi.Client, roots kube.RootSource, leaseNS, identity string) *distributor {
	t.Helper()
	return startDistributorWith(t, client, roots, kube.RootDistributorOptions{
		LeaseNamespace: leaseNS, Identity: identity,
		LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond,
	})
}

// startDistributorWith starts a distributor with opts.
func startDistributorWith(t *testing.T, client *kubeapi.Client, roots kube.RootSource, opts kube.RootDistributorOptions) *distributor {
	t.Helper()
	if opts.RootCheckInterval == 0 {
		opts.RootCheckInterval = 100 * time.Millisecond
	}
	d := &distributor{done: make(chan struct{})}
	d.RootDistributor = kube.NewRootDistributor(client, roots, opts, zaptest.NewLogger(t).Named(opts.Identity))
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
	authority := testutil.NewCA(t)
	roots := newSwappableRoot(authority.RootPEM())
	startDistributor(t, e.API(t), roots, leaseNS, "only")

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
		next := testutil.NewCA(t).RootPEM()
		roots.set(next)
		for _, ns := range []string{existing, leaseNS, "default"} {
			requireRoot(t, client, ns, next)
		}
	})
}

// Two replicas at once: one holds the Lease and writes, the other waits
// and takes over when the first stops; the last one releases the Lease. A
// stopping leader releases the Lease before Run returns, so that the other
// takes over at its next retry: the Lease's duration, a minute, is longer
// than the test waits for the takeover.
func TestRootDistributionOneLeader(t *testing.T) {
	e := kubetest.Need(t, env)
	client := e.Client
	leaseNS := e.Namespace(t, "rootcert-election")
	authority := testutil.NewCA(t)
	start := func(identity string) *distributor {
		return startDistributorWith(t, e.API(t), authority, kube.RootDistributorOptions{
			LeaseNamespace: leaseNS, Identity: identity,
			LeaseDuration: time.Minute, RenewDeadline: 10 * time.Second, RetryPeriod: 200 * time.Millisecond,
		})
	}
	a, b := start("replica-a"), start("replica-b")
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
	assert.Contains(t, []string{"", follower}, leaseHolder(t, client, leaseNS), "the stopped leader released the Lease")
	require.Eventually(t, func() bool {
		return leaseHolder(t, client, leaseNS) == follower && byName[follower].IsLeader()
	}, rootWait, rootTick, "the other replica takes over")

	byName[follower].stop(t)
	assert.False(t, byName[follower].IsLeader())
	assert.Empty(t, leaseHolder(t, client, leaseNS), "a stopped replica releases the Lease")
}

// A leader whose Lease another holder takes stops distributing when it
// cannot renew for RenewDeadline, leaves the other's Lease alone, and
// campaigns again: when the Lease is free, it leads again, in a new term
// that reconciles what changed meanwhile.
func TestRootDistributionLostLease(t *testing.T) {
	e := kubetest.Need(t, env)
	client := e.Client
	ctx := context.Background()
	leaseNS := e.Namespace(t, "rootcert-lost")
	authority := testutil.NewCA(t)
	d := startDistributor(t, e.API(t), authority, leaseNS, "replica")
	require.Eventually(t, d.IsLeader, rootWait, rootTick, "the replica takes the Lease")
	requireRoot(t, client, leaseNS, authority.RootPEM())

	// An intruder takes the Lease for an hour.
	setHolder(t, client, leaseNS, "intruder", 3600)
	require.Eventually(t, func() bool { return !d.IsLeader() }, rootWait, rootTick, "the replica stops leading")
	assert.Equal(t, "intruder", leaseHolder(t, client, leaseNS), "the loser leaves the holder's Lease alone")

	// While nobody writes, the ConfigMap is edited; the intruder releases
	// the Lease.
	cm, err := client.CoreV1().ConfigMaps(leaseNS).Get(ctx, kube.RootCertConfigMap, metav1.GetOptions{})
	require.NoError(t, err)
	cm.Data[kube.RootCertKey] = "tampered"
	_, err = client.CoreV1().ConfigMaps(leaseNS).Update(ctx, cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	setHolder(t, client, leaseNS, "", 1)

	require.Eventually(t, func() bool {
		return d.IsLeader() && leaseHolder(t, client, leaseNS) == d.Identity()
	}, rootWait, rootTick, "the replica campaigns again and leads")
	requireRoot(t, client, leaseNS, authority.RootPEM())
}

// setHolder writes the root-distribution Lease of ns as held by holder
// for seconds, as another replica would.
func setHolder(t *testing.T, client kubernetes.Interface, ns, holder string, seconds int32) {
	t.Helper()
	leases := client.CoordinationV1().Leases(ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		l, err := leases.Get(context.Background(), kube.DefaultRootDistributionLease, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.NowMicro()
		l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds = &holder, &seconds
		l.Spec.AcquireTime, l.Spec.RenewTime = &now, &now
		_, err = leases.Update(context.Background(), l, metav1.UpdateOptions{})
		return err
	})
	require.NoError(t, err)
}

// In the composed module the distributor runs with the CA of the graph and
// elects in the Env's namespace. DistributeRoot nil turns it on only when
// the plane has a CA; true without the ca part is a composition error
// naming it; false turns it off.
func TestRootDistributionModule(t *testing.T) {
	e := kubetest.Need(t, env)
	leaseNS := e.Namespace(t, "rootcert-module")
	kubeconfig := e.Kubeconfig(t)
	log := zap.NewNop()

	t.Run("with a CA", func(t *testing.T) {
		var authority *ca.CA
		plane, err := bootgraph.New(bootgraph.Options{Logger: log},
			kube.Module(kube.Options{Kubeconfig: kubeconfig}),
			component.SupplyEnv(component.Env{Namespace: leaseNS}),
			ca.Module(ca.Options{DataDir: t.TempDir()}),
			fx.Populate(&authority),
		)
		require.NoError(t, err)
		assert.Len(t, rootDistributionHooks(plane), 1, "the distributor's hook is appended")
		require.NoError(t, plane.Start(t.Context()))
		requireRoot(t, e.Client, leaseNS, authority.RootPEM())
		assert.NotEmpty(t, leaseHolder(t, e.Client, leaseNS))
		require.NoError(t, plane.Stop(context.Background()))
		assert.Empty(t, leaseHolder(t, e.Client, leaseNS), "stopping the plane releases the Lease")
	})

	t.Run("by default without a CA there is nothing to distribute", func(t *testing.T) {
		quiet := e.Namespace(t, "rootcert-noca")
		plane, err := bootgraph.New(bootgraph.Options{Logger: log},
			kube.Module(kube.Options{Kubeconfig: kubeconfig}),
			component.SupplyEnv(component.Env{Namespace: quiet}),
		)
		require.NoError(t, err, "the kube part builds without the ca part")
		assert.Empty(t, rootDistributionHooks(plane), "no root-distribution hook without a CA")
		requireQuiet(t, e.Client, plane, quiet)
	})

	t.Run("asked for without a CA it names the missing part", func(t *testing.T) {
		on := true
		parts := []fx.Option{
			kube.Module(kube.Options{Kubeconfig: kubeconfig, DistributeRoot: &on}),
			component.SupplyEnv(component.Env{Namespace: leaseNS}),
		}
		err := fx.ValidateApp(append(parts, fx.Supply(log))...)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "missing type: *ca.CA")

		_, err = bootgraph.New(bootgraph.Options{Logger: log}, parts...)
		var ce *bootgraph.CompositionError
		require.ErrorAs(t, err, &ce)
		assert.Contains(t, err.Error(), "composition is missing *ca.CA")
		assert.Contains(t, err.Error(), "ca.Module")
		assert.Contains(t, err.Error(), "kube.registerRootDistribution")
	})

	t.Run("turned off", func(t *testing.T) {
		quiet := e.Namespace(t, "rootcert-off")
		off := false
		plane, err := bootgraph.New(bootgraph.Options{Logger: log},
			kube.Module(kube.Options{Kubeconfig: kubeconfig, DistributeRoot: &off}),
			component.SupplyEnv(component.Env{Namespace: quiet}),
			ca.Module(ca.Options{DataDir: t.TempDir()}),
			fx.Invoke(func(*ca.CA) {}),
		)
		require.NoError(t, err)
		assert.Empty(t, rootDistributionHooks(plane), "no root-distribution hook when turned off, even with a CA")
		requireQuiet(t, e.Client, plane, quiet)
	})
}

// rootDistributionHooks are the plane's lifecycle hooks that the kube
// part's root distribution appended.
func rootDistributionHooks(plane *bootgraph.Plane) []bootgraph.HookRecord {
	var out []bootgraph.HookRecord
	for _, h := range plane.Hooks() {
		if strings.Contains(h.Name, "kube.registerRootDistribution") {
			out = append(out, h)
		}
	}
	return out
}

// requireQuiet runs the plane and checks that it wrote no root ConfigMap
// and took no Lease in ns.
func requireQuiet(t *testing.T, client kubernetes.Interface, plane *bootgraph.Plane, ns string) {
	t.Helper()
	require.NoError(t, plane.Start(t.Context()))
	require.NoError(t, plane.Stop(context.Background()))
	_, err := client.CoreV1().ConfigMaps(ns).Get(context.Background(), kube.RootCertConfigMap, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no ConfigMap: %v", err)
	_, err = client.CoordinationV1().Leases(ns).Get(context.Background(), kube.DefaultRootDistributionLease, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no election: %v", err)
}
