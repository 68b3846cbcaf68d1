package grpc

import (
	"errors"
	"time"

	"github.com/bootgraph/bootgraph/component"
)

// Defaults, chosen against istiod's secure gRPC server
// (pilot/pkg/grpc.ServerOptions, pkg/keepalive).
const (
	// DefaultAddr is istiod's secure gRPC port, on loopback for local use.
	DefaultAddr = "127.0.0.1:15012"
	// DefaultMaxConcurrentStreams per connection. istiod allows 100,000
	// (ISTIO_GPRC_MAXSTREAMS); an xDS client needs one ADS stream per
	// connection and a CA client one per call, and every open stream may
	// hold a message buffer before its caller is authenticated, so a lower
	// bound caps what one connection can pin.
	DefaultMaxConcurrentStreams = 1000
	// DefaultMaxRecvMsgBytes is istiod's (ISTIO_GPRC_MAXRECVMSGSIZE): a CSR
	// is a few kilobytes, an xDS request with its resource names rarely
	// more than a few hundred.
	DefaultMaxRecvMsgBytes = 4 << 20
	// DefaultKeepaliveTime and DefaultKeepaliveTimeout are istiod's
	// (GRPC_KEEPALIVE_INTERVAL, GRPC_KEEPALIVE_TIMEOUT): ping an idle
	// connection every 30s and close it when a ping goes unanswered for 10s.
	DefaultKeepaliveTime    = 30 * time.Second
	DefaultKeepaliveTimeout = 10 * time.Second
	// DefaultKeepaliveMinTime is istiod's enforcement policy, half the
	// keepalive time: a client that pings more often is sent GOAWAY.
	DefaultKeepaliveMinTime = DefaultKeepaliveTime / 2
	// DefaultMaxConnectionAgeGrace is istiod's: the time a connection past
	// its maximum age gets to finish its RPCs.
	DefaultMaxConnectionAgeGrace = 10 * time.Second
	// DefaultConnectionTimeout bounds a new connection's TLS handshake and
	// HTTP/2 preface. gRPC's (and istiod's) is 120s; a handshake takes
	// milliseconds, and a client that never finishes one must not hold a
	// connection for two minutes.
	DefaultConnectionTimeout = 10 * time.Second
	// DefaultDrainTimeout is how long a stop lets RPCs and streams finish
	// before it closes what remains: below the plane's stop timeout (15s),
	// so that the stop finishes in time; istiod waits up to 10s
	// (--shutdownDuration) for its whole shutdown.
	DefaultDrainTimeout = 5 * time.Second
)

// Options configure the secure gRPC listener ("grpc" in the config file).
type Options struct {
	// Addr to listen on. Default "127.0.0.1:15012"; ":15012" listens on
	// every interface; port 0 picks a free port.
	Addr string `json:"addr,omitempty" doc:"listen address; \":15012\" for every interface, port 0 for a free port"`
	// MaxConcurrentStreams per connection. Default 1000 (istiod: 100000).
	MaxConcurrentStreams uint32 `json:"maxConcurrentStreams,omitempty" doc:"streams per connection (istiod: 100000)"`
	// MaxRecvMsgBytes is the largest message the server reads; a larger
	// one fails its RPC with ResourceExhausted. Default 4 MiB (istiod's).
	MaxRecvMsgBytes int `json:"maxRecvMsgBytes,omitempty" doc:"largest message received; larger fails with ResourceExhausted"`
	// MaxSendMsgBytes is the largest message the server sends. Default
	// gRPC's, 2 GiB − 1 (istiod sets none: xDS responses can be large).
	MaxSendMsgBytes int `json:"maxSendMsgBytes,omitempty" doc:"largest message sent (default gRPC's, 2 GiB - 1)"`
	// ConnectionTimeout bounds a new connection's TLS handshake. Default 10s.
	ConnectionTimeout component.Duration `json:"connectionTimeout,omitempty" doc:"a new connection's TLS handshake must finish within"`
	// Keepalive is the keepalive policy.
	Keepalive KeepaliveOptions `json:"keepalive,omitempty"`
	// DrainTimeout is how long a stop lets in-flight RPCs and streams
	// finish (streams are told to, see Drain) before it closes what
	// remains. Keep it below the plane's stop timeout. Default 5s.
	DrainTimeout component.Duration `json:"drainTimeout,omitempty" doc:"on stop, in-flight RPCs and streams get this long; then the rest is closed"`
}

