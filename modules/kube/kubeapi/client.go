// Package kubeapi is the Kubernetes client of bootgraph's parts: typed
// access to the few resources they read and write (Secrets, ConfigMaps,
// Namespaces, Pods, Leases, TokenReviews, CertificateSigningRequests and
// the admission webhook configurations), a lease-based leader election, and
// informers on those resources.
//
// It exists for what it leaves out. client-go's typed clientset
// (k8s.io/client-go/kubernetes) registers every API group of Kubernetes in
// its scheme when the program starts, and links their clients, informers
// and apply configurations: on its own that costs a process about 10 MB of
// resident memory and 20 MB of binary (measured in internal/footprint).
// kubeapi makes the same requests as client-go's typed clients on a scheme
// that holds only the groups above, so a plane that talks to Kubernetes
// pays for those and nothing else. A test asserts that the packages which
// use it do not link the clientset.
//
// A program that wants the full clientset too can make one from the same
// *rest.Config: Client.Config returns it.
package kubeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/rest"
)

// scheme holds the API groups kubeapi speaks: core/v1,
// coordination.k8s.io/v1, authentication.k8s.io/v1,
// certificates.k8s.io/v1 and admissionregistration.k8s.io/v1. It is made
// by the first New, not when the program starts: a plane that never talks
// to Kubernetes does not pay for registering them.
var scheme = sync.OnceValue(func() *codecSet {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, coordinationv1.AddToScheme, authenticationv1.AddToScheme,
		certificatesv1.AddToScheme, admissionregistrationv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err) // generated registration code: cannot fail
		}
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return &codecSet{serializer.NewCodecFactory(s), runtime.NewParameterCodec(s)}
})

type codecSet struct {
	codecs serializer.CodecFactory
	params runtime.ParameterCodec
}

// Client is a typed client for the resources bootgraph's parts use. It is
// safe for concurrent use; the methods that return a resource's client are
// cheap and may be called per request.
type Client struct {
	config                                      *rest.Config
	core, coordination, authn, certs, admission rest.Interface
}

// New makes a Client for cfg; it does not contact the server (ServerVersion
// does). All groups share one HTTP client and so one connection pool.
func New(cfg *rest.Config) (*Client, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeapi: client for %s: %w", cfg.Host, err)
	}
	c := &Client{config: rest.CopyConfig(cfg)}
	for _, g := range []struct {
		into    *rest.Interface
		apiPath string
		gv      schema.GroupVersion
	}{
		{&c.core, "/api", corev1.SchemeGroupVersion},
		{&c.coordination, "/apis", coordinationv1.SchemeGroupVersion},
		{&c.authn, "/apis", authenticationv1.SchemeGroupVersion},
		{&c.certs, "/apis", certificatesv1.SchemeGroupVersion},
		{&c.admission, "/apis", admissionregistrationv1.SchemeGroupVersion},
	} {
		rc, err := restClient(cfg, httpClient, g.apiPath, g.gv)
		if err != nil {
			return nil, fmt.Errorf("kubeapi: client for %s (%s): %w", cfg.Host, g.gv, err)
		}
		*g.into = rc
	}
	return c, nil
}

func restClient(cfg *rest.Config, httpClient *http.Client, apiPath string, gv schema.GroupVersion) (*rest.RESTClient, error) {
	c := rest.CopyConfig(cfg)
	c.APIPath = apiPath
	c.GroupVersion = &gv
	c.NegotiatedSerializer = scheme().codecs.WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	return rest.RESTClientForConfigAndClient(c, httpClient)
}

// Config returns a copy of the configuration the client was made with.
func (c *Client) Config() *rest.Config { return rest.CopyConfig(c.config) }

// Host is the API server's address, for messages.
func (c *Client) Host() string { return c.config.Host }

// ServerVersion asks the API server for its version (GET /version): the
// cheapest call that proves it answers and that the credentials work.
func (c *Client) ServerVersion(ctx context.Context) (*version.Info, error) {
	var info version.Info
	body, err := c.core.Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("GET %s/version: %w", c.config.Host, err)
	}
	return &info, nil
}

// Secrets in namespace ns.
func (c *Client) Secrets(ns string) *Resource[*corev1.Secret, *corev1.SecretList] {
	return newResource(c.core, "secrets", ns,
		func() *corev1.Secret { return &corev1.Secret{} }, func() *corev1.SecretList { return &corev1.SecretList{} })
}

