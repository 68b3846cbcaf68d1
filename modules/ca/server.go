package ca

import (
	"context"
	"math"
	"sort"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pb "istio.io/api/security/v1alpha1"
)

// Service implements istio.v1.auth.IstioCertificateService, the API Istio's
// agents use to get workload certificates.
type Service struct {
	pb.UnimplementedIstioCertificateServiceServer

	ca      *CA
	log     *zap.Logger
	metrics *Metrics
	authn   []Authenticator
}

// NewService serves ca, authenticating callers with the client certificate
// first and then extra in Name order.
func NewService(ca *CA, log *zap.Logger, extra []Authenticator) *Service {
	extra = append([]Authenticator(nil), extra...)
	sort.SliceStable(extra, func(i, j int) bool { return extra[i].Name() < extra[j].Name() })
	chain := append([]Authenticator{ClientCertAuthenticator{TrustDomain: ca.TrustDomain()}}, extra...)
	if log == nil {
		log = zap.NewNop()
	}
	return &Service{ca: ca, log: log, metrics: ca.metrics, authn: chain}
}

// Register adds the service to a gRPC server.
func (s *Service) Register(r grpc.ServiceRegistrar) {
	pb.RegisterIstioCertificateServiceServer(r, s)
}

// CreateCertificate signs the request's CSR for the authenticated caller.
func (s *Service) CreateCertificate(ctx context.Context, req *pb.IstioCertificateRequest) (*pb.IstioCertificateResponse, error) {
	s.metrics.csrCount.Inc()
	caller, err := authenticate(ctx, s.authn)
	if err != nil {
		s.metrics.authnFailures.Inc()
		s.log.Info("CA request not authenticated", zap.Error(err))
		return nil, status.Error(codes.Unauthenticated, "request authenticate failure: "+err.Error())
	}
	ttl := validity(req.GetValidityDuration())
	chain, err := s.ca.Sign([]byte(req.GetCsr()), caller.Identities, ttl)
	if err != nil {
		kind := KindOf(err)
		s.metrics.signErrors.WithLabelValues(string(kind)).Inc()
		s.log.Info("CA request failed", zap.Strings("identities", caller.Identities), zap.Error(err))
		return nil, status.Error(codeOf(kind), err.Error())
	}
	s.metrics.success.Inc()
	return &pb.IstioCertificateResponse{CertChain: chain}, nil
}

// validity converts the request's seconds to a Duration, saturating instead
// of overflowing: a huge request must fail the max TTL check, not wrap around
// to a short or default lifetime.
func validity(secs int64) time.Duration {
	switch {
	case secs > int64(math.MaxInt64/time.Second):
		return math.MaxInt64
	case secs < int64(math.MinInt64/time.Second):
		return math.MinInt64
	}
	return time.Duration(secs) * time.Second
}

// codeOf maps a signing failure to the status code istiod returns for it.
func codeOf(kind ErrorKind) codes.Code {
	switch kind {
	case ErrCSR, ErrTTL, ErrNoIdentity:
		return codes.InvalidArgument
	default:
		return codes.Internal
	}
}