// KeepaliveOptions are the server's keepalive parameters and enforcement
// policy (gRPC's keepalive.ServerParameters and EnforcementPolicy).
type KeepaliveOptions struct {
	// Time: ping a connection idle this long. Default 30s (istiod's).
	Time component.Duration `json:"time,omitempty" doc:"ping a connection idle this long"`
	// Timeout: close a connection whose ping goes unanswered this long.
	// Default 10s (istiod's).
	Timeout component.Duration `json:"timeout,omitempty" doc:"close it when a ping is unanswered this long"`
	// MinTime: a client that pings more often gets GOAWAY. Default 15s
	// (istiod's: half of Time).
	MinTime component.Duration `json:"minTime,omitempty" doc:"clients pinging more often than this are sent GOAWAY"`
	// PermitWithoutStream lets clients ping with no RPC open. Default
	// false (istiod's).
	PermitWithoutStream bool `json:"permitWithoutStream,omitempty" doc:"allow client pings with no RPC open"`
	// MaxConnectionIdle closes a connection without RPCs for this long
	// (GOAWAY). Default 0: never (istiod's).
	MaxConnectionIdle component.Duration `json:"maxConnectionIdle,omitempty" doc:"close connections without RPCs this long (0: never)"`
	// MaxConnectionAge closes a connection this old (GOAWAY), so that
	// clients spread over replicas again. Default 0: never (istiod's).
	MaxConnectionAge component.Duration `json:"maxConnectionAge,omitempty" doc:"close connections this old, so clients rebalance (0: never)"`
	// MaxConnectionAgeGrace is what a connection past MaxConnectionAge
	// gets to finish its RPCs. Default 10s (istiod's).
	MaxConnectionAgeGrace component.Duration `json:"maxConnectionAgeGrace,omitempty" doc:"time to finish RPCs after maxConnectionAge"`
}

// SetDefaults fills every empty field with its default.
func (o *Options) SetDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if o.MaxRecvMsgBytes == 0 {
		o.MaxRecvMsgBytes = DefaultMaxRecvMsgBytes
	}
	if o.ConnectionTimeout == 0 {
		o.ConnectionTimeout = component.Duration(DefaultConnectionTimeout)
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = component.Duration(DefaultDrainTimeout)
	}
	k := &o.Keepalive
	if k.Time == 0 {
		k.Time = component.Duration(DefaultKeepaliveTime)
	}
	if k.Timeout == 0 {
		k.Timeout = component.Duration(DefaultKeepaliveTimeout)
	}
	if k.MinTime == 0 {
		k.MinTime = k.Time / 2
	}
	if k.MaxConnectionAgeGrace == 0 {
		k.MaxConnectionAgeGrace = component.Duration(DefaultMaxConnectionAgeGrace)
	}
}

// Validate reports every invalid field.
func (o *Options) Validate() error {
	errs := []error{component.ValidateAddr("addr", o.Addr)}
	if o.MaxRecvMsgBytes < 0 {
		errs = append(errs, component.FieldErrorf("maxRecvMsgBytes", "%d must not be negative", o.MaxRecvMsgBytes))
	}
	if o.MaxSendMsgBytes < 0 {
		errs = append(errs, component.FieldErrorf("maxSendMsgBytes", "%d must not be negative", o.MaxSendMsgBytes))
	}
	for _, d := range []struct {
		path string
		v    component.Duration
	}{
		{"connectionTimeout", o.ConnectionTimeout}, {"drainTimeout", o.DrainTimeout},
		{"keepalive.time", o.Keepalive.Time}, {"keepalive.timeout", o.Keepalive.Timeout}, {"keepalive.minTime", o.Keepalive.MinTime},
	} {
		if d.v <= 0 {
			errs = append(errs, component.FieldErrorf(d.path, "%v must be positive", d.v))
		}
	}
	for _, d := range []struct {
		path string
		v    component.Duration
	}{
		{"keepalive.maxConnectionIdle", o.Keepalive.MaxConnectionIdle}, {"keepalive.maxConnectionAge", o.Keepalive.MaxConnectionAge},
		{"keepalive.maxConnectionAgeGrace", o.Keepalive.MaxConnectionAgeGrace},
	} {
		if d.v < 0 {
			errs = append(errs, component.FieldErrorf(d.path, "%v must not be negative", d.v))
		}
	}
	return errors.Join(errs...)
}
