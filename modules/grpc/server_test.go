package grpc_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/component/grpcservice"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	grpcmod "github.com/bootgraph/bootgraph/modules/grpc"
)

const caServiceName = "istio.v1.auth.IstioCertificateService"

func TestServerHealthAndReflection(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	bundle := testutil.NewBundle(t, c)
	s, _ := startServer(t, grpcmod.Options{}, bundle, nil, ca.NewService(c, nil, nil))
	conn := dial(t, s.Addr(), c.Roots(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var p peer.Peer
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, gogrpc.Peer(&p))
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
	tlsInfo, ok := p.AuthInfo.(credentials.TLSInfo)
	require.True(t, ok, "the connection is TLS")
	assert.Equal(t, bundle.Leaf().SerialNumber, tlsInfo.State.PeerCertificates[0].SerialNumber, "the server presents the bundle's certificate")
	assert.Equal(t, "h2", tlsInfo.State.NegotiatedProtocol)

	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	require.NoError(t, err)
	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}))
	list, err := stream.Recv()
	require.NoError(t, err)
	var names []string
	for _, svc := range list.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	for _, want := range []string{caServiceName, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		assert.Contains(t, names, want)
	}
	// The registered service is described, not only named.
	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: caServiceName},
	}))
	file, err := stream.Recv()
	require.NoError(t, err)
	assert.Nil(t, file.GetErrorResponse())
	assert.NotEmpty(t, file.GetFileDescriptorResponse().GetFileDescriptorProto())
	require.NoError(t, stream.CloseSend())

	infos := s.GRPC().GetServiceInfo()
	assert.Contains(t, infos, caServiceName)
	assert.Len(t, names, len(infos), "reflection lists exactly the registered services")
}

func TestServerClientCertificates(t *testing.T) {
	t.Parallel()
	c, foreign := testutil.NewCA(t), testutil.NewCA(t)
	s, _ := startServer(t, grpcmod.Options{}, testutil.NewBundle(t, c), nil, ca.NewService(c, nil, nil))
	const identity = "spiffe://cluster.local/ns/a/sa/b"
	ownCert := workloadCert(t, c, identity)
	foreignCert := workloadCert(t, foreign, identity)
	noURIChain, noURIKey, err := c.GenKeyCert([]string{"client.example"}, time.Hour)
	require.NoError(t, err)
	noURICert, err := tls.X509KeyPair(noURIChain, noURIKey)
	require.NoError(t, err)

	tests := []struct {
		name        string
		cert        *tls.Certificate
		wantCode    codes.Code
		wantMessage string
	}{
		{"CA-issued client certificate", &ownCert, codes.OK, ""},
		// The CA tells a caller only that authentication failed, as istiod
		// does; the reason is in its log and metrics.
		{"no client certificate", nil, codes.Unauthenticated, "request authenticate failure"},
		{"CA-issued certificate without SPIFFE URI", &noURICert, codes.Unauthenticated, "request authenticate failure"},
		// The certificate is checked by the CA's authenticator, not the
		// handshake: a clear Unauthenticated, not "broken pipe".
		{"foreign CA client certificate", &foreignCert, codes.Unauthenticated, "request authenticate failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client, err := caclient.Dial(caclient.Config{Addr: s.Addr(), RootsPEM: c.RootPEM(), ServerName: "localhost", ClientCert: tt.cert})
			require.NoError(t, err)
			defer client.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			res, err := client.Issue(ctx, caclient.KeyECDSAP256, time.Hour)

			if tt.wantCode == codes.OK {
				require.NoError(t, err)
				require.Len(t, res.Leaf.URIs, 1)
				assert.Equal(t, identity, res.Leaf.URIs[0].String(), "the CA saw the verified client certificate's identity")
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.wantCode, status.Code(err), err.Error())
			assert.Contains(t, err.Error(), tt.wantMessage)
		})
	}
}

