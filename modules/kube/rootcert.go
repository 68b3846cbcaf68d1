package kube

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
)

// Root distribution names, istiod's: the ConfigMap workloads mount to trust
// the mesh's root, its key and its label.
const (
	RootCertConfigMap = "istio-ca-root-cert"
	RootCertKey       = "root-cert.pem"
	RootCertLabel     = "istio.io/config"
	// DefaultRootDistributionLease is the Lease, in the control plane's
	// namespace, that elects the one replica writing the ConfigMaps.
	DefaultRootDistributionLease = "bootgraph-root-distribution"
)

// Defaults of RootDistributorOptions: client-go's usual leader-election
// timing, and a root check cheap enough to run often (it compares bytes in
// memory).
const (
	DefaultLeaseDuration     = 15 * time.Second
	DefaultRenewDeadline     = 10 * time.Second
	DefaultRetryPeriod       = 2 * time.Second
	DefaultRootCheckInterval = 5 * time.Second
)

// Retry bounds of a failed write, as istiod's controllers: exponential
// from 100ms to 1m.
const (
	retryBaseDelay = 100 * time.Millisecond
	retryMaxDelay  = time.Minute
)

// RootSource is what the distributor distributes; *ca.CA is one.
type RootSource interface {
	// RootPEM returns the current root bundle in PEM.
	RootPEM() []byte
}

// RootDistributorOptions configure a RootDistributor. Zero fields take
// their defaults.
type RootDistributorOptions struct {
	// LeaseNamespace holds the election's Lease: the control plane's
	// namespace, which must exist. Default "istio-system".
	LeaseNamespace string
	// LeaseName of the election. Default "bootgraph-root-distribution".
	LeaseName string
	// Identity of this replica in the Lease. Default "<hostname>_<random>".
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod time the election
	// (kubeapi.Election, with client-go's leaderelection semantics).
	// Defaults 15s, 10s, 2s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// RootCheckInterval is how often the root is compared with the one
	// last distributed, for a RootSource that is not a ChangeNotifier
	// (*ca.CA is one: its changes are waited on). Default 5s.
	RootCheckInterval time.Duration
}

func (o *RootDistributorOptions) setDefaults() {
	set := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	if o.LeaseNamespace == "" {
		o.LeaseNamespace = DefaultNamespace
	}
	if o.LeaseName == "" {
		o.LeaseName = DefaultRootDistributionLease
	}
	if o.Identity == "" {
		o.Identity = defaultIdentity()
	}
	set(&o.LeaseDuration, DefaultLeaseDuration)
	set(&o.RenewDeadline, DefaultRenewDeadline)
	set(&o.RetryPeriod, DefaultRetryPeriod)
	set(&o.RootCheckInterval, DefaultRootCheckInterval)
}

