package kubeapi

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// ListWatcher is what NewInformer needs of a resource's client; every
// client of this package with List has it.
type ListWatcher[L runtime.Object] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// NewInformer returns a shared informer, without resync, of the objects
// that rc lists and watches. example is an empty object of the kind
// (&corev1.Secret{}); tweak, when not nil, narrows every list and watch (a
// field or label selector).
func NewInformer[L runtime.Object](rc ListWatcher[L], example runtime.Object, tweak func(*metav1.ListOptions), indexers cache.Indexers) cache.SharedIndexInformer {
	if indexers == nil {
		indexers = cache.Indexers{}
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			if tweak != nil {
				tweak(&o)
			}
			return rc.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			if tweak != nil {
				tweak(&o)
			}
			return rc.Watch(ctx, o)
		},
	}
	return cache.NewSharedIndexInformer(lw, example, 0, indexers)
}
