package grpc_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/net/http2"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/testutil"
	grpcmod "github.com/bootgraph/bootgraph/modules/grpc"
)

const (
	followService = "bootgraph.test.Follow"
	followMethod  = "/" + followService + "/Follow"
)

// follower is a streaming service, as xDS is: /bootgraph.test.Follow/Follow
// sends one message, then holds the stream open. A drain-aware follower
// ends its streams with Unavailable when the drain begins.
type follower struct {
	drain  *grpcmod.Drain // nil: ignores the drain
	opened chan struct{}
}

func (f *follower) Register(r gogrpc.ServiceRegistrar) {
	r.RegisterService(&gogrpc.ServiceDesc{
		ServiceName: followService,
		HandlerType: (*any)(nil),
		Streams: []gogrpc.StreamDesc{{
			StreamName:    "Follow",
			ServerStreams: true,
			Handler: func(_ any, stream gogrpc.ServerStream) error {
				if err := stream.RecvMsg(new(emptypb.Empty)); err != nil {
					return err
				}
				if err := stream.SendMsg(&emptypb.Empty{}); err != nil {
					return err
				}
				f.opened <- struct{}{}
				var drained <-chan struct{}
				if f.drain != nil {
					drained = f.drain.Done()
				}
				select {
				case <-drained:
					return grpcmod.ErrDraining
				case <-stream.Context().Done():
					return stream.Context().Err()
				}
			},
		}},
	}, struct{}{})
}

// follow opens a Follow stream on conn, waits for its first message, and
// reports how the stream ends.
func follow(t *testing.T, conn *gogrpc.ClientConn, opened <-chan struct{}) <-chan error {
	t.Helper()
	stream, err := conn.NewStream(context.Background(), &gogrpc.StreamDesc{ServerStreams: true}, followMethod)
	require.NoError(t, err)
	require.NoError(t, stream.SendMsg(&emptypb.Empty{}))
	require.NoError(t, stream.CloseSend())
	require.NoError(t, stream.RecvMsg(new(emptypb.Empty)))
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream never reached its handler")
	}
	ended := make(chan error, 1)
	go func() { ended <- stream.RecvMsg(new(emptypb.Empty)) }()
	return ended
}

// plane builds a plane of the gRPC part and parts, its serving bundle
// supplied, logging to log.
func plane(t *testing.T, log *zap.Logger, opts grpcmod.Options, parts ...fx.Option) (*bootgraph.Plane, *grpcmod.Server, *x509.CertPool) {
	t.Helper()
	c := testutil.NewCA(t)
	var s *grpcmod.Server
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	p, err := bootgraph.New(bootgraph.Options{Logger: log},
		append([]fx.Option{fx.Supply(testutil.NewBundle(t, c)), grpcmod.Module(opts), fx.Populate(&s)}, parts...)...)
	require.NoError(t, err)
	return p, s, c.Roots()
}

// SIGTERM's path with clients attached: streams of a drain-aware service
// end with Unavailable at once, in-flight unary calls complete, and the
// stop takes far less than the drain deadline, with nothing logged as a
// warning or an error.
func TestDrainEndsStreamsAndLetsCallsFinish(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.WarnLevel)
	f := &follower{opened: make(chan struct{}, 100)}
	b := newBlocker()
	p, s, roots := plane(t, zap.New(core), grpcmod.Options{DrainTimeout: component.Duration(time.Minute)},
		grpcmod.ProvideService(func(d *grpcmod.Drain) *follower { f.drain = d; return f }),
		grpcmod.Register(b.register),
		// Registered, so that a call after the drain began is refused by
		// the drain (or by the stopping server), never Unimplemented.
		grpcmod.Register(echoService().Register),
	)
	require.NoError(t, p.Start(context.Background()))
	conn := dial(t, s.Addr(), roots, nil)

	var streams []<-chan error
	for range 20 {
		streams = append(streams, follow(t, conn, f.opened))
	}
	var calls []<-chan error
	for range 5 {
		calls = append(calls, b.call(conn))
		waitEntered(t, b)
	}

	stopped := make(chan error, 1)
	begin := time.Now()
	go func() { stopped <- p.Stop(context.Background()) }()
	for _, ended := range streams {
		err := recvErr(t, ended)
		assert.Equal(t, codes.Unavailable, status.Code(err), "a stream ends with a status the client retries: %v", err)
	}
	// The drain has begun: a new RPC is refused with Unavailable.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := conn.Invoke(ctx, echoMethod, wrapperspb.String("x"), new(wrapperspb.StringValue))
	assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)

	close(b.release)
	for _, c := range calls {
		assert.NoError(t, recvErr(t, c), "an in-flight unary call completes")
	}
	require.NoError(t, recvErr(t, stopped))
	assert.Less(t, time.Since(begin), time.Minute, "the stop did not wait for the drain deadline")
	assert.Zero(t, logs.Len(), "warnings or errors logged: %v", logs.All())
}

