package webhook

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// Retry bounds of a failed patch, istiod's: exponential from 100ms to 1m.
const (
	patchRetryBaseDelay = 100 * time.Millisecond
	patchRetryMaxDelay  = time.Minute
)

// Kinds of webhook configuration the Patcher keeps.
const (
	KindValidating = "ValidatingWebhookConfiguration"
	KindMutating   = "MutatingWebhookConfiguration"
)

// Patcher keeps the clientConfig.caBundle of every webhook in the selected
// ValidatingWebhookConfigurations and MutatingWebhookConfigurations equal
// to the roots that sign the webhook server's certificate (the bundle's
// RootsPEM), so that the API server trusts the server. It patches when a
// selected configuration appears or is overwritten, and when the roots
// change; a failed patch is retried with exponential backoff.
type Patcher struct {
	client   *kubeapi.Client
	bundle   *servingcert.Bundle
	selector labels.Selector // nil: select by name only
	kinds    map[string]*configKind
	log      *zap.Logger
	changed  chan struct{} // the roots may have changed
}

// configRef names one webhook configuration.
type configRef struct{ kind, name string }

// configKind is what the Patcher needs of one kind of configuration.
type configKind struct {
	names    map[string]bool
	informer cache.SharedIndexInformer
	// edit returns a copy of obj and its webhooks' client configs, to set.
	edit func(obj any) (metav1.Object, []*admissionregistrationv1.WebhookClientConfig)
	// update writes an edited copy.
	update func(ctx context.Context, obj metav1.Object) error
}

// NewPatcher returns a patcher of the configurations opts select, with the
// roots of bundle; Run starts it. It subscribes to bundle's changes.
func NewPatcher(client *kubeapi.Client, bundle *servingcert.Bundle, opts PatchOptions, log *zap.Logger) (*Patcher, error) {
	sel, err := opts.selector()
	if err != nil {
		return nil, err
	}
	p := &Patcher{client: client, bundle: bundle, selector: sel, log: log, kinds: map[string]*configKind{}, changed: make(chan struct{}, 1)}
	if len(opts.ValidatingWebhooks) > 0 || sel != nil {
		p.kinds[KindValidating] = validatingKind(client, opts.ValidatingWebhooks)
	}
	if len(opts.MutatingWebhooks) > 0 || sel != nil {
		p.kinds[KindMutating] = mutatingKind(client, opts.MutatingWebhooks)
	}
	bundle.Subscribe(func() {
		select {
		case p.changed <- struct{}{}:
		default: // a check is already pending
		}
	})
	return p, nil
}

func nameSet(names []string) map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
}

func validatingKind(client *kubeapi.Client, names []string) *configKind {
	api := client.ValidatingWebhookConfigurations()
	return &configKind{
		names:    nameSet(names),
		informer: kubeapi.NewInformer(api, &admissionregistrationv1.ValidatingWebhookConfiguration{}, nil, nil),
		edit: func(obj any) (metav1.Object, []*admissionregistrationv1.WebhookClientConfig) {
			c := obj.(*admissionregistrationv1.ValidatingWebhookConfiguration).DeepCopy()
			ccs := make([]*admissionregistrationv1.WebhookClientConfig, len(c.Webhooks))
			for i := range c.Webhooks {
				ccs[i] = &c.Webhooks[i].ClientConfig
			}
			return c, ccs
		},
		update: func(ctx context.Context, obj metav1.Object) error {
			_, err := api.Update(ctx, obj.(*admissionregistrationv1.ValidatingWebhookConfiguration), metav1.UpdateOptions{})
			return err
		},
	}
}

func mutatingKind(client *kubeapi.Client, names []string) *configKind {
	api := client.MutatingWebhookConfigurations()
	return &configKind{
		names:    nameSet(names),
		informer: kubeapi.NewInformer(api, &admissionregistrationv1.MutatingWebhookConfiguration{}, nil, nil),
		edit: func(obj any) (metav1.Object, []*admissionregistrationv1.WebhookClientConfig) {
			c := obj.(*admissionregistrationv1.MutatingWebhookConfiguration).DeepCopy()
			ccs := make([]*admissionregistrationv1.WebhookClientConfig, len(c.Webhooks))
			for i := range c.Webhooks {
				ccs[i] = &c.Webhooks[i].ClientConfig
			}
			return c, ccs
		},
		update: func(ctx context.Context, obj metav1.Object) error {
			_, err := api.Update(ctx, obj.(*admissionregistrationv1.MutatingWebhookConfiguration), metav1.UpdateOptions{})
			return err
		},
	}
}

