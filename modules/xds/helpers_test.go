package xds_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
	grpcmod "github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/xds"
)

// A bound for what should take milliseconds, so that a broken test fails
// instead of hanging; never a wait for something to happen.
const bound = 30 * time.Second

// testPlane is a plane in the test process: the CA, the serving
// certificate, the secure gRPC listener on a free port and the xDS part.
type testPlane struct {
	*bootgraph.Plane
	ca      *ca.CA
	addr    string
	snaps   *xds.Snapshots
	gather  prometheus.Gatherer
	dataDir string
}

// startPlane starts a plane with opts, logging to log (nil: nowhere), and
// stops it when the test ends.
func startPlane(t testing.TB, opts xds.Options, log *zap.Logger, parts ...fx.Option) *testPlane {
	t.Helper()
	p := buildPlane(t, opts, log, parts...)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	return p
}

func buildPlane(t testing.TB, opts xds.Options, log *zap.Logger, parts ...fx.Option) *testPlane {
	t.Helper()
	if log == nil {
		log = zap.NewNop()
	}
	tp := &testPlane{dataDir: t.TempDir()}
	var srv *grpcmod.Server
	p, err := bootgraph.New(bootgraph.Options{Logger: log},
		append([]fx.Option{
			component.SupplyEnv(component.Env{DataDir: tp.dataDir}),
			ca.Module(ca.Options{}),
			servingcert.Module(servingcert.Options{}),
			grpcmod.Module(grpcmod.Options{Addr: "127.0.0.1:0"}),
			xds.Module(opts),
			fx.Populate(&tp.ca, &srv, &tp.snaps, &tp.gather),
			fx.Invoke(func(lc fx.Lifecycle) {
				lc.Append(fx.StartHook(func() { tp.addr = srv.Addr() }))
			}),
		}, parts...)...)
	require.NoError(t, err)
	tp.Plane = p
	return tp
}

// token is the plane's local token for default/default.
func (p *testPlane) token(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dataDir, ca.TokenFileName))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			return strings.Split(line, ",")[0]
		}
	}
	t.Fatal("no token in the token file")
	return ""
}

