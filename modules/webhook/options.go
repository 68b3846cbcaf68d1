package webhook

import (
	"errors"
	"fmt"
	"time"

	"github.com/bootgraph/bootgraph/modules/plane"
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
	Addr string `json:"addr,omitempty"`
	// MaxRequestBytes bounds a request body; a larger one gets 413.
	// Default 7 MiB.
	MaxRequestBytes int64 `json:"maxRequestBytes,omitempty"`
	// ReadHeaderTimeout bounds reading request headers. Default 30s.
	ReadHeaderTimeout plane.Duration `json:"readHeaderTimeout,omitempty"`
	// IdleTimeout closes idle keep-alive connections. Default 90s.
	IdleTimeout plane.Duration `json:"idleTimeout,omitempty"`
	// HandlerTimeout bounds reading the body and running a handler; the
	// handler's context is cancelled then. Default 30s.
	HandlerTimeout plane.Duration `json:"handlerTimeout,omitempty"`
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
		o.ReadHeaderTimeout = plane.Duration(DefaultReadHeaderTimeout)
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = plane.Duration(DefaultIdleTimeout)
	}
	if o.HandlerTimeout == 0 {
		o.HandlerTimeout = plane.Duration(DefaultHandlerTimeout)
	}
}

// Validate reports every invalid field, naming it as in the config file.
func (o *Options) Validate() error {
	var errs []error
	if o.Addr == "" {
		errs = append(errs, errors.New("webhook.addr: must not be empty"))
	}
	if o.MaxRequestBytes <= 0 {
		errs = append(errs, fmt.Errorf("webhook.maxRequestBytes: %d must be positive", o.MaxRequestBytes))
	}
	for name, d := range map[string]plane.Duration{
		"readHeaderTimeout": o.ReadHeaderTimeout, "idleTimeout": o.IdleTimeout, "handlerTimeout": o.HandlerTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("webhook.%s: %v must be positive", name, d))
		}
	}
	return errors.Join(errs...)
}
