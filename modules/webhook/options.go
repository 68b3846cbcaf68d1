package webhook

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/bootgraph/bootgraph/component"
)

// Defaults.
const (
	DefaultAddr = "127.0.0.1:15017"
	// DefaultMaxRequestBytes admits an AdmissionReview carrying an object
	// and its old version at the API server's 3 MiB request limit.
	DefaultMaxRequestBytes   = 7 << 20
	DefaultReadHeaderTimeout = 30 * time.Second // istiod's
	DefaultIdleTimeout       = 90 * time.Second // istiod's
	DefaultHandlerTimeout    = 30 * time.Second // the API server's webhook timeout cap
)

// Options configure the webhook listener ("webhook" in the config file).
type Options struct {
	// Addr to listen on. Default "127.0.0.1:15017".
	Addr string `json:"addr,omitempty" doc:"listen address"`
	// MaxRequestBytes bounds a request body; a larger one gets 413.
	// Default 7 MiB.
	MaxRequestBytes int64 `json:"maxRequestBytes,omitempty" doc:"larger request bodies get 413"`
	// ReadHeaderTimeout bounds reading request headers. Default 30s.
	ReadHeaderTimeout component.Duration `json:"readHeaderTimeout,omitempty" doc:"bounds reading request headers"`
	// IdleTimeout closes idle keep-alive connections. Default 90s.
	IdleTimeout component.Duration `json:"idleTimeout,omitempty" doc:"closes idle keep-alive connections"`
	// HandlerTimeout bounds reading the body and running a handler; the
	// handler's context is cancelled then. Default 30s.
	HandlerTimeout component.Duration `json:"handlerTimeout,omitempty" doc:"a slower handler gets 503 and its context is cancelled"`
	// Patch names the admission webhook configurations whose caBundle is
	// kept equal to the roots of the serving certificate. It needs a
	// cluster (the kube part). Default: none.
	Patch PatchOptions `json:"patch,omitempty"`
}

// PatchOptions select the webhook configurations whose every webhook's
// clientConfig.caBundle the plane keeps current, as istiod does for its
// injector and validation webhooks. A configuration is kept when its name
// is listed for its kind or its labels match LabelSelector. Default: none.
type PatchOptions struct {
	// ValidatingWebhooks are ValidatingWebhookConfiguration names.
	ValidatingWebhooks []string `json:"validatingWebhooks,omitempty" doc:"Kubernetes mode: ValidatingWebhookConfigurations whose caBundle is kept = the serving roots"`
	// MutatingWebhooks are MutatingWebhookConfiguration names.
	MutatingWebhooks []string `json:"mutatingWebhooks,omitempty" doc:"Kubernetes mode: MutatingWebhookConfigurations, likewise"`
	// LabelSelector selects configurations of both kinds by label, e.g.
	// "istio.io/rev=default".
	LabelSelector string `json:"labelSelector,omitempty" doc:"Kubernetes mode: or select both kinds by label, e.g. app=my-webhooks"`
}

// Enabled reports whether any configuration is selected.
func (o PatchOptions) Enabled() bool {
	return len(o.ValidatingWebhooks) > 0 || len(o.MutatingWebhooks) > 0 || o.LabelSelector != ""
}

// validate reports every invalid field.
func (o PatchOptions) validate() []error {
	var errs []error
	for _, f := range []struct {
		field string
		names []string
	}{{"validatingWebhooks", o.ValidatingWebhooks}, {"mutatingWebhooks", o.MutatingWebhooks}} {
		for i, n := range f.names {
			if n == "" {
				errs = append(errs, component.FieldErrorf(fmt.Sprintf("patch.%s[%d]", f.field, i), "must not be empty"))
			}
		}
	}
	if _, err := o.selector(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// selector parses LabelSelector; nil when it is empty.
func (o PatchOptions) selector() (labels.Selector, error) {
	if o.LabelSelector == "" {
		return nil, nil
	}
	sel, err := labels.Parse(o.LabelSelector)
	if err != nil {
		return nil, component.FieldErrorf("patch.labelSelector", "%q: %w", o.LabelSelector, err)
	}
	return sel, nil
}

// SetDefaults fills every empty field with its default.
func (o *Options) SetDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.MaxRequestBytes == 0 {
		o.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if o.ReadHeaderTimeout == 0 {
		o.ReadHeaderTimeout = component.Duration(DefaultReadHeaderTimeout)
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = component.Duration(DefaultIdleTimeout)
	}
	if o.HandlerTimeout == 0 {
		o.HandlerTimeout = component.Duration(DefaultHandlerTimeout)
	}
}

// Validate reports every invalid field.
func (o *Options) Validate() error {
	var errs []error
	errs = append(errs, component.ValidateAddr("addr", o.Addr))
	if o.MaxRequestBytes <= 0 {
		errs = append(errs, component.FieldErrorf("maxRequestBytes", "%d must be positive", o.MaxRequestBytes))
	}
	for _, d := range []struct {
		name string
		d    component.Duration
	}{{"readHeaderTimeout", o.ReadHeaderTimeout}, {"idleTimeout", o.IdleTimeout}, {"handlerTimeout", o.HandlerTimeout}} {
		if d.d <= 0 {
			errs = append(errs, component.FieldErrorf(d.name, "%v must be positive", d.d))
		}
	}
	errs = append(errs, o.Patch.validate()...)
	return errors.Join(errs...)
}
