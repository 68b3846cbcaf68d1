package grpc

import "errors"

// DefaultAddr is istiod's secure gRPC port, on loopback for local use.
const DefaultAddr = "127.0.0.1:15012"

// Options configure the secure gRPC listener; they map onto the "grpc"
// section of the config file.
type Options struct {
	// Addr to listen on. Default "127.0.0.1:15012"; ":15012" listens on
	// every interface; port 0 picks a free port.
	Addr string `json:"addr,omitempty"`
}

// SetDefaults fills every empty field with its default.
func (o *Options) SetDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
}

// Validate reports an invalid field, naming it as in the config file.
func (o *Options) Validate() error {
	if o.Addr == "" {
		return errors.New("grpc.addr: must not be empty")
	}
	return nil
}