// TestServerRequestsClientCertsAtHandshake looks at the raw TLS connection:
// the handshake completes (the server's HTTP/2 SETTINGS arrive) with no
// certificate, a CA-issued one, or a foreign CA's, which is left to the
// services' authenticators (they refuse it with Unauthenticated and say
// why in the log), and the certificate presented is there for them.
func TestServerRequestsClientCertsAtHandshake(t *testing.T) {
	t.Parallel()
	c, foreign := testutil.NewCA(t), testutil.NewCA(t)
	s, _ := startServer(t, grpcmod.Options{}, testutil.NewBundle(t, c), nil)
	own := workloadCert(t, c, "spiffe://cluster.local/ns/a/sa/b")
	alien := workloadCert(t, foreign, "spiffe://cluster.local/ns/a/sa/b")

	tests := []struct {
		name    string
		certs   []tls.Certificate
		wantErr string
	}{
		{"no client certificate", nil, ""},
		{"CA-issued client certificate", []tls.Certificate{own}, ""},
		{"foreign CA client certificate", []tls.Certificate{alien}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", s.Addr(), &tls.Config{
				RootCAs: c.Roots(), ServerName: "localhost", NextProtos: []string{"h2"}, Certificates: tt.certs,
			})
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))

			n, err := conn.Read(make([]byte, 64))

			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Positive(t, n)
			assert.Equal(t, "h2", conn.ConnectionState().NegotiatedProtocol)
		})
	}
}

// TestServerServingCertHotReload shows that a new connection to the running
// server sees a certificate set into the bundle after Start.
func TestServerServingCertHotReload(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	bundle := testutil.NewBundle(t, c)
	s, _ := startServer(t, grpcmod.Options{}, bundle, nil)
	serialOf := func() string {
		conn := dial(t, s.Addr(), c.Roots(), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var p peer.Peer
		_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, gogrpc.Peer(&p))
		require.NoError(t, err)
		require.NoError(t, conn.Close())
		return p.AuthInfo.(credentials.TLSInfo).State.PeerCertificates[0].SerialNumber.String()
	}
	first := bundle.Leaf().SerialNumber.String()
	require.Equal(t, first, serialOf())

	chain, key, err := c.GenKeyCert([]string{"localhost"}, time.Hour)
	require.NoError(t, err)
	require.NoError(t, bundle.Set(chain, key, c.RootPEM()))
	second := bundle.Leaf().SerialNumber.String()
	require.NotEqual(t, first, second)

	assert.Equal(t, second, serialOf())
}

func TestServerStartAddressInUse(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	addr := taken.Addr().String()
	c := testutil.NewCA(t)
	s := grpcmod.NewServer(grpcmod.Options{Addr: addr}, testutil.NewBundle(t, c), zap.NewNop(), nil)

	err = s.Start(context.Background())

	require.Error(t, err)
	assert.Contains(t, err.Error(), "secure-grpc")
	assert.Contains(t, err.Error(), addr)
	assert.ErrorContains(t, s.Ready(context.Background()), "not listening")
}

