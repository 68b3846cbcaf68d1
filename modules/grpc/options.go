package grpc

import "github.com/bootgraph/bootgraph/component"

// DefaultAddr is istiod's secure gRPC port, on loopback for local use.
const DefaultAddr = "127.0.0.1:15012"

// Options configure the secure gRPC listener ("grpc" in the config file).
type Options struct {
	// Addr to listen on. Default "127.0.0.1:15012"; ":15012" listens on
	// every interface; port 0 picks a free port.
	Addr string `json:"addr,omitempty" doc:"listen address; \":15012\" for every interface, port 0 for a free port"`
}

// SetDefaults fills every empty field with its default.
func (o *Options) SetDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
}

// Validate reports an invalid field.
func (o *Options) Validate() error { return component.ValidateAddr("addr", o.Addr) }