// metric returns the value of the metric name with labels, 0 if absent.
func (p *testPlane) metric(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := p.gather.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if matches(m, labels) {
				if f.GetType() == dto.MetricType_GAUGE {
					return m.GetGauge().GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func matches(m *dto.Metric, labels map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range labels {
		if got[k] != v {
			return false
		}
	}
	return true
}

// workloadCert has c issue a client certificate for identity, as the CA
// service would, and returns it with its chain and key in PEM.
func workloadCert(t testing.TB, c *ca.CA, identity string) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := caclient.NewKey(caclient.KeyECDSAP256)
	require.NoError(t, err)
	csr, err := caclient.NewCSR(key)
	require.NoError(t, err)
	chain, err := c.Sign(csr, []string{identity}, time.Hour)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	chainPEM := []byte(strings.Join(chain[:len(chain)-1], ""))
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(chainPEM, keyPEM)
	require.NoError(t, err)
	return cert, chainPEM, keyPEM
}

// dial connects to the plane's secure listener, trusting roots and
// presenting cert if given.
func dial(t testing.TB, addr string, roots *x509.CertPool, cert *tls.Certificate, opts ...gogrpc.DialOption) *gogrpc.ClientConn {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := gogrpc.NewClient(addr, append([]gogrpc.DialOption{gogrpc.WithTransportCredentials(credentials.NewTLS(cfg))}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// bearer sends an authorization bearer token with every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return true }

// sotw is a state-of-the-world ADS stream, as a client drives it.
type sotw struct {
	discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node *corev3.Node
}

func openSotW(t testing.TB, ctx context.Context, conn *gogrpc.ClientConn, node string) *sotw {
	t.Helper()
	st, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	require.NoError(t, err)
	return &sotw{st, &corev3.Node{Id: node}}
}

// ask requests typeURL's resources (all of them when names is empty).
func (s *sotw) ask(typeURL string, names ...string) error {
	return s.Send(&discovery.DiscoveryRequest{Node: s.node, TypeUrl: typeURL, ResourceNames: names})
}

// ack accepts resp.
func (s *sotw) ack(resp *discovery.DiscoveryResponse, names ...string) error {
	return s.Send(&discovery.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(),
		ResponseNonce: resp.GetNonce(), ResourceNames: names})
}

// recv returns the next response, or fails the test after bound.
func recv[T any](t testing.TB, f func() (T, error)) (T, error) {
	t.Helper()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-time.After(bound):
		t.Fatalf("nothing received in %v", bound)
		var zero T
		return zero, nil
	}
}

// names lists the names of resp's resources.
func names(t testing.TB, resp *discovery.DiscoveryResponse) []string {
	t.Helper()
	var out []string
	for _, a := range resp.GetResources() {
		switch resp.GetTypeUrl() {
		case resource.ClusterType:
			var c clusterv3.Cluster
			require.NoError(t, a.UnmarshalTo(&c))
			out = append(out, c.GetName())
		case resource.EndpointType:
			var c endpointv3.ClusterLoadAssignment
			require.NoError(t, a.UnmarshalTo(&c))
			out = append(out, c.GetClusterName())
		case resource.ListenerType:
			var l listenerv3.Listener
			require.NoError(t, a.UnmarshalTo(&l))
			out = append(out, l.GetName())
		case resource.RouteType:
			var r routev3.RouteConfiguration
			require.NoError(t, a.UnmarshalTo(&r))
			out = append(out, r.GetName())
		}
	}
	return out
}

// cluster is a static cluster named name.
func cluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(time.Second),
	}
}

// greeter is what a proxyless gRPC client needs for xds:///<service>: a
// listener with an HTTP connection manager that takes its routes from RDS,
// the route configuration, an EDS cluster and its endpoints, the backends.
func greeter(t testing.TB, service string, backends ...string) xds.Resources {
	t.Helper()
	ads := &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
	router, err := anypb.New(&routerv3.Router{})
	require.NoError(t, err)
	hcm, err := anypb.New(&hcmv3.HttpConnectionManager{
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: service, ConfigSource: ads}},
		HttpFilters:    []*hcmv3.HttpFilter{{Name: "router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}},
	})
	require.NoError(t, err)
	var lbs []*endpointv3.LbEndpoint
	for _, b := range backends {
		host, port, err := net.SplitHostPort(b)
		require.NoError(t, err)
		var p uint32
		_, err = fmt.Sscan(port, &p)
		require.NoError(t, err)
		lbs = append(lbs, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: p}}}},
		}}})
	}
	return xds.Resources{
		Listeners: []*listenerv3.Listener{{Name: service, ApiListener: &listenerv3.ApiListener{ApiListener: hcm}}},
		Routes: []*routev3.RouteConfiguration{{Name: service, VirtualHosts: []*routev3.VirtualHost{{
			Name: service, Domains: []string{service},
			Routes: []*routev3.Route{{
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: ""}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: service}}},
			}},
		}}}},
		Clusters: []*clusterv3.Cluster{{
			Name:                 service,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
			EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads},
			LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
		}},
		Endpoints: []*endpointv3.ClusterLoadAssignment{{ClusterName: service, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			// gRPC's xDS client needs a locality and its weight.
			Locality:            &corev3.Locality{Zone: "a"},
			LoadBalancingWeight: wrapperspb.UInt32(1),
			LbEndpoints:         lbs,
		}}}},
	}
}

// logged returns a logger that keeps every entry, and a channel on which
// each entry whose message is one of msgs is sent as it is logged.
func logged(msgs ...string) (*zap.Logger, *observer.ObservedLogs, <-chan zapcore.Entry) {
	core, logs := observer.New(zapcore.DebugLevel)
	ch := make(chan zapcore.Entry, 1000)
	log := zap.New(core, zap.Hooks(func(e zapcore.Entry) error {
		if slices.Contains(msgs, e.Message) {
			select {
			case ch <- e:
			default:
			}
		}
		return nil
	}))
	return log, logs, ch
}

// wait receives from ch or fails the test after bound.
func wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(bound):
		t.Fatalf("%s did not happen within %v", what, bound)
		var zero T
		return zero
	}
}

type clusterType = clusterv3.Cluster

func nodeOf(id string) *corev3.Node { return &corev3.Node{Id: id} }
