package kubeapi

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// Object is a pointer to an API object: *corev1.Secret and the like.
type Object interface {
	runtime.Object
	metav1.Object
}

// Resource is the typed client of one resource (secrets, leases, ...):
// Get, List, Watch, Create, Update, UpdateStatus, Delete and Patch, the
// requests client-go's typed clients make. It is client-go's
// gentype.ClientWithList without what gentype also links: client-go's
// fake-client machinery (k8s.io/client-go/testing, with the OpenAPI
// models, strategic merge and managed fields), about 2 MB of resident
// memory in every program that imports it.
type Resource[T Object, L runtime.Object] struct {
	client    rest.Interface
	resource  string
	namespace string // "" for a cluster-scoped resource, or all namespaces
	newObject func() T
	newList   func() L
}

func newResource[T Object, L runtime.Object](client rest.Interface, resource, namespace string, newObject func() T, newList func() L) *Resource[T, L] {
	return &Resource[T, L]{client: client, resource: resource, namespace: namespace, newObject: newObject, newList: newList}
}

// RESTClient is the client of the resource's API group, for requests
// this type does not make (a subresource).
func (r *Resource[T, L]) RESTClient() rest.Interface { return r.client }

// request starts a request on the resource, in its namespace if it has one.
func (r *Resource[T, L]) request(verb func() *rest.Request) *rest.Request {
	return verb().NamespaceIfScoped(r.namespace, r.namespace != "").Resource(r.resource)
}

// Get returns the object called name.
func (r *Resource[T, L]) Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error) {
	result := r.newObject()
	err := r.request(r.client.Get).Name(name).VersionedParams(&opts, scheme().params).Do(ctx).Into(result)
	return result, err
}

// List returns the objects that opts select.
func (r *Resource[T, L]) List(ctx context.Context, opts metav1.ListOptions) (L, error) {
	result := r.newList()
	err := r.request(r.client.Get).VersionedParams(&opts, scheme().params).Timeout(timeout(opts)).Do(ctx).Into(result)
	return result, err
}

// Watch watches the objects that opts select.
func (r *Resource[T, L]) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return r.request(r.client.Get).VersionedParams(&opts, scheme().params).Timeout(timeout(opts)).Watch(ctx)
}

// Create creates obj and returns it as the server stored it.
func (r *Resource[T, L]) Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error) {
	result := r.newObject()
	err := r.request(r.client.Post).VersionedParams(&opts, scheme().params).Body(obj).Do(ctx).Into(result)
	return result, err
}

// Update replaces obj; it fails with a conflict when obj's resourceVersion
// is not the stored one.
func (r *Resource[T, L]) Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error) {
	result := r.newObject()
	err := r.request(r.client.Put).Name(obj.GetName()).VersionedParams(&opts, scheme().params).Body(obj).Do(ctx).Into(result)
	return result, err
}

// UpdateStatus replaces obj's status subresource.
func (r *Resource[T, L]) UpdateStatus(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error) {
	result := r.newObject()
	err := r.request(r.client.Put).Name(obj.GetName()).SubResource("status").
		VersionedParams(&opts, scheme().params).Body(obj).Do(ctx).Into(result)
	return result, err
}

// Delete deletes the object called name.
func (r *Resource[T, L]) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return r.request(r.client.Delete).Name(name).Body(&opts).Do(ctx).Error()
}

// Patch applies a patch of type pt to the object called name, or to its
// subresource.
func (r *Resource[T, L]) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error) {
	result := r.newObject()
	err := r.request(func() *rest.Request { return r.client.Patch(pt) }).Name(name).SubResource(subresources...).
		VersionedParams(&opts, scheme().params).Body(data).Do(ctx).Into(result)
	return result, err
}

func timeout(opts metav1.ListOptions) time.Duration {
	if opts.TimeoutSeconds == nil {
		return 0
	}
	return time.Duration(*opts.TimeoutSeconds) * time.Second
}
