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
	// DefaultMaxConnectionIdle closes a connection that has had no RPC for
	// a minute (gRPC sends GOAWAY; a gRPC client reconnects on its next
	// RPC at the cost of one handshake). A connection that finished TLS and
	// the HTTP/2 preface and then stays silent held three goroutines and
	// its buffers for ever; a proxy's xDS connection is never idle, as its
	// stream stays open, so it is not cut. istiod sets none.
	DefaultMaxConnectionIdle = time.Minute
	// DefaultMaxHeaderListBytes is the largest request header list
	// (metadata) the server reads, announced in its HTTP/2 SETTINGS: a
	// request's metadata (a bearer token of a few kilobytes, gRPC's own
	// headers) fits many times; gRPC's default, 16 MiB, let one request
	// with 8 MiB of metadata through before anything looked at it. Envoy
	// allows 60 KiB.
	DefaultMaxHeaderListBytes = 64 << 10
	// DefaultRecvBufferBytes bounds the memory of requests being received,
	// every connection together: 16 at once at the largest message size
	// (4 MiB). A request reserves the largest message while it arrives;
	// a CSR or an xDS request arrives in a millisecond, so 16 are many;
	// when all are taken, the request that has been arriving longest is
	// ended for the new one. 300 streams of one client that each sent
	// most of a 4 MiB message held 1.2 GB; now 64 MiB, and the stream
	// window (64 KiB) of each other open stream.
	DefaultRecvBufferBytes = 64 << 20
	// DefaultRecvTimeout: a stream's first message must arrive within 10s
	// of its headers, as a webhook request's body must; a client that
	// never finishes one cannot keep a part of the receive buffer.
	DefaultRecvTimeout = 10 * time.Second
	// DefaultMaxConnections caps the open connections: a proxy or agent
	// keeps one; thousands of proxies per plane instance fit, and when
	// full, the oldest connection that never got an answer (never finished
	// its handshake, or opened no RPC that was answered) makes room.
	DefaultMaxConnections = 4096
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
	// RecvBufferBytes bounds the memory of requests being received, over
	// every connection together: each reserves MaxRecvMsgBytes until its
	// message has arrived; when all is reserved, the request that has been
	// arriving longest on the connection holding the most reservations ends
	// with DEADLINE_EXCEEDED. Default 64 MiB.
	RecvBufferBytes int `json:"recvBufferBytes,omitempty" doc:"memory for requests being received, all together; each reserves maxRecvMsgBytes, when full the oldest of the connection holding most ends"`
	// RecvTimeout: a stream's first message must arrive within this long
	// of its headers, or the stream ends with DEADLINE_EXCEEDED. Default
	// 10s.
	RecvTimeout component.Duration `json:"recvTimeout,omitempty" doc:"a stream's first message must arrive within this long, else DEADLINE_EXCEEDED"`
	// MaxSendMsgBytes is the largest message the server sends. Default
	// gRPC's, 2 GiB − 1 (istiod sets none: xDS responses can be large).
	MaxSendMsgBytes int `json:"maxSendMsgBytes,omitempty" doc:"largest message sent (default gRPC's, 2 GiB - 1)"`
	// MaxHeaderListBytes is the largest header list (metadata) of a
	// request; a larger one is refused before any handler runs. Default
	// 64 KiB (gRPC's: 16 MiB).
	MaxHeaderListBytes uint32 `json:"maxHeaderListBytes,omitempty" doc:"largest request metadata; larger is refused before any handler"`
	// ConnectionTimeout bounds a new connection's TLS handshake and HTTP/2
	// preface. Default 10s.
	ConnectionTimeout component.Duration `json:"connectionTimeout,omitempty" doc:"a new connection's TLS handshake and HTTP/2 preface must finish within"`
	// MaxConnections caps the connections open at once (and at most an
	// eighth of the open-file limit); when full, the oldest connection
	// that has not had an answer is closed for a new one. Default 4096.
	MaxConnections int `json:"maxConnections,omitempty" doc:"connections open at once; when full the oldest unanswered one makes room"`
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
	// (GOAWAY); a connection with an open stream is never idle. Default 1m
	// (istiod: never).
	MaxConnectionIdle component.Duration `json:"maxConnectionIdle,omitempty" doc:"close connections without RPCs this long; an open stream keeps one busy"`
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
	if o.RecvBufferBytes == 0 {
		o.RecvBufferBytes = DefaultRecvBufferBytes
	}
	if o.RecvTimeout == 0 {
		o.RecvTimeout = component.Duration(DefaultRecvTimeout)
	}
	if o.MaxHeaderListBytes == 0 {
		o.MaxHeaderListBytes = DefaultMaxHeaderListBytes
	}
	if o.ConnectionTimeout == 0 {
		o.ConnectionTimeout = component.Duration(DefaultConnectionTimeout)
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
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
	if k.MaxConnectionIdle == 0 {
		k.MaxConnectionIdle = component.Duration(DefaultMaxConnectionIdle)
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
	if o.RecvBufferBytes < o.MaxRecvMsgBytes {
		errs = append(errs, component.FieldErrorf("recvBufferBytes", "%d is below maxRecvMsgBytes (%d): not one request would fit",
			o.RecvBufferBytes, o.MaxRecvMsgBytes))
	}
	if o.MaxSendMsgBytes < 0 {
		errs = append(errs, component.FieldErrorf("maxSendMsgBytes", "%d must not be negative", o.MaxSendMsgBytes))
	}
	if o.MaxConnections <= 0 {
		errs = append(errs, component.FieldErrorf("maxConnections", "%d must be positive", o.MaxConnections))
	}
	for _, d := range []struct {
		path string
		v    component.Duration
	}{
		{"connectionTimeout", o.ConnectionTimeout}, {"drainTimeout", o.DrainTimeout}, {"recvTimeout", o.RecvTimeout},
		{"keepalive.time", o.Keepalive.Time}, {"keepalive.timeout", o.Keepalive.Timeout}, {"keepalive.minTime", o.Keepalive.MinTime},
		{"keepalive.maxConnectionIdle", o.Keepalive.MaxConnectionIdle},
	} {
		if d.v <= 0 {
			errs = append(errs, component.FieldErrorf(d.path, "%v must be positive", d.v))
		}
	}
	for _, d := range []struct {
		path string
		v    component.Duration
	}{
		{"keepalive.maxConnectionAge", o.Keepalive.MaxConnectionAge},
		{"keepalive.maxConnectionAgeGrace", o.Keepalive.MaxConnectionAgeGrace},
	} {
		if d.v < 0 {
			errs = append(errs, component.FieldErrorf(d.path, "%v must not be negative", d.v))
		}
	}
	return errors.Join(errs...)
}