// ConfigMaps in namespace ns ("" for all namespaces, to list and watch).
func (c *Client) ConfigMaps(ns string) *Resource[*corev1.ConfigMap, *corev1.ConfigMapList] {
	return newResource(c.core, "configmaps", ns,
		func() *corev1.ConfigMap { return &corev1.ConfigMap{} }, func() *corev1.ConfigMapList { return &corev1.ConfigMapList{} })
}

// Namespaces of the cluster.
func (c *Client) Namespaces() *Resource[*corev1.Namespace, *corev1.NamespaceList] {
	return newResource(c.core, "namespaces", "",
		func() *corev1.Namespace { return &corev1.Namespace{} }, func() *corev1.NamespaceList { return &corev1.NamespaceList{} })
}

// Pods in namespace ns.
func (c *Client) Pods(ns string) *Resource[*corev1.Pod, *corev1.PodList] {
	return newResource(c.core, "pods", ns,
		func() *corev1.Pod { return &corev1.Pod{} }, func() *corev1.PodList { return &corev1.PodList{} })
}

// Leases in namespace ns.
func (c *Client) Leases(ns string) *Resource[*coordinationv1.Lease, *coordinationv1.LeaseList] {
	return newResource(c.coordination, "leases", ns,
		func() *coordinationv1.Lease { return &coordinationv1.Lease{} }, func() *coordinationv1.LeaseList { return &coordinationv1.LeaseList{} })
}

// TokenReviews: Create asks the API server who a bearer token belongs to.
func (c *Client) TokenReviews() *TokenReviews { return &TokenReviews{c.authn} }

// TokenReviews is the TokenReview client: the API has only create.
type TokenReviews struct{ client rest.Interface }

// Create sends review and returns the API server's answer in its status.
func (t *TokenReviews) Create(ctx context.Context, review *authenticationv1.TokenReview, opts metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	result := &authenticationv1.TokenReview{}
	err := t.client.Post().Resource("tokenreviews").VersionedParams(&opts, scheme().params).Body(review).Do(ctx).Into(result)
	return result, err
}

// CertificateSigningRequests of the cluster (certificates.k8s.io/v1).
func (c *Client) CertificateSigningRequests() *CSRs {
	return &CSRs{newResource(c.certs, "certificatesigningrequests", "",
		func() *certificatesv1.CertificateSigningRequest { return &certificatesv1.CertificateSigningRequest{} },
		func() *certificatesv1.CertificateSigningRequestList {
			return &certificatesv1.CertificateSigningRequestList{}
		})}
}

// CSRs is the CertificateSigningRequest client, with the approval
// subresource that the generic client lacks.
type CSRs struct {
	*Resource[*certificatesv1.CertificateSigningRequest, *certificatesv1.CertificateSigningRequestList]
}

// UpdateApproval writes csr's approval conditions (the approval
// subresource), as kubectl certificate approve does.
func (c *CSRs) UpdateApproval(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, opts metav1.UpdateOptions) (*certificatesv1.CertificateSigningRequest, error) {
	result := &certificatesv1.CertificateSigningRequest{}
	err := c.RESTClient().Put().Resource("certificatesigningrequests").Name(csr.Name).SubResource("approval").
		VersionedParams(&opts, scheme().params).Body(csr).Do(ctx).Into(result)
	return result, err
}

// ValidatingWebhookConfigurations of the cluster.
func (c *Client) ValidatingWebhookConfigurations() *Resource[*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfigurationList] {
	return newResource(c.admission, "validatingwebhookconfigurations", "",
		func() *admissionregistrationv1.ValidatingWebhookConfiguration {
			return &admissionregistrationv1.ValidatingWebhookConfiguration{}
		},
		func() *admissionregistrationv1.ValidatingWebhookConfigurationList {
			return &admissionregistrationv1.ValidatingWebhookConfigurationList{}
		})
}

// MutatingWebhookConfigurations of the cluster.
func (c *Client) MutatingWebhookConfigurations() *Resource[*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfigurationList] {
	return newResource(c.admission, "mutatingwebhookconfigurations", "",
		func() *admissionregistrationv1.MutatingWebhookConfiguration {
			return &admissionregistrationv1.MutatingWebhookConfiguration{}
		},
		func() *admissionregistrationv1.MutatingWebhookConfigurationList {
			return &admissionregistrationv1.MutatingWebhookConfigurationList{}
		})
}