// defaultIdentity is unique per process, and names the host for people
// reading the Lease.
func defaultIdentity() string {
	host, err := os.Hostname()
	if err != nil {
		host = "bootgraph"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return host + "_" + hex.EncodeToString(b)
}

// RootDistributor keeps the ConfigMap istio-ca-root-cert, key
// root-cert.pem, labelled istio.io/config=true, equal to the root in every
// namespace, as istiod's namespace controller does: it writes when a
// namespace appears, when someone edits or deletes the ConfigMap, and when
// the root changes. Replicas elect one writer through a Lease; the others
// wait to take over.
type RootDistributor struct {
	client *kubeapi.Client
	roots  RootSource
	opts   RootDistributorOptions
	log    *zap.Logger
	leader atomic.Bool
}

// NewRootDistributor returns a distributor of roots' root; Run starts it.
func NewRootDistributor(client *kubeapi.Client, roots RootSource, opts RootDistributorOptions, log *zap.Logger) *RootDistributor {
	opts.setDefaults()
	return &RootDistributor{client: client, roots: roots, opts: opts, log: log}
}

// Identity is this replica's name in the Lease.
func (d *RootDistributor) Identity() string { return d.opts.Identity }

// IsLeader reports whether this replica is the one writing the ConfigMaps.
func (d *RootDistributor) IsLeader() bool { return d.leader.Load() }

// Run campaigns for the Lease and, while holding it, distributes the root.
// A lost Lease is campaigned for again. When ctx is done it stops writing,
// releases the Lease and returns.
func (d *RootDistributor) Run(ctx context.Context) {
	d.log.Info("root distribution campaigning for the lease",
		zap.String("lease", d.opts.LeaseNamespace+"/"+d.opts.LeaseName), zap.String("identity", d.opts.Identity))
	// One election for every term: what it observed of the Lease carries
	// over, so a replica that lost the Lease times its holder from when it
	// last saw the Lease change, not from its next campaign.
	election := &kubeapi.Election{
		Client:    d.client,
		Namespace: d.opts.LeaseNamespace, Name: d.opts.LeaseName,
		Identity:      d.opts.Identity,
		LeaseDuration: d.opts.LeaseDuration, RenewDeadline: d.opts.RenewDeadline, RetryPeriod: d.opts.RetryPeriod,
		Log: d.log,
	}
	for ctx.Err() == nil {
		// A term: wait for the Lease, distribute the root while holding
		// it (lead has returned when Lead does), and, when ctx is done,
		// release it.
		if err := election.Lead(ctx, d.lead); err != nil {
			d.log.Error("root distribution: leader election", zap.Error(err))
			return
		}
	}
}

// lead distributes the root until ctx (the term) is done.
func (d *RootDistributor) lead(ctx context.Context) {
	d.leader.Store(true)
	defer d.leader.Store(false)
	d.log.Info("root distribution: leading; writing " + RootCertConfigMap + " in every namespace")
	defer d.log.Info("root distribution: no longer leading")
	newDistribution(d).run(ctx)
}

// distribution is one term's machinery: informers on namespaces and on the
// root ConfigMaps, and a queue of namespaces to reconcile.
type distribution struct {
	*RootDistributor
	queue      workqueue.TypedRateLimitingInterface[string]
	nsInformer cache.SharedIndexInformer
	cmInformer cache.SharedIndexInformer
	namespaces corelisters.NamespaceLister
	configMaps corelisters.ConfigMapLister
}

func newDistribution(d *RootDistributor) *distribution {
	onlyRootConfigMap := func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", RootCertConfigMap).String()
	}
	x := &distribution{
		RootDistributor: d,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryBaseDelay, retryMaxDelay),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "root-distribution"}),
		nsInformer: kubeapi.NewInformer(d.client.Namespaces(), &corev1.Namespace{}, nil, nil),
		cmInformer: kubeapi.NewInformer(d.client.ConfigMaps(metav1.NamespaceAll), &corev1.ConfigMap{}, onlyRootConfigMap, nil),
	}
	x.namespaces = corelisters.NewNamespaceLister(x.nsInformer.GetIndexer())
	x.configMaps = corelisters.NewConfigMapLister(x.cmInformer.GetIndexer())
	return x
}

// run starts the informers, the root watch and a worker, and stops them all
// before it returns.
func (x *distribution) run(ctx context.Context) {
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    x.enqueueNamespaceOf,
		UpdateFunc: func(_, obj any) { x.enqueueNamespaceOf(obj) },
		DeleteFunc: x.enqueueNamespaceOf,
	}
	informers := []cache.SharedIndexInformer{x.nsInformer, x.cmInformer}
	for _, inf := range informers {
		if _, err := inf.AddEventHandler(handler); err != nil {
			x.log.Error("root distribution: informer handler", zap.Error(err))
			return
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer x.queue.ShutDown()
	for _, inf := range informers {
		wg.Go(func() { inf.RunWithContext(ctx) })
	}
	if !cache.WaitForCacheSync(ctx.Done(), x.nsInformer.HasSynced, x.cmInformer.HasSynced) {
		return
	}
	wg.Go(func() { x.watchRoot(ctx) })
	wg.Go(func() { x.work(ctx) })
	<-ctx.Done()
}

// enqueueNamespaceOf queues the namespace a Namespace or ConfigMap event is
// about; tombstones of deleted objects included.
func (x *distribution) enqueueNamespaceOf(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return
	}
	if ns == "" { // a Namespace: its name is the namespace
		ns = name
	}
	x.queue.Add(ns)
}

// ChangeNotifier is a RootSource that says when its roots change, as
// *ca.CA does (Changed): the distributor then waits on it instead of
// comparing the roots every RootCheckInterval.
type ChangeNotifier interface {
	// Changed returns a channel closed at the next change.
	Changed() <-chan struct{}
}

