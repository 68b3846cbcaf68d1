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
	DefaultMaxRequestBytes = 7 << 20
	// DefaultBodyBufferBytes bounds the memory of request bodies being
	// received, all requests together: nine of the largest at once, or
	// thousands of usual AdmissionReviews (a few kilobytes); one client
	// with 200 HTTP/2 streams each sending most of 7 MiB held 1.4 GB.
	DefaultBodyBufferBytes = 64 << 20
	// DefaultReadHeaderTimeout and DefaultReadTimeout are the API server's
	// default webhook timeout (timeoutSeconds: 10): it gives up on a call
	// by then, so a request that has not arrived within 10s is of no use,
	// while a real one arrives in milliseconds. istiod waits 30s for
	// headers and forever for a body; a client that sends
	// "Content-Length: 100" and then nothing held a connection for minutes.
	// net/http also bounds the TLS handshake by the smaller of the two.
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultIdleTimeout       = 90 * time.Second // istiod's
	DefaultHandlerTimeout    = 30 * time.Second // the API server's webhook timeout cap
	// DefaultMaxConnections: the API servers keep a few connections each
	// (HTTP/2); a thousand leaves room for many API servers and probes,
	// and caps what clients that connect and send nothing can hold (the
	// oldest unanswered connection makes room for a new one).
	DefaultMaxConnections = 1024
	// DefaultDrainTimeout is the gRPC listener's: below the plane's stop
	// timeout (15s), so that a stop with a slow client attached finishes
	// in time.
	DefaultDrainTimeout = 5 * time.Second
)

// Options configure the webhook listener ("webhook" in the config file).
type Options struct {
	// Addr to listen on. Default "127.0.0.1:15017".
	Addr string `json:"addr,omitempty" doc:"listen address"`
	// MaxRequestBytes bounds a request body; a larger one gets 413.
	// Default 7 MiB.
	MaxRequestBytes int64 `json:"maxRequestBytes,omitempty" doc:"larger request bodies get 413"`
	// BodyBufferBytes bounds the memory of request bodies being received,
	// all requests together; when full, the body that has been arriving
	// longest is dropped with 503. Default 64 MiB; at least MaxRequestBytes.
	BodyBufferBytes int64 `json:"bodyBufferBytes,omitempty" doc:"memory for request bodies being received, all together; when full the oldest is dropped (503)"`
	// ReadHeaderTimeout bounds the TLS handshake and reading a request's
	// headers. Default 10s.
	ReadHeaderTimeout component.Duration `json:"readHeaderTimeout,omitempty" doc:"bounds the TLS handshake and reading request headers"`
	// ReadTimeout bounds reading a whole request, body included, over
	// HTTP/1.1 and HTTP/2: a body that is trickled or never sent gets 408
	// then. Default 10s.
	ReadTimeout component.Duration `json:"readTimeout,omitempty" doc:"bounds reading a whole request, body included; a late body gets 408"`
	// IdleTimeout closes idle keep-alive connections. Default 90s.
	IdleTimeout component.Duration `json:"idleTimeout,omitempty" doc:"closes idle keep-alive connections"`
	// MaxConnections caps the connections open at once (and at most an
	// eighth of the open-file limit); when full, the oldest connection
	// not yet answered is closed for a new one. Default 1024.
	MaxConnections int `json:"maxConnections,omitempty" doc:"connections open at once; when full the oldest unanswered one makes room"`
	// DrainTimeout is how long a stop lets requests in flight finish
	// before it closes what remains. Default 5s.
	DrainTimeout component.Duration `json:"drainTimeout,omitempty" doc:"on stop, requests in flight get this long; then the rest is closed"`
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
	if o.BodyBufferBytes == 0 {
		o.BodyBufferBytes = DefaultBodyBufferBytes
	}
	if o.ReadHeaderTimeout == 0 {
		o.ReadHeaderTimeout = component.Duration(DefaultReadHeaderTimeout)
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = component.Duration(DefaultReadTimeout)
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = component.Duration(DefaultIdleTimeout)
	}
	if o.HandlerTimeout == 0 {
		o.HandlerTimeout = component.Duration(DefaultHandlerTimeout)
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = component.Duration(DefaultDrainTimeout)
	}
}

// Validate reports every invalid field.
func (o *Options) Validate() error {
	var errs []error
	errs = append(errs, component.ValidateAddr("addr", o.Addr))
	if o.MaxRequestBytes <= 0 {
		errs = append(errs, component.FieldErrorf("maxRequestBytes", "%d must be positive", o.MaxRequestBytes))
	}
	if o.BodyBufferBytes < o.MaxRequestBytes {
		errs = append(errs, component.FieldErrorf("bodyBufferBytes", "%d is below maxRequestBytes (%d): the largest request would not fit",
			o.BodyBufferBytes, o.MaxRequestBytes))
	}
	if o.MaxConnections <= 0 {
		errs = append(errs, component.FieldErrorf("maxConnections", "%d must be positive", o.MaxConnections))
	}
	for _, d := range []struct {
		name string
		d    component.Duration
	}{
		{"readHeaderTimeout", o.ReadHeaderTimeout}, {"readTimeout", o.ReadTimeout}, {"idleTimeout", o.IdleTimeout},
		{"handlerTimeout", o.HandlerTimeout}, {"drainTimeout", o.DrainTimeout},
	} {
		if d.d <= 0 {
			errs = append(errs, component.FieldErrorf(d.name, "%v must be positive", d.d))
		}
	}
	errs = append(errs, o.Patch.validate()...)
	return errors.Join(errs...)
}