func TestServerReadyAndAddr(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	bundle := testutil.NewBundle(t, c)
	s := grpcmod.NewServer(grpcmod.Options{Addr: "127.0.0.1:0"}, bundle, zap.NewNop(), nil)
	var _ component.Listener = s
	assert.Equal(t, grpcmod.Name, s.Name())
	assert.Equal(t, "secure-grpc", s.Name())
	assert.Equal(t, "127.0.0.1:0", s.Addr(), "before Start, Addr is the configured address")
	err := s.Ready(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not listening")
	assert.Contains(t, err.Error(), "secure-grpc")

	require.NoError(t, s.Start(context.Background()))
	defer func() { assert.NoError(t, s.Stop(context.Background())) }()

	require.NoError(t, s.Ready(context.Background()))
	host, port, err := net.SplitHostPort(s.Addr())
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	assert.NotZero(t, n, "Addr is the bound port, not :0")
	probe, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	require.NoError(t, err, "Addr is where the server listens")
	probe.Close()

	// Readiness also requires a currently valid serving certificate.
	certPEM, keyPEM := testutil.Expired(t)
	require.NoError(t, bundle.Set(certPEM, keyPEM, c.RootPEM()))
	err = s.Ready(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "expired")
	assert.Contains(t, err.Error(), s.Addr())
}

func TestServerStopDrainsInFlightCalls(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	b := newBlocker()
	// A drain timeout longer than the test: the call must be waited for.
	s, stop := startServer(t, grpcmod.Options{DrainTimeout: component.Duration(time.Minute)}, testutil.NewBundle(t, c), nil, b.service())
	addr := s.Addr()
	conn := dial(t, addr, c.Roots(), nil)
	result := b.call(conn)
	waitEntered(t, b)

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		stopped <- stop(ctx)
	}()
	// Draining closes the listener first: once new connections are refused,
	// Stop is waiting for the in-flight call.
	require.Eventually(t, func() bool {
		probe, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		probe.Close()
		return false
	}, 10*time.Second, 5*time.Millisecond, "Stop never closed the listener")
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a call was still in flight", err)
	default:
	}

	close(b.release)

	require.NoError(t, recvErr(t, result), "the in-flight call completes successfully")
	require.NoError(t, recvErr(t, stopped))
}

func TestServerStopExpiredContextForcesClose(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	b := newBlocker()
	core, logs := observer.New(zapcore.WarnLevel)
	s, stop := startServer(t, grpcmod.Options{}, testutil.NewBundle(t, c), zap.New(core), b.service())
	conn := dial(t, s.Addr(), c.Roots(), nil)
	result := b.call(conn)
	waitEntered(t, b)
	expired, cancel := context.WithCancel(context.Background())
	cancel()

	stopped := make(chan error, 1)
	go func() { stopped <- stop(expired) }()

	require.NoError(t, recvErr(t, stopped), "Stop returns although the call never finished")
	err := recvErr(t, result)
	require.Error(t, err, "the in-flight call was cut off")
	assert.Equal(t, codes.Unavailable, status.Code(err), err.Error())
	assert.Equal(t, 1, logs.FilterMessage("drain deadline passed; closing remaining connections").Len())
}

func TestServerStopNotifiesHealthWatchers(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, stop := startServer(t, grpcmod.Options{}, testutil.NewBundle(t, c), nil)
	conn := dial(t, s.Addr(), c.Roots(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	watch, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	first, err := watch.Recv()
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, first.GetStatus())

	stopped := make(chan error, 1)
	go func() {
		stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer stopCancel()
		stopped <- stop(stopCtx)
	}()

	next, err := watch.Recv()
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, next.GetStatus(), "Stop reports NOT_SERVING before draining")
	cancel() // end the watch so the drain can finish
	require.NoError(t, recvErr(t, stopped))
}

func TestOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       grpcmod.Options
		defaults bool
		wantAddr string
		wantErr  string
	}{
		{"defaults", grpcmod.Options{}, true, grpcmod.DefaultAddr, ""},
		{"explicit kept", grpcmod.Options{Addr: ":15012"}, true, ":15012", ""},
		{"empty is invalid", grpcmod.Options{}, false, "", "addr: must not be empty"},
		{"not host:port", grpcmod.Options{Addr: "15012"}, false, "15012", `addr: "15012" is not host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := tt.in
			if tt.defaults {
				o.SetDefaults()
			}
			assert.Equal(t, tt.wantAddr, o.Addr)
			if tt.wantErr == "" {
				assert.NoError(t, o.Validate())
			} else {
				err := o.Validate()
				require.Error(t, err)
				assert.True(t, strings.HasPrefix(err.Error(), tt.wantErr), "error %q is relative to the options", err)
			}
		})
	}
	assert.Equal(t, "127.0.0.1:15012", grpcmod.DefaultAddr)
}

func TestModule(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	b := newBlocker()
	close(b.release) // calls return at once
	var (
		s         *grpcmod.Server
		listeners []component.Listener
	)
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(testutil.NewBundle(t, c), c),
		fx.Provide(zap.NewNop),
		grpcmod.Register(b.register),
		// A service built from the graph: it needs the *ca.CA supplied above.
		grpcmod.ProvideService(func(c *ca.CA) *ca.Service { return ca.NewService(c, nil, nil) }),
		// The out struct a part (the CA) uses to add its service.
		fx.Provide(func() grpcservice.Out { return grpcservice.Out{Service: echoService()} }),
		grpcmod.Module(grpcmod.Options{Addr: "127.0.0.1:0"}),
		fx.Populate(&s),
		fx.Invoke(func(in component.ListenersIn) { listeners = in.Listeners }),
	)
	require.Error(t, s.Ready(context.Background()), "not listening before OnStart")
	app.RequireStart()

	require.NoError(t, s.Ready(context.Background()))
	infos := s.GRPC().GetServiceInfo()
	assert.Contains(t, infos, blockerService, "joined through grpc.Register")
	assert.Contains(t, infos, caServiceName, "joined through grpc.ProvideService")
	assert.Contains(t, infos, echoServiceName, "joined through grpcservice.Out")
	require.Len(t, listeners, 1)
	assert.Same(t, s, listeners[0], "the server joins bootgraph.listeners")

	// Every service is reachable over TLS, not only registered.
	conn := dial(t, s.Addr(), c.Roots(), nil)
	require.NoError(t, recvErr(t, b.call(conn)))
	require.Len(t, b.entered, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var echoed wrapperspb.StringValue
	require.NoError(t, conn.Invoke(ctx, echoMethod, wrapperspb.String("hello"), &echoed))
	assert.Equal(t, "hello", echoed.GetValue())
	// The CA service answers (it refuses a caller without credentials);
	// an unregistered one would say Unimplemented.
	client, err := caclient.Dial(caclient.Config{Addr: s.Addr(), RootsPEM: c.RootPEM(), ServerName: "localhost"})
	require.NoError(t, err)
	defer client.Close()
	_, err = client.Issue(ctx, caclient.KeyECDSAP256, time.Hour)
	require.Error(t, err)
	assert.Equal(t, codes.Unauthenticated, status.Code(err), err.Error())

	app.RequireStop()
	assert.ErrorContains(t, s.Ready(context.Background()), "not listening", "OnStop closed the listener")
}

// A service constructor that fails makes the composition fail with its error.
func TestProvideServiceError(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	app := fx.New(
		fx.NopLogger,
		fx.Supply(testutil.NewBundle(t, c)),
		fx.Provide(zap.NewNop),
		grpcmod.ProvideService(func() (*ca.Service, error) { return nil, errors.New("no service today") }),
		grpcmod.Module(grpcmod.Options{Addr: "127.0.0.1:0"}),
	)
	require.Error(t, app.Err())
	assert.Contains(t, app.Err().Error(), "no service today")
}

func TestProvideServiceRejectsBadConstructor(t *testing.T) {
	t.Parallel()
	for _, ctor := range []any{nil, "not a func", func() {}, func() string { return "" }} {
		err := fx.New(fx.NopLogger, grpcmod.ProvideService(ctor)).Err()
		require.Error(t, err, "%T", ctor)
		assert.Contains(t, err.Error(), "want a constructor whose first result implements grpcservice.Service")
	}
}

func TestModuleInvalidOptions(t *testing.T) {
	t.Parallel()
	err := fx.New(fx.NopLogger, grpcmod.Module(grpcmod.Options{Addr: "15012"})).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `grpc part: grpc.Options.Addr: "15012" is not host:port`)
	var optsErr *component.OptionsError
	require.ErrorAs(t, err, &optsErr)
	assert.Equal(t, "grpc", optsErr.Part)
}

// Stop is safe before Start and twice: it returns instead of waiting for a
// server that never ran.
func TestServerStopWithoutStart(t *testing.T) {
	c := testutil.NewCA(t)
	s := grpcmod.NewServer(grpcmod.Options{Addr: "127.0.0.1:0"}, testutil.NewBundle(t, c), zap.NewNop(), nil)
	require.NoError(t, s.Stop(context.Background()))
}
