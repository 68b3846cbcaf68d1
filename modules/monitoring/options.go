package monitoring

import "github.com/bootgraph/bootgraph/component"

// DefaultAddr is istiod's monitoring port, on loopback for local use.
const DefaultAddr = "127.0.0.1:15014"

// Options configure the monitoring listener ("monitoring" in the config file).
type Options struct {
	// Addr to listen on. Default "127.0.0.1:15014".
	Addr string `json:"addr,omitempty" doc:"listen address"`
}

// SetDefaults fills every empty field with its default.
func (o *Options) SetDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
}

// Validate reports an invalid field.
func (o *Options) Validate() error { return component.ValidateAddr("addr", o.Addr) }