// A stream that ignores the drain is cut at the drain deadline, with
// Unavailable for its client, and the stop returns: two budgets, the drain
// deadline well inside the plane's stop timeout.
func TestDrainDeadlineCutsStreamsThatDoNotEnd(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.WarnLevel)
	f := &follower{opened: make(chan struct{}, 10)} // ignores the drain
	p, s, roots := plane(t, zap.New(core), grpcmod.Options{DrainTimeout: component.Duration(300 * time.Millisecond)},
		grpcmod.ProvideService(func() *follower { return f }))
	require.NoError(t, p.Start(context.Background()))
	ended := follow(t, dial(t, s.Addr(), roots, nil), f.opened)

	require.NoError(t, p.Stop(context.Background()), "the stop finishes within the plane's stop timeout")
	err := recvErr(t, ended)
	assert.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.Equal(t, 1, logs.FilterMessage("drain deadline passed; closing remaining connections").Len())
	assert.Equal(t, zapcore.WarnLevel, logs.All()[0].Level, "a cut stream is a warning, not an error")
}

// Every registered service reports SERVING once every listener of the
// plane serves, and NOT_SERVING as soon as the stop begins; a service sets
// its own status through *grpc.Health; Watch follows and ends on drain.
func TestHealthPerService(t *testing.T) {
	t.Parallel()
	var h *grpcmod.Health
	p, s, roots := plane(t, zap.NewNop(), grpcmod.Options{},
		grpcmod.Register(echoService().Register),
		fx.Populate(&h),
		component.Listen[*lateListener](newLateListener),
	)
	st, ok := h.Status(echoServiceName)
	require.True(t, ok)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, st, "not serving before the plane starts")
	require.NoError(t, p.Start(context.Background()))

	// The readiness hook comes after every listener's, the late one too.
	ready, late := -1, -1
	for i, hk := range p.Hooks() {
		switch {
		case strings.HasSuffix(hk.Name, "grpc.registerReadiness()"):
			ready = i
		case strings.Contains(hk.Name, "newLateListener"):
			late = i
		}
	}
	require.GreaterOrEqual(t, late, 0, "%v", p.Hooks())
	assert.Greater(t, ready, late, "readiness after every listener")

	conn := dial(t, s.Addr(), roots, nil)
	health := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, svc := range []string{"", echoServiceName, healthpb.Health_ServiceDesc.ServiceName} {
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		require.NoError(t, err, svc)
		assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus(), svc)
	}
	_, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "helloworld.Greeter"})
	assert.Equal(t, codes.NotFound, status.Code(err))
	list, err := health.List(ctx, &healthpb.HealthListRequest{})
	require.NoError(t, err)
	assert.Contains(t, list.GetStatuses(), echoServiceName)

	watch, err := health.Watch(ctx, &healthpb.HealthCheckRequest{Service: echoServiceName})
	require.NoError(t, err)
	next := func() healthpb.HealthCheckResponse_ServingStatus {
		resp, err := watch.Recv()
		require.NoError(t, err)
		return resp.GetStatus()
	}
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, next())
	h.SetServing(echoServiceName, false)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, next(), "the service's own word")
	h.SetServing(echoServiceName, true)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, next())

	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop(context.Background()) }()
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, next(), "NOT_SERVING while draining")
	_, err = watch.Recv()
	assert.Equal(t, codes.Unavailable, status.Code(err), "the watch ends on drain: %v", err)
	require.NoError(t, recvErr(t, stopped))
}

// lateListener is a listener of the plane besides the gRPC server.
type lateListener struct{ *component.Binding }

func newLateListener() *lateListener {
	return &lateListener{component.NewBinding("late", "127.0.0.1:0", nil)}
}

func (l *lateListener) Start(context.Context) error {
	return l.Serve(func(ln net.Listener) error {
		for {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			c.Close()
		}
	})
}

