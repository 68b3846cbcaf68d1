package ca

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
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
	trusted []string // "namespace/serviceaccount" that may impersonate
	nodes   NodeAuthorizer
}

// Istiod's answers to a refused caller: the reason goes to the log and
// the metrics, never to the caller.
const (
	msgAuthnFailure         = "request authenticate failure"
	msgImpersonationFailure = "request impersonation authentication failure"
)

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
	chain := append([]Authenticator{ClientCertAuthenticator{TrustDomain: ca.TrustDomain(), Roots: ca.Roots}}, extra...)
	if log == nil {
		log = zap.NewNop()
	}
	log = log.WithOptions(zap.WrapCore(func(core zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(core, refusalLogTick, refusalLogBurst, refusalLogThereafter)
	}))
	return &Service{ca: ca, log: log, metrics: ca.metrics, authn: chain, trusted: slices.Clone(ca.opts.TrustedNodeAccounts)}
}

// WithNodeAuthorizer makes s check, for a trusted node account's
// ImpersonatedIdentity, that the identity runs on the caller's node.
func (s *Service) WithNodeAuthorizer(na NodeAuthorizer) *Service {
	s.nodes = na
	return s
}

// Register adds the service to a gRPC server.
func (s *Service) Register(r grpc.ServiceRegistrar) {
	pb.RegisterIstioCertificateServiceServer(r, s)
}

// CreateCertificate signs the request's CSR for the authenticated caller,
// or for the identity it impersonates when it may.
func (s *Service) CreateCertificate(ctx context.Context, req *pb.IstioCertificateRequest) (*pb.IstioCertificateResponse, error) {
	s.metrics.csrCount.Inc()
	caller, reason, err := authenticate(ctx, s.authn)
	if err != nil {
		s.metrics.authnFailures.Inc()
		s.metrics.authnReasons.WithLabelValues(reason).Inc()
		s.log.Info("CA request not authenticated", zap.String("peer", peerAddr(ctx)), zap.Error(err))
		return nil, status.Error(codes.Unauthenticated, msgAuthnFailure)
	}
	if n := proto.Size(req.GetMetadata()); n > MaxMetadataSize {
		err := signErr(ErrRequest, fmt.Errorf("the request's metadata is %d bytes, more than the %d accepted", n, MaxMetadataSize))
		s.metrics.signErrors.WithLabelValues(string(ErrRequest)).Inc()
		s.log.Info("CA request failed", zap.Strings("identities", caller.Identities), zap.Error(err))
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	identities := caller.Identities
	if imp := impersonatedIdentity(req); imp != "" {
		id, err := s.authorizeImpersonation(ctx, caller, imp)
		if err != nil {
			s.metrics.authnFailures.Inc()
			s.metrics.authnReasons.WithLabelValues("impersonation").Inc()
			s.log.Warn("CA request: impersonation refused", zap.String("peer", peerAddr(ctx)),
				zap.Strings("caller", caller.Identities), zap.Error(err))
			return nil, status.Error(codes.Unauthenticated, msgImpersonationFailure)
		}
		identities = []string{id}
	}
	ttl := validity(req.GetValidityDuration())
	chain, err := s.ca.Sign([]byte(req.GetCsr()), identities, ttl)
	if err != nil {
		kind := KindOf(err)
		s.metrics.signErrors.WithLabelValues(string(kind)).Inc()
		s.log.Info("CA request failed", zap.Strings("identities", identities), zap.Error(err))
		return nil, status.Error(codeOf(kind), err.Error())
	}
	s.metrics.success.Inc()
	return &pb.IstioCertificateResponse{CertChain: chain}, nil
}

// peerAddr is the caller's address, for the log.
func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
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
