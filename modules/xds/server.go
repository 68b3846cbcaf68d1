package xds

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	sotw "github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"go.uber.org/zap"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/bootgraph/bootgraph/modules/ca"
	grpcmod "github.com/bootgraph/bootgraph/modules/grpc"
)

// ServiceName is the gRPC service the server registers: ADS, state of the
// world (StreamAggregatedResources) and delta (DeltaAggregatedResources).
const ServiceName = "envoy.service.discovery.v3.AggregatedDiscoveryService"

// ServerConfig configures NewServer.
type ServerConfig struct {
	// TrustDomain the SPIFFE identities of client certificates must belong
	// to. Default "cluster.local".
	TrustDomain string
	// Roots verify client certificates (the listener only requests them;
	// see modules/grpc). Without Roots, a client certificate is refused.
	Roots func() *x509.CertPool
	// Authenticators are tried, in Name order, for a caller without a
	// client certificate (the CA's token file, Kubernetes TokenReview).
	Authenticators []ca.Authenticator
	// Log may be nil.
	Log *zap.Logger
	// Metrics may be nil: counted, not exported.
	Metrics *Metrics
}

// Server is the xDS server: go-control-plane's ADS handlers (state of the
// world and delta) on the snapshot cache of a Snapshots, behind the
// plane's authentication and its drain.
//
// Every stream is authenticated as the CA service authenticates a request:
// the client certificate first (a SPIFFE identity of the trust domain),
// then the other authenticators. A stream without credentials ends with
// Unauthenticated; one whose node.id is not one of its caller's
// identities ends with PermissionDenied. When ctx (the plane's drain) is
// done, every stream ends with Unavailable, so its client reconnects to
// another replica.
type Server struct {
	ctx       context.Context
	xds       serverv3.Server
	snapshots *Snapshots
	authn     []ca.Authenticator
	log       *zap.Logger
	metrics   *Metrics

	mu      sync.Mutex
	streams map[streamKey]*streamState
}

// streamKey names a stream: go-control-plane numbers state-of-the-world
// and delta streams apart.
type streamKey struct {
	delta bool
	id    int64
}

// streamState is what the server knows of one stream.
type streamState struct {
	caller  *ca.Caller
	peer    string
	node    string // once the first request named it
	version string // its pilot_xds label
}

// NewServer serves snaps until ctx is done.
func NewServer(ctx context.Context, snaps *Snapshots, cfg ServerConfig) *Server {
	if cfg.TrustDomain == "" {
		cfg.TrustDomain = DefaultTrustDomain
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	extra := slices.Clone(cfg.Authenticators)
	sort.SliceStable(extra, func(i, j int) bool { return extra[i].Name() < extra[j].Name() })
	s := &Server{
		ctx:       ctx,
		snapshots: snaps,
		authn:     append([]ca.Authenticator{ca.ClientCertAuthenticator{TrustDomain: cfg.TrustDomain, Roots: cfg.Roots}}, extra...),
		log:       cfg.Log,
		metrics:   cfg.Metrics,
		streams:   map[streamKey]*streamState{},
	}
	s.xds = serverv3.NewServer(ctx, snaps.Cache(), callbacks{s}, sotw.WithLogger(cacheLogger(cfg.Log)))
	return s
}

// Register adds ADS, state of the world and delta, to r.
func (s *Server) Register(r grpcmod.ServiceRegistrar) {
	discovery.RegisterAggregatedDiscoveryServiceServer(r, ads{s})
}

// Snapshots returns what the server serves.
func (s *Server) Snapshots() *Snapshots { return s.snapshots }

// ads is the gRPC service; its methods are not Server's own API.
type ads struct{ s *Server }

// StreamAggregatedResources serves a state-of-the-world ADS stream.
func (a ads) StreamAggregatedResources(st discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	ctx, err := a.s.authenticate(st.Context())
	if err != nil {
		return err
	}
	return a.s.end(a.s.xds.StreamAggregatedResources(&sotwStream{st, ctx, a.s.metrics}))
}

// DeltaAggregatedResources serves a delta ADS stream.
func (a ads) DeltaAggregatedResources(st discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	ctx, err := a.s.authenticate(st.Context())
	if err != nil {
		return err
	}
	return a.s.end(a.s.xds.DeltaAggregatedResources(&deltaStream{st, ctx, a.s.metrics}))
}

// end is a stream's status: Unavailable when the drain ended it.
func (s *Server) end(err error) error {
	if s.ctx.Err() != nil && (err == nil || status.Code(err) == codes.Canceled || errors.Is(err, context.Canceled)) {
		return grpcmod.ErrDraining
	}
	return err
}

type callerKey struct{}

// authenticate finds the stream's caller: the client certificate, then
// the other authenticators; the returned context carries it.
func (s *Server) authenticate(ctx context.Context) (context.Context, error) {
	var reasons []string
	for _, a := range s.authn {
		caller, err := a.Authenticate(ctx)
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("%s: %v", a.Name(), err))
			continue
		}
		if caller != nil {
			return context.WithValue(ctx, callerKey{}, caller), nil
		}
	}
	reason := "no credentials: present a client certificate or an authorization bearer token"
	if len(reasons) > 0 {
		reason = strings.Join(reasons, "; ")
	}
	s.log.Info("xDS stream not authenticated", zap.String("peer", peerAddr(ctx)), zap.String("reason", reason))
	return nil, status.Error(codes.Unauthenticated, "xDS stream not authenticated: "+reason)
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// sotwStream is a state-of-the-world stream with its caller and metrics.
type sotwStream struct {
	discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer
	ctx     context.Context
	metrics *Metrics
}