func (l *lateListener) Stop(ctx context.Context) error {
	return l.Shutdown(ctx, nil, net.ErrClosed)
}

// The options reach the server: the message size limit, the handshake
// timeout, and the stream limit it announces in its HTTP/2 SETTINGS.
func TestServerOptionsInEffect(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, _ := startServer(t, grpcmod.Options{
		MaxRecvMsgBytes:      1024,
		MaxConcurrentStreams: 7,
		ConnectionTimeout:    component.Duration(200 * time.Millisecond),
	}, testutil.NewBundle(t, c), nil, echoService())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := dial(t, s.Addr(), c.Roots(), nil)
	err := conn.Invoke(ctx, echoMethod, wrapperspb.String(strings.Repeat("x", 2048)), new(wrapperspb.StringValue))
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	require.NoError(t, conn.Invoke(ctx, echoMethod, wrapperspb.String("small"), new(wrapperspb.StringValue)))

	// A connection that never starts TLS is closed after the handshake
	// timeout, not kept (gRPC's default would keep it 120s).
	raw, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer raw.Close()
	require.NoError(t, raw.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = raw.Read(make([]byte, 1))
	require.Error(t, err)
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "the server closed it, the client did not give up: %v", err)

	// The stream limit is in the server's SETTINGS frame.
	tlsConn, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: c.Roots(), ServerName: "localhost", NextProtos: []string{"h2"}})
	require.NoError(t, err)
	defer tlsConn.Close()
	_, err = io.WriteString(tlsConn, http2.ClientPreface)
	require.NoError(t, err)
	fr := http2.NewFramer(tlsConn, tlsConn)
	require.NoError(t, fr.WriteSettings())
	frame, err := fr.ReadFrame()
	require.NoError(t, err)
	settings, ok := frame.(*http2.SettingsFrame)
	require.True(t, ok, "first frame %T", frame)
	v, ok := settings.Value(http2.SettingMaxConcurrentStreams)
	require.True(t, ok)
	assert.Equal(t, uint32(7), v)
}

// Interceptors run in Order, ties by Name, after the server's drain check;
// each is a node of the plane's graph, in the interceptors group.
func TestInterceptorsOrdered(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		calls []string
	)
	record := func(name string) grpcmod.Interceptor {
		return grpcmod.Interceptor{Name: name, Order: map[string]int{"auth": 10, "metrics": 0, "log": 0}[name],
			Unary: func(ctx context.Context, req any, _ *gogrpc.UnaryServerInfo, next gogrpc.UnaryHandler) (any, error) {
				mu.Lock()
				calls = append(calls, name)
				mu.Unlock()
				return next(ctx, req)
			}}
	}
	parts := []fx.Option{
		grpcmod.Register(echoService().Register),
		grpcmod.Intercept(record("auth")),
		grpcmod.Intercept(record("metrics")),
		grpcmod.ProvideInterceptor(func() grpcmod.Interceptor { return record("log") }),
	}
	p, s, roots := plane(t, zap.NewNop(), grpcmod.Options{}, parts...)
	require.NoError(t, p.Start(context.Background()))
	defer func() { require.NoError(t, p.Stop(context.Background())) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, dial(t, s.Addr(), roots, nil).Invoke(ctx, echoMethod, wrapperspb.String("x"), new(wrapperspb.StringValue)))
	mu.Lock()
	assert.Equal(t, []string{"log", "metrics", "auth"}, calls, "Order, then Name")
	mu.Unlock()

	g := p.Plan()
	for _, grp := range g.Groups {
		if grp.Name == grpcmod.GroupInterceptors {
			assert.Len(t, grp.Members, 3, "each interceptor is a node")
			return
		}
	}
	t.Fatalf("no %s group in the graph", grpcmod.GroupInterceptors)
}

func TestInterceptorErrors(t *testing.T) {
	t.Parallel()
	err := fx.ValidateApp(grpcmod.Intercept(grpcmod.Interceptor{Name: "x"}), fx.NopLogger)
	assert.ErrorContains(t, err, "want a Name and a Unary or Stream interceptor")
	err = fx.ValidateApp(grpcmod.ProvideInterceptor(func() int { return 0 }), fx.NopLogger)
	assert.ErrorContains(t, err, "want a constructor returning grpc.Interceptor")
}
