package kube

import (
	"errors"
	"fmt"
	"time"

	"github.com/bootgraph/bootgraph/component"
)

// Defaults.
const (
	DefaultConnectTimeout = 30 * time.Second
	DefaultTokenAudience  = "istio-ca"
	DefaultClusterID      = "Kubernetes" // istiod's
	DefaultQPS            = 80           // istiod's --kubeClientQPS
	DefaultBurst          = 160          // istiod's --kubeClientBurst
	// DefaultNamespace is the lease namespace of a RootDistributor that
	// names none.
	DefaultNamespace = component.DefaultNamespace
)

// Options configure Kubernetes mode ("kube" in the config file). The
// plane's namespace, where its Secrets and leases live, is component.Env's.
type Options struct {
	// Kubeconfig is the kubeconfig file; empty means $KUBECONFIG, else the
	// in-cluster config.
	Kubeconfig string `json:"kubeconfig,omitempty" doc:"default $KUBECONFIG, else in-cluster"`
	// Context in the kubeconfig; empty means its current context.
	Context string `json:"context,omitempty" doc:"default: the kubeconfig's current context"`
	// ConnectTimeout bounds waiting for the API server at start; the wait
	// is logged at each retry. Default 30s.
	ConnectTimeout component.Duration `json:"connectTimeout,omitempty" doc:"wait this long for the API server at start"`
	// TokenAudiences a ServiceAccount token must carry to authenticate to
	// the CA. Default ["istio-ca"].
	TokenAudiences []string `json:"tokenAudiences,omitempty" doc:"audiences a ServiceAccount token must carry for the CA"`
	// ClusterID is this cluster's name; a CA request's "clusterid" metadata
	// must match it when present. Default "Kubernetes", istiod's.
	ClusterID string `json:"clusterID,omitempty" doc:"a CA request's clusterid metadata must match"`
	// DistributeRoot keeps the ConfigMap istio-ca-root-cert in every
	// namespace equal to the CA's root, one writer at a time through
	// leader election. Default: on when the plane has a CA; true without
	// the ca part is a composition error naming it.
	DistributeRoot *bool `json:"distributeRoot,omitempty" doc:"the istio-ca-root-cert ConfigMaps (default: on when the plane has a CA)"`
	// QPS and Burst bound the plane's requests to the API server (a
	// client-side token bucket; 429 answers are retried after their
	// Retry-After), as istiod's --kubeClientQPS and --kubeClientBurst.
	// A root change rewrites a ConfigMap per namespace at this rate.
	// Defaults 80 and 160, istiod's.
	QPS   float32 `json:"qps,omitempty" doc:"requests per second to the API server (client-side limit; istiod's --kubeClientQPS)"`
	Burst int     `json:"burst,omitempty" doc:"requests allowed at once above qps (istiod's --kubeClientBurst)"`
}

// SetDefaults fills every empty field with its default.
func (o *Options) SetDefaults() {
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = component.Duration(DefaultConnectTimeout)
	}
	if len(o.TokenAudiences) == 0 {
		o.TokenAudiences = []string{DefaultTokenAudience}
	}
	if o.ClusterID == "" {
		o.ClusterID = DefaultClusterID
	}
	if o.QPS == 0 {
		o.QPS = DefaultQPS
	}
	if o.Burst == 0 {
		o.Burst = DefaultBurst
	}
}

// Validate reports every invalid field.
func (o *Options) Validate() error {
	var errs []error
	if o.ConnectTimeout <= 0 {
		errs = append(errs, component.FieldErrorf("connectTimeout", "%v must be positive", o.ConnectTimeout))
	}
	if o.QPS < 0 {
		errs = append(errs, component.FieldErrorf("qps", "%v must be positive", o.QPS))
	}
	if o.Burst < 0 {
		errs = append(errs, component.FieldErrorf("burst", "%v must be positive", o.Burst))
	}
	for i, a := range o.TokenAudiences {
		if a == "" {
			errs = append(errs, component.FieldErrorf(fmt.Sprintf("tokenAudiences[%d]", i), "must not be empty"))
		}
	}
	return errors.Join(errs...)
}