func (w *sotwStream) Context() context.Context { return w.ctx }

func (w *sotwStream) Send(r *discovery.DiscoveryResponse) error {
	err := w.AggregatedDiscoveryService_StreamAggregatedResourcesServer.Send(r)
	w.metrics.push(r.GetTypeUrl(), err)
	return err
}

// deltaStream is a delta stream with its caller and metrics.
type deltaStream struct {
	discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesServer
	ctx     context.Context
	metrics *Metrics
}

func (w *deltaStream) Context() context.Context { return w.ctx }

func (w *deltaStream) Send(r *discovery.DeltaDiscoveryResponse) error {
	err := w.AggregatedDiscoveryService_DeltaAggregatedResourcesServer.Send(r)
	w.metrics.push(r.GetTypeUrl(), err)
	return err
}

// open records a stream that go-control-plane opened.
func (s *Server) open(ctx context.Context, key streamKey) error {
	caller, _ := ctx.Value(callerKey{}).(*ca.Caller)
	if caller == nil { // only streams that authenticate reach go-control-plane
		return status.Error(codes.Unauthenticated, "xDS stream not authenticated")
	}
	s.mu.Lock()
	s.streams[key] = &streamState{caller: caller, peer: peerAddr(ctx)}
	s.mu.Unlock()
	return nil
}

// request checks a request's node against the stream's caller, and counts
// a NACK. go-control-plane calls it from the stream's goroutine, as it
// does open and closed.
func (s *Server) request(key streamKey, node *corev3.Node, typeURL, nonce string, nack *rpcstatus.Status) error {
	s.mu.Lock()
	st := s.streams[key]
	s.mu.Unlock()
	if st == nil {
		return status.Error(codes.Internal, "unknown xDS stream")
	}
	id := node.GetId()
	switch {
	case st.node == "":
		if !slices.Contains(st.caller.Identities, id) {
			s.log.Info("xDS node refused: its ID is not its caller's identity", zap.String("node", id),
				zap.Strings("identities", st.caller.Identities), zap.String("authSource", st.caller.AuthSource), zap.String("peer", st.peer))
			return status.Errorf(codes.PermissionDenied, "node.id %q is not the caller's identity %s: set node.id to it",
				id, strings.Join(st.caller.Identities, " or "))
		}
		st.node, st.version = id, clientVersion(node)
		s.snapshots.attach(id)
		s.metrics.connected(st.version, 1)
		s.log.Info("xDS client connected", zap.String("node", id), zap.String("peer", st.peer),
			zap.Bool("delta", key.delta), zap.String("authSource", st.caller.AuthSource))
	case node == nil:
		// Delta requests after the first may leave the node out.
	case id != st.node:
		return status.Errorf(codes.PermissionDenied, "node.id changed from %q to %q on one stream", st.node, id)
	}
	if nack != nil {
		s.metrics.reject(typeURL)
		s.log.Warn("xDS client rejected a response", zap.String("node", id), zap.String("type", typeURL),
			zap.String("nonce", nonce), zap.String("error", nack.GetMessage()))
	}
	return nil
}

