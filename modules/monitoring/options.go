package monitoring

import (
	"errors"
	"time"

	"github.com/bootgraph/bootgraph/component"
)

// Defaults.
const (
	// DefaultAddr is istiod's monitoring port, on loopback for local use.
	DefaultAddr = "127.0.0.1:15014"
	// DefaultReadHeaderTimeout and DefaultReadTimeout: Prometheus gives a
	// scrape 10s by default and a probe's request arrives in
	// milliseconds; a client that sends "Content-Length: 100" and then
	// nothing is cut after 10s instead of holding its connection.
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	// DefaultIdleTimeout closes idle keep-alive connections (istiod's).
	DefaultIdleTimeout = 90 * time.Second
	// DefaultMaxConnections: scrapers and probes keep a few connections;
	// a thousand leaves room for many and caps what clients that connect
	// and send nothing can hold.
	DefaultMaxConnections = 1024
	// DefaultDrainTimeout: scrapes and probes are short and nothing is lost
	// when one is cut at a stop; the monitoring listener stops first, and
	// the plane stops its listeners one after another, so its drain
	// delays the others' stop.
	DefaultDrainTimeout = time.Second
)

// Options configure the monitoring listener ("monitoring" in the config file).
type Options struct {
	// Addr to listen on. Default "127.0.0.1:15014".
	Addr string `json:"addr,omitempty" doc:"listen address"`
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout component.Duration `json:"readHeaderTimeout,omitempty" doc:"bounds reading request headers"`
	// ReadTimeout bounds reading a whole request, body included. Default 10s.
	ReadTimeout component.Duration `json:"readTimeout,omitempty" doc:"bounds reading a whole request, body included"`
	// IdleTimeout closes idle keep-alive connections. Default 90s.
	IdleTimeout component.Duration `json:"idleTimeout,omitempty" doc:"closes idle keep-alive connections"`
	// MaxConnections caps the connections open at once (and at most an
	// eighth of the open-file limit); when full, the oldest connection
	// not yet answered is closed for a new one. Default 1024.
	MaxConnections int `json:"maxConnections,omitempty" doc:"connections open at once; when full the oldest unanswered one makes room"`
	// DrainTimeout is how long a stop lets requests in flight finish
	// before it closes what remains. Default 1s.
	DrainTimeout component.Duration `json:"drainTimeout,omitempty" doc:"on stop, requests in flight get this long; then the rest is closed"`
}

// SetDefaults fills every empty field with its default.
func (o *Options) SetDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
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
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = component.Duration(DefaultDrainTimeout)
	}
}

// Validate reports every invalid field.
func (o *Options) Validate() error {
	errs := []error{component.ValidateAddr("addr", o.Addr)}
	if o.MaxConnections <= 0 {
		errs = append(errs, component.FieldErrorf("maxConnections", "%d must be positive", o.MaxConnections))
	}
	for _, d := range []struct {
		name string
		d    component.Duration
	}{
		{"readHeaderTimeout", o.ReadHeaderTimeout}, {"readTimeout", o.ReadTimeout},
		{"idleTimeout", o.IdleTimeout}, {"drainTimeout", o.DrainTimeout},
	} {
		if d.d <= 0 {
			errs = append(errs, component.FieldErrorf(d.name, "%v must be positive", d.d))
		}
	}
	return errors.Join(errs...)
}
