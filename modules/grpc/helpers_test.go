package grpc_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	grpcmod "github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startServer starts a secure gRPC server on 127.0.0.1:0, stopped when the
// test ends; the returned stop is its Stop, for tests that stop it earlier.
func startServer(t *testing.T, opts grpcmod.Options, bundle *servingcert.Bundle, log *zap.Logger, services ...grpcmod.Service) (*grpcmod.Server, func(context.Context) error) {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := grpcmod.NewServer(opts, bundle, log, services)
	testutil.Start(t, s)
	return s, s.Stop
}

// dial makes a real gRPC client that trusts roots and, if given, presents
// clientCert. The connection closes when the test ends.
func dial(t *testing.T, addr string, roots *x509.CertPool, clientCert *tls.Certificate) *gogrpc.ClientConn {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if clientCert != nil {
		cfg.Certificates = []tls.Certificate{*clientCert}
	}
	conn, err := gogrpc.NewClient(addr, gogrpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// workloadCert has c issue a client certificate for identity through Sign,
// as the CA service would.
func workloadCert(t *testing.T, c *ca.CA, identity string) tls.Certificate {
	t.Helper()
	key, err := caclient.NewKey(caclient.KeyECDSAP256)
	require.NoError(t, err)
	csr, err := caclient.NewCSR(key)
	require.NoError(t, err)
	chain, err := c.Sign(csr, []string{identity}, time.Hour)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	cert, err := tls.X509KeyPair([]byte(chain[0]), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	require.NoError(t, err)
	return cert
}

// blocker is a test service whose one unary method, /bootgraph.test.Blocker/Block,
// signals entered and then waits for release (or for its call to end).
type blocker struct {
	entered chan struct{}
	release chan struct{}
}

const (
	blockerService = "bootgraph.test.Blocker"
	blockerMethod  = "/" + blockerService + "/Block"
)

func newBlocker() *blocker {
	return &blocker{entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (b *blocker) service() grpcmod.Service { return grpcmod.ServiceFunc(b.register) }

// register puts the Blocker service on r.
func (b *blocker) register(r grpcmod.ServiceRegistrar) {
	r.RegisterService(&gogrpc.ServiceDesc{
		ServiceName: blockerService,
		HandlerType: (*any)(nil),
		Methods: []gogrpc.MethodDesc{{
			MethodName: "Block",
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ gogrpc.UnaryServerInterceptor) (any, error) {
				if err := dec(new(emptypb.Empty)); err != nil {
					return nil, err
				}
				b.entered <- struct{}{}
				select {
				case <-b.release:
					return &emptypb.Empty{}, nil
				case <-ctx.Done():
					return nil, status.FromContextError(ctx.Err()).Err()
				}
			},
		}},
	}, struct{}{})
}

const (
	echoServiceName = "bootgraph.test.Echo"
	echoMethod      = "/" + echoServiceName + "/Echo"
)

// echoService answers /bootgraph.test.Echo/Echo with the string it is sent.
func echoService() grpcmod.Service {
	return grpcmod.ServiceFunc(func(r grpcmod.ServiceRegistrar) {
		r.RegisterService(&gogrpc.ServiceDesc{
			ServiceName: echoServiceName,
			HandlerType: (*any)(nil),
			Methods: []gogrpc.MethodDesc{{
				MethodName: "Echo",
				// As generated code does, through the server's interceptors.
				Handler: func(_ any, ctx context.Context, dec func(any) error, interceptor gogrpc.UnaryServerInterceptor) (any, error) {
					in := new(wrapperspb.StringValue)
					if err := dec(in); err != nil {
						return nil, err
					}
					echo := func(_ context.Context, req any) (any, error) { return req, nil }
					if interceptor == nil {
						return echo(ctx, in)
					}
					return interceptor(ctx, in, &gogrpc.UnaryServerInfo{FullMethod: echoMethod}, echo)
				},
			}},
		}, struct{}{})
	})
}

// call invokes Block on conn and reports the result on the returned channel.
func (b *blocker) call(conn *gogrpc.ClientConn) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- conn.Invoke(ctx, blockerMethod, &emptypb.Empty{}, &emptypb.Empty{})
	}()
	return done
}

func waitEntered(t *testing.T, b *blocker) {
	t.Helper()
	select {
	case <-b.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the blocking call never reached its handler")
	}
}

func recvErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("the call did not finish")
		return nil
	}
}