// watchRoot queues every namespace whenever the root changes.
func (x *distribution) watchRoot(ctx context.Context) {
	last := x.roots.RootPEM()
	var tick <-chan time.Time
	notifier, notifies := x.roots.(ChangeNotifier)
	if !notifies {
		t := time.NewTicker(x.opts.RootCheckInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		var changed <-chan struct{}
		if notifies {
			changed = notifier.Changed()
			// A change between the read of last and now is seen here.
		}
		if root := x.roots.RootPEM(); notifies && !bytes.Equal(root, last) {
			last = x.requeueAll(root)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-changed:
		}
		root := x.roots.RootPEM()
		if bytes.Equal(root, last) {
			continue
		}
		last = x.requeueAll(root)
	}
}

// requeueAll queues every namespace for root, and returns it.
func (x *distribution) requeueAll(root []byte) []byte {
	keys := x.nsInformer.GetStore().ListKeys()
	x.log.Info("root changed; distributing it to every namespace", zap.Int("namespaces", len(keys)))
	for _, key := range keys {
		x.queue.Add(key)
	}
	return root
}

// work reconciles queued namespaces until the queue shuts down, retrying a
// failed one with exponential backoff.
func (x *distribution) work(ctx context.Context) {
	for {
		ns, shutdown := x.queue.Get()
		if shutdown {
			return
		}
		if err := x.reconcile(ctx, ns); err != nil && ctx.Err() == nil {
			x.log.Warn("root distribution: retrying", zap.String("namespace", ns), zap.Error(err))
			x.queue.AddRateLimited(ns)
		} else {
			x.queue.Forget(ns)
		}
		x.queue.Done(ns)
	}
}

// reconcile makes namespace ns hold the current root in its ConfigMap.
func (x *distribution) reconcile(ctx context.Context, ns string) error {
	n, err := x.namespaces.Get(ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	if n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating {
		return nil // nothing can be created there any more
	}
	root := string(x.roots.RootPEM())
	cm, err := x.configMaps.ConfigMaps(ns).Get(RootCertConfigMap)
	switch {
	case apierrors.IsNotFound(err):
		return x.create(ctx, ns, root)
	case err != nil:
		return fmt.Errorf("ConfigMap %s/%s: %w", ns, RootCertConfigMap, err)
	case holdsRoot(cm, root):
		return nil
	default:
		return x.update(ctx, cm, root)
	}
}

// holdsRoot reports whether cm carries root under RootCertKey and the label.
func holdsRoot(cm *corev1.ConfigMap, root string) bool {
	return cm.Data[RootCertKey] == root && cm.Labels[RootCertLabel] == "true"
}

func (x *distribution) create(ctx context.Context, ns, root string) error {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: RootCertConfigMap, Namespace: ns, Labels: map[string]string{RootCertLabel: "true"}},
		Data:       map[string]string{RootCertKey: root},
	}
	_, err := x.client.ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create ConfigMap %s/%s: %w", ns, RootCertConfigMap, err)
	}
	x.log.Info("created root ConfigMap", zap.String("namespace", ns), zap.String("name", RootCertConfigMap))
	return nil
}

// update writes root into cm, keeping its other keys and labels. The
// resourceVersion it carries makes a concurrent edit a conflict, retried.
func (x *distribution) update(ctx context.Context, cm *corev1.ConfigMap, root string) error {
	cm = cm.DeepCopy()
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Data[RootCertKey] = root
	cm.Labels[RootCertLabel] = "true"
	if _, err := x.client.ConfigMaps(cm.Namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	x.log.Info("updated root ConfigMap", zap.String("namespace", cm.Namespace), zap.String("name", cm.Name))
	return nil
}

// rootDistribution keeps the istio-ca-root-cert ConfigMaps when the
// options ask for it: explicitly, which needs the ca part, or by default,
// when the plane has a CA.
func rootDistribution(opts Options) fx.Option {
	switch {
	case opts.DistributeRoot == nil:
		return fx.Invoke(registerRootDistributionIfCA)
	case *opts.DistributeRoot:
		return fx.Invoke(registerRootDistribution)
	}
	return fx.Options()
}

type rootDistributionParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Client    *kubeapi.Client
	Cluster   *component.Cluster
	Log       *zap.Logger
	// CA is the root's source: distributing the root needs the ca part.
	CA *ca.CA
	// Listeners order the distributor's hook after every listener's, like
	// the CA's Run: it starts last and stops first.
	Listeners component.ListenersIn
}

func registerRootDistribution(p rootDistributionParams) {
	log := p.Log.Named("kube.rootcert")
	d := NewRootDistributor(p.Client, p.CA, RootDistributorOptions{LeaseNamespace: p.Cluster.Namespace}, log)
	component.AppendRunner(p.Lifecycle, d.Run)
}

type optionalCAParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Client    *kubeapi.Client
	Cluster   *component.Cluster
	Log       *zap.Logger
	CA        *ca.CA `optional:"true"`
	Listeners component.ListenersIn
}

// registerRootDistributionIfCA distributes the root when the plane has a
// CA; without one there is no root to distribute, and no hook.
func registerRootDistributionIfCA(p optionalCAParams) {
	if p.CA == nil {
		return
	}
	registerRootDistribution(rootDistributionParams{Lifecycle: p.Lifecycle, Client: p.Client, Cluster: p.Cluster,
		Log: p.Log, CA: p.CA, Listeners: p.Listeners})
}
