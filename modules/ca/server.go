package ca

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
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

// Logging of refused requests: per message, the first refusalLogBurst of
// each refusalLogTick are logged, then one in refusalLogThereafter. Every
// refusal is counted in the metrics; the log only has to say what kind of
// refusal happens, and must not let an unauthenticated client fill the
// disk (a client looping on a bad token would otherwise write a line per
// request).
const (
	refusalLogTick       = time.Second
	refusalLogBurst      = 5
	refusalLogThereafter = 1000
)

// MaxMetadataSize bounds the metadata of a request. The CA reads none of
// it; istio-agent sends a few names.
const MaxMetadataSize = 16 << 10

// NewService serves ca, authenticating callers with the client certificate
// first and then extra in Name order. Refusals are logged sampled (see
// refusalLogBurst), and each is counted in the metrics.
func NewService(ca *CA, log *zap.Logger, extra []Authenticator) *Service {
	extra = append([]Authenticator(nil), extra...)
	sort.SliceStable(extra, func(i, j int) bool { return extra[i].Name() < extra[j].Name() })
	chain := append([]Authenticator{ClientCertAuthenticator{TrustDomain: ca.TrustDomain()}}, extra...)
	if log == nil {
		log = zap.NewNop()
	}
	log = log.WithOptions(zap.WrapCore(func(core zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(core, refusalLogTick, refusalLogBurst, refusalLogThereafter)
	}))
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
	chain, err := s.sign(req, caller, ttl)
	if err != nil {
		kind := KindOf(err)
		s.metrics.signErrors.WithLabelValues(string(kind)).Inc()
		s.log.Info("CA request failed", zap.Strings("identities", caller.Identities), zap.Error(err))
		return nil, status.Error(codeOf(kind), err.Error())
	}
	s.metrics.success.Inc()
	return &pb.IstioCertificateResponse{CertChain: chain}, nil
}

// sign bounds the request, then has the CA sign it.
func (s *Service) sign(req *pb.IstioCertificateRequest, caller *Caller, ttl time.Duration) ([]string, error) {
	if n := proto.Size(req.GetMetadata()); n > MaxMetadataSize {
		return nil, signErr(ErrRequest, fmt.Errorf("the request's metadata is %d bytes, more than the %d accepted", n, MaxMetadataSize))
	}
	return s.ca.Sign([]byte(req.GetCsr()), caller.Identities, ttl)
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
	case ErrCSR, ErrTTL, ErrNoIdentity, ErrRequest:
		return codes.InvalidArgument
	case ErrSignerNotValid:
		return codes.FailedPrecondition
	default:
		return codes.Internal
	}
}