// closed forgets a stream.
func (s *Server) closed(key streamKey) {
	s.mu.Lock()
	st := s.streams[key]
	delete(s.streams, key)
	s.mu.Unlock()
	if st == nil || st.node == "" {
		return
	}
	s.snapshots.detach(st.node)
	s.metrics.connected(st.version, -1)
	s.log.Info("xDS client disconnected", zap.String("node", st.node), zap.String("peer", st.peer), zap.Bool("delta", key.delta))
}

// clientVersion is a node's pilot_xds label: istiod's ISTIO_VERSION
// metadata, else the client's user agent version ("1.85.0" for gRPC-Go).
func clientVersion(n *corev3.Node) string {
	if v := n.GetMetadata().GetFields()["ISTIO_VERSION"].GetStringValue(); v != "" {
		return v
	}
	return n.GetUserAgentVersion()
}

// callbacks are go-control-plane's hooks into the server.
type callbacks struct{ s *Server }

var _ serverv3.Callbacks = callbacks{}

func (c callbacks) OnStreamOpen(ctx context.Context, id int64, _ string) error {
	return c.s.open(ctx, streamKey{id: id})
}

func (c callbacks) OnStreamClosed(id int64, _ *corev3.Node) { c.s.closed(streamKey{id: id}) }

func (c callbacks) OnStreamRequest(id int64, r *discovery.DiscoveryRequest) error {
	return c.s.request(streamKey{id: id}, r.GetNode(), r.GetTypeUrl(), r.GetResponseNonce(), r.GetErrorDetail())
}

func (c callbacks) OnStreamResponse(context.Context, int64, *discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {
}

func (c callbacks) OnDeltaStreamOpen(ctx context.Context, id int64, _ string) error {
	return c.s.open(ctx, streamKey{delta: true, id: id})
}

func (c callbacks) OnDeltaStreamClosed(id int64, _ *corev3.Node) {
	c.s.closed(streamKey{delta: true, id: id})
}

func (c callbacks) OnStreamDeltaRequest(id int64, r *discovery.DeltaDiscoveryRequest) error {
	return c.s.request(streamKey{delta: true, id: id}, r.GetNode(), r.GetTypeUrl(), r.GetResponseNonce(), r.GetErrorDetail())
}

func (c callbacks) OnStreamDeltaResponse(int64, *discovery.DeltaDiscoveryRequest, *discovery.DeltaDiscoveryResponse) {
}

// OnFetchRequest refuses REST fetches: the server registers none, and a
// fetch would bypass the node check.
func (c callbacks) OnFetchRequest(context.Context, *discovery.DiscoveryRequest) error {
	return status.Error(codes.Unimplemented, "xDS fetch is not served")
}

func (c callbacks) OnFetchResponse(*discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {}

// cacheLogger adapts log to go-control-plane's logger. Its info messages
// are per request (a stale nonce skipped, a watch opened), so they go to
// debug.
func cacheLogger(log *zap.Logger) logAdapter { return logAdapter{log.Sugar()} }

type logAdapter struct{ l *zap.SugaredLogger }

func (a logAdapter) Debugf(format string, args ...any) { a.l.Debugf(format, args...) }
func (a logAdapter) Infof(format string, args ...any)  { a.l.Debugf(format, args...) }
func (a logAdapter) Warnf(format string, args ...any)  { a.l.Warnf(format, args...) }
func (a logAdapter) Errorf(format string, args ...any) { a.l.Errorf(format, args...) }

var _ discovery.AggregatedDiscoveryServiceServer = ads{}
