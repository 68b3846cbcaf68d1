package kube

import (
	"errors"
	"fmt"
	"time"

	"github.com/bootgraph/bootgraph/modules/plane"
)

// Defaults.
const (
	DefaultNamespace      = "istio-system"
	DefaultConnectTimeout = 30 * time.Second
	DefaultTokenAudience  = "istio-ca"
)

// Options configure Kubernetes mode ("kube" in the config file).
type Options struct {
	// Kubeconfig is the kubeconfig file; empty means $KUBECONFIG, else the
	// in-cluster config.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Context in the kubeconfig; empty means its current context.
	Context string `json:"context,omitempty"`
	// ConnectTimeout bounds waiting for the API server at start; the wait
	// is logged at each retry. Default 30s.
	ConnectTimeout plane.Duration `json:"connectTimeout,omitempty"`
	// TokenAudiences a ServiceAccount token must carry to authenticate to
	// the CA. Default ["istio-ca"].
	TokenAudiences []string `json:"tokenAudiences,omitempty"`
	// ClusterID is this cluster's name; a CA request's "clusterid" metadata
	// must match it when present. Default "Kubernetes", istiod's.
	ClusterID string `json:"clusterID,omitempty"`
	// DistributeRoot keeps the ConfigMap istio-ca-root-cert in every
	// namespace equal to the CA's root, one writer at a time through
	// leader election. It needs the ca module. Default true (bootgraph
	// turns it off when the plane has no CA).
	DistributeRoot *bool `json:"distributeRoot,omitempty"`
	// Namespace of the control plane, where its Secrets and leases live.
	// Set by bootgraph from the top-level "namespace".
	Namespace string `json:"-"`
}

// DistributesRoot reports whether root distribution is on.
func (o *Options) DistributesRoot() bool { return o.DistributeRoot == nil || *o.DistributeRoot }

// SetDefaults fills every empty field with its default.
func (o *Options) SetDefaults() {
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = plane.Duration(DefaultConnectTimeout)
	}
	if len(o.TokenAudiences) == 0 {
		o.TokenAudiences = []string{DefaultTokenAudience}
	}
	if o.ClusterID == "" {
		o.ClusterID = "Kubernetes"
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
}

// Validate reports every invalid field, naming it as in the config file.
func (o *Options) Validate() error {
	var errs []error
	if o.ConnectTimeout <= 0 {
		errs = append(errs, fmt.Errorf("kube.connectTimeout: %v must be positive", o.ConnectTimeout))
	}
	for i, a := range o.TokenAudiences {
		if a == "" {
			errs = append(errs, fmt.Errorf("kube.tokenAudiences[%d]: must not be empty", i))
		}
	}
	return errors.Join(errs...)
}
