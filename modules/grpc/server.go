package grpc

import (
	"context"
	"crypto/tls"

	"maps"
	"math"
	"slices"
	"time"

	"go.uber.org/zap"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// Name is the listener's name in logs, errors and readiness.
const Name = "secure-grpc"

// Server is the secure gRPC listener.
type Server struct {
	*component.Binding // Name, Addr, Ready

	opts   Options
	log    *zap.Logger
	grpc   *gogrpc.Server
	health *Health
	drain  *Drain
	// readyOnStart: a server alone reports SERVING once it serves; in a
	// plane, once every listener serves (the module's readiness hook).
	readyOnStart bool
}

// NewServer builds a server alone, with its own Health and Drain, and
// registers services on it; it does not listen until Start.
func NewServer(opts Options, bundle *servingcert.Bundle, log *zap.Logger, services []Service) *Server {
	s := newServer(opts, bundle, log, services, NewHealth(), NewDrain(), nil)
	s.readyOnStart = true
	return s
}

func newServer(opts Options, bundle *servingcert.Bundle, log *zap.Logger, services []Service,
	h *Health, d *Drain, interceptors []Interceptor) *Server {
	opts.SetDefaults()
	tlsCfg := bundle.ServerTLSConfig(&tls.Config{
		MinVersion: tls.VersionTLS12,
		// Requested, not verified, at the handshake: a bad client
		// certificate then reaches the service's authenticator, which
		// verifies it against the current roots and answers
		// Unauthenticated (with the reason in the log and the metrics)
		// instead of a failed handshake the caller sees as "broken pipe".
		// VerifiedChains is therefore empty; services must verify.
		ClientAuth: tls.RequestClientCert,
		NextProtos: []string{"h2"}, // gRPC requires ALPN h2
	})
	binding := component.NewBinding(Name, opts.Addr, bundle.Valid)
	binding.LimitConnections(opts.MaxConnections, log)
	budget := newRecvBudget(opts.RecvBufferBytes/opts.MaxRecvMsgBytes, time.Duration(opts.RecvTimeout))
	use := connUse{binding}
	codec := newRequestCodec()
	grpcOpts := append(serverOptions(opts, credentials.NewTLS(tlsCfg)),
		gogrpc.StatsHandler(budget), gogrpc.InTapHandle(budget.tap), gogrpc.ForceServerCodecV2(codec),
		gogrpc.ChainUnaryInterceptor(codec.unary, use.unary), gogrpc.ChainStreamInterceptor(codec.stream, budget.stream, use.stream))
	s := &Server{
		Binding: binding,
		opts:    opts,
		log:     log,
		grpc:    gogrpc.NewServer(append(grpcOpts, chain(d, interceptors)...)...),
		health:  h,
		drain:   d,
	}
	for _, svc := range services {
		svc.Register(s.grpc)
	}
	healthpb.RegisterHealthServer(s.grpc, healthService{h: h, drain: d})
	reflection.Register(s.grpc)
	h.register(slices.Sorted(maps.Keys(s.grpc.GetServiceInfo())))
	return s
}

// serverOptions are opts as gRPC server options.
func serverOptions(opts Options, creds credentials.TransportCredentials) []gogrpc.ServerOption {
	k := opts.Keepalive
	out := []gogrpc.ServerOption{
		gogrpc.Creds(creds),
		gogrpc.MaxConcurrentStreams(opts.MaxConcurrentStreams),
		gogrpc.MaxRecvMsgSize(opts.MaxRecvMsgBytes),
		gogrpc.MaxHeaderListSize(opts.MaxHeaderListBytes),
		// A stream's window before its message is read: the default, and
		// fixed (no dynamic window), so that a stream holds no more until
		// it has its place in the receive budget (see recvBudget).
		gogrpc.InitialWindowSize(initialWindow),
		gogrpc.ConnectionTimeout(time.Duration(opts.ConnectionTimeout)),
		gogrpc.KeepaliveParams(keepalive.ServerParameters{
			Time:                  time.Duration(k.Time),
			Timeout:               time.Duration(k.Timeout),
			MaxConnectionIdle:     time.Duration(k.MaxConnectionIdle),
			MaxConnectionAge:      orInfinity(k.MaxConnectionAge),
			MaxConnectionAgeGrace: time.Duration(k.MaxConnectionAgeGrace),
		}),
		gogrpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             time.Duration(k.MinTime),
			PermitWithoutStream: k.PermitWithoutStream,
		}),
	}
	if opts.MaxSendMsgBytes > 0 {
		out = append(out, gogrpc.MaxSendMsgSize(opts.MaxSendMsgBytes))
	}
	return out
}

// initialWindow is HTTP/2's default stream window.
const initialWindow = 65535

// orInfinity is d, or gRPC's "never" for 0.
func orInfinity(d component.Duration) time.Duration {
	if d == 0 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(d)
}

// GRPC returns the underlying server, e.g. to list its services.
func (s *Server) GRPC() *gogrpc.Server { return s.grpc }

// Health returns the server's grpc.health.v1 state.
func (s *Server) Health() *Health { return s.health }

// Drain returns what tells the server's services that it stops.
func (s *Server) Drain() *Drain { return s.drain }

// Start binds the port and serves in the background. The error names the
// listener and address.
func (s *Server) Start(context.Context) error {
	if err := s.Serve(s.grpc.Serve); err != nil {
		return err
	}
	if s.readyOnStart {
		s.health.setReady(true)
	}
	s.log.Info("serving", zap.String("listener", Name), zap.String("addr", s.Addr()))
	return nil
}

// Stop drains, then closes what remains: every service reports
// NOT_SERVING, new RPCs are refused with Unavailable, services with
// streams are told to end them (Drain), and in-flight RPCs get the drain
// timeout (or until ctx is done, if sooner) to finish. It is safe before
// Start and more than once.
func (s *Server) Stop(ctx context.Context) error {
	s.health.drain()
	s.drain.begin()
	return s.Shutdown(ctx, func(ctx context.Context) error {
		drainCtx, cancel := context.WithTimeout(ctx, time.Duration(s.opts.DrainTimeout))
		defer cancel()
		drained := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(drained) }()
		select {
		case <-drained:
		case <-drainCtx.Done():
			s.log.Warn("drain deadline passed; closing remaining connections", zap.String("listener", Name),
				zap.Duration("drainTimeout", time.Duration(s.opts.DrainTimeout)))
			s.grpc.Stop()
			<-drained
		}
		return nil
	}, gogrpc.ErrServerStopped)
}
