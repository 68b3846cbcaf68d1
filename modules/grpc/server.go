package grpc

import (
	"context"
	"crypto/tls"

	"go.uber.org/zap"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// Name is the listener's name in logs, errors and readiness.
const Name = "secure-grpc"

// Server is the secure gRPC listener.
type Server struct {
	*component.Binding // Name, Addr, Ready

	log    *zap.Logger
	grpc   *gogrpc.Server
	health *health.Server
}

// NewServer builds the server and registers services on it; it does not
// listen until Start.
func NewServer(opts Options, bundle *servingcert.Bundle, log *zap.Logger, services []Service) *Server {
	tlsCfg := bundle.ServerTLSConfig(&tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.VerifyClientCertIfGiven,
		NextProtos: []string{"h2"}, // gRPC requires ALPN h2
	})
	s := &Server{
		Binding: component.NewBinding(Name, opts.Addr, bundle.Valid),
		log:     log,
		grpc:    gogrpc.NewServer(gogrpc.Creds(credentials.NewTLS(tlsCfg))),
		health:  health.NewServer(),
	}
	for _, svc := range services {
		svc.Register(s.grpc)
	}
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	return s
}

// GRPC returns the underlying server, e.g. to list its services.
func (s *Server) GRPC() *gogrpc.Server { return s.grpc }

// Start binds the port and serves in the background. The error names the
// listener and address.
func (s *Server) Start(context.Context) error {
	if err := s.Serve(s.grpc.Serve); err != nil {
		return err
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.log.Info("serving", zap.String("listener", Name), zap.String("addr", s.Addr()))
	return nil
}

// Stop drains in-flight calls until ctx is done, then closes the rest. It
// is safe before Start and more than once.
func (s *Server) Stop(ctx context.Context) error {
	return s.Shutdown(ctx, func(ctx context.Context) error {
		s.health.Shutdown()
		drained := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(drained) }()
		select {
		case <-drained:
		case <-ctx.Done():
			s.log.Warn("drain deadline passed; closing remaining connections", zap.String("listener", Name))
			s.grpc.Stop()
			<-drained
		}
		return nil
	}, gogrpc.ErrServerStopped)
}