// selects reports whether the configuration meta of kind k is kept.
func (p *Patcher) selects(k *configKind, meta metav1.Object) bool {
	return k.names[meta.GetName()] || (p.selector != nil && p.selector.Matches(labels.Set(meta.GetLabels())))
}

// Run watches the selected configurations and keeps their caBundle until
// ctx is done. Call it once.
func (p *Patcher) Run(ctx context.Context) {
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[configRef](patchRetryBaseDelay, patchRetryMaxDelay),
		workqueue.TypedRateLimitingQueueConfig[configRef]{Name: "webhook-ca-bundle"})
	for kind, k := range p.kinds {
		enqueue := func(obj any) {
			if meta, ok := obj.(metav1.Object); ok && p.selects(k, meta) {
				queue.Add(configRef{kind, meta.GetName()})
			}
		}
		_, err := k.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(_, obj any) { enqueue(obj) },
		})
		if err != nil {
			p.log.Error("webhook caBundle patcher: informer handler", zap.String("kind", kind), zap.Error(err))
			return
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer queue.ShutDown()
	synced := make([]cache.InformerSynced, 0, len(p.kinds))
	for _, k := range p.kinds {
		wg.Go(func() { k.informer.RunWithContext(ctx) })
		synced = append(synced, k.informer.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	p.log.Info("keeping webhook caBundles", zap.Strings("kinds", p.kindNames()))
	wg.Go(func() { p.work(ctx, queue) })
	p.watchRoots(ctx, queue)
}

func (p *Patcher) kindNames() []string {
	var names []string
	for _, kind := range []string{KindValidating, KindMutating} {
		if p.kinds[kind] != nil {
			names = append(names, kind)
		}
	}
	return names
}

// watchRoots queues every selected configuration when the bundle changes,
// until ctx is done.
func (p *Patcher) watchRoots(ctx context.Context, queue workqueue.TypedRateLimitingInterface[configRef]) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.changed:
		}
		for kind, k := range p.kinds {
			for _, obj := range k.informer.GetStore().List() {
				if meta, ok := obj.(metav1.Object); ok && p.selects(k, meta) {
					queue.Add(configRef{kind, meta.GetName()})
				}
			}
		}
	}
}

// work patches queued configurations until the queue shuts down, retrying
// a failed one with exponential backoff.
func (p *Patcher) work(ctx context.Context, queue workqueue.TypedRateLimitingInterface[configRef]) {
	for {
		ref, shutdown := queue.Get()
		if shutdown {
			return
		}
		if err := p.patch(ctx, ref); err != nil && ctx.Err() == nil {
			p.log.Warn("patching webhook caBundle failed; retrying",
				zap.String("kind", ref.kind), zap.String("name", ref.name),
				zap.Int("attempt", queue.NumRequeues(ref)+1), zap.Error(err))
			queue.AddRateLimited(ref)
		} else {
			queue.Forget(ref)
		}
		queue.Done(ref)
	}
}

// patch sets the caBundle of every webhook of ref to the current roots,
// when one differs. The update carries the resourceVersion read, so a
// concurrent edit makes it a conflict, retried.
func (p *Patcher) patch(ctx context.Context, ref configRef) error {
	k := p.kinds[ref.kind]
	obj, exists, err := k.informer.GetStore().GetByKey(ref.name)
	if err != nil {
		return fmt.Errorf("%s %s: %w", ref.kind, ref.name, err)
	}
	if !exists {
		return nil // deleted; patched again if it comes back
	}
	roots := p.bundle.RootsPEM()
	if len(roots) == 0 {
		p.log.Warn("the serving bundle has no roots; leaving the caBundle alone",
			zap.String("kind", ref.kind), zap.String("name", ref.name))
		return nil
	}
	edited, clientConfigs := k.edit(obj)
	if !p.selects(k, edited) || !setCABundle(clientConfigs, roots) {
		return nil
	}
	if err := k.update(ctx, edited); err != nil {
		return fmt.Errorf("patch caBundle of %s %s: %w", ref.kind, ref.name, err)
	}
	p.log.Info("patched webhook caBundle",
		zap.String("kind", ref.kind), zap.String("name", ref.name), zap.Int("webhooks", len(clientConfigs)))
	return nil
}

// setCABundle sets every client config's caBundle to roots and reports
// whether any differed.
func setCABundle(clientConfigs []*admissionregistrationv1.WebhookClientConfig, roots []byte) bool {
	changed := false
	for _, cc := range clientConfigs {
		if !bytes.Equal(cc.CABundle, roots) {
			cc.CABundle = roots
			changed = true
		}
	}
	return changed
}
