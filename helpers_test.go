package bootgraph_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap/zaptest"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/config"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/dns"
	"github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/monitoring"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// Hook and constructor names of the full plane, as the engine records them.
const (
	pkg             = "github.com/bootgraph/bootgraph/modules/"
	hookBundle      = pkg + "servingcert.provideIstiod()"
	hookGRPC        = pkg + "grpc.provideServer()"
	hookWebhook     = pkg + "webhook.provideServer()"
	hookDNS         = pkg + "dns.provideServer()"
	hookMonitoring  = pkg + "monitoring.provideServer()"
	hookCARun       = pkg + "ca.registerRun()"
	hookExtra       = "github.com/bootgraph/bootgraph_test.provideExtraListener()"
	ctorCA          = pkg + "ca.provideCA()"
	ctorBundle      = pkg + "servingcert.provideIstiod()"
	ctorGRPC        = pkg + "grpc.provideServer()"
	ctorWebhook     = pkg + "webhook.provideServer()"
	ctorDNS         = pkg + "dns.provideServer()"
	ctorMonitoring  = pkg + "monitoring.provideServer()"
	caServiceName   = "istio.v1.auth.IstioCertificateService"
	loopbackAnyPort = "127.0.0.1:0"
)

// localConfig is the embedded default (the config layer with the built-in
// parts) with its state in a temp dir and every listener on a free
// loopback port.
func localConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg := config.New()
	cfg.DataDir = t.TempDir()
	cfg.Logger = zaptest.NewLogger(t)
	config.Options[grpc.Options](cfg, "grpc").Addr = loopbackAnyPort
	config.Options[webhook.Options](cfg, "webhook").Addr = loopbackAnyPort
	config.Options[dns.Options](cfg, "dns").Addr = loopbackAnyPort
	config.Options[monitoring.Options](cfg, "monitoring").Addr = loopbackAnyPort
	return cfg
}

// namedOption is a module with a name for subtest names.
type namedOption struct {
	name string
	opt  fx.Option
}

// fullPlaneModules are the parts of the default plane, composed in Go.
func fullPlaneModules() []namedOption {
	return []namedOption{
		{"ca", ca.Module(ca.Options{})},
		{"servingcert", servingcert.Module(servingcert.Options{})},
		{"grpc", grpc.Module(grpc.Options{Addr: loopbackAnyPort})},
		{"webhook", webhook.Module(webhook.Options{Addr: loopbackAnyPort})},
		{"dns", dns.Module(dns.Options{Addr: loopbackAnyPort})},
		{"monitoring", monitoring.Module(monitoring.Options{Addr: loopbackAnyPort})},
	}
}

// newPlane builds a plane in Go from parts, its local state in dataDir.
func newPlane(t *testing.T, dataDir string, parts ...fx.Option) (*bootgraph.Plane, error) {
	t.Helper()
	return bootgraph.New(bootgraph.Options{Logger: zaptest.NewLogger(t)},
		append([]fx.Option{component.SupplyEnv(component.Env{DataDir: dataDir})}, parts...)...)
}

// orderings returns every ordering of opts when there are at most 24;
// otherwise the given order, its reverse and 24 orders from a fixed-seed
// shuffle, so that a failure reproduces.
func orderings(opts []namedOption) [][]namedOption {
	all := permutations(opts)
	if len(all) <= 24 {
		return all
	}
	rev := make([]namedOption, len(opts))
	for i, o := range opts {
		rev[len(opts)-1-i] = o
	}
	out := [][]namedOption{opts, rev}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 24 {
		out = append(out, all[rng.IntN(len(all))])
	}
	return out
}

// permutations returns every ordering of opts.
func permutations(opts []namedOption) [][]namedOption {
	if len(opts) <= 1 {
		return [][]namedOption{opts}
	}
	var out [][]namedOption
	for i := range opts {
		rest := append(append([]namedOption{}, opts[:i]...), opts[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]namedOption{opts[i]}, p...))
		}
	}
	return out
}

func names(opts []namedOption) string {
	var s []string
	for _, o := range opts {
		s = append(s, o.name)
	}
	return strings.Join(s, ",")
}

func options(opts []namedOption) []fx.Option {
	var out []fx.Option
	for _, o := range opts {
		out = append(out, o.opt)
	}
	return out
}

// hookIndex returns the start position of the hook appended by name.
func hookIndex(t *testing.T, hooks []bootgraph.HookRecord, name string) bootgraph.HookRecord {
	t.Helper()
	for _, h := range hooks {
		if h.Name == name {
			return h
		}
	}
	require.Failf(t, "hook not found", "%s not among %v", name, hooks)
	return bootgraph.HookRecord{}
}

// ctorIndex returns the position at which the named constructor ran.
func ctorIndex(t *testing.T, ctors []bootgraph.ConstructorRecord, name string) int {
	t.Helper()
	for i, c := range ctors {
		if c.Name == name {
			return i
		}
	}
	require.Failf(t, "constructor not run", "%s not among %v", name, ctors)
	return -1
}

// extraListener is a user-defined listener joining the plane's listeners:
// it binds a TCP port in OnStart.
type extraListener struct {
	mu sync.Mutex
	l  net.Listener
}

func (e *extraListener) Name() string { return "extra" }
func (e *extraListener) Addr() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.l == nil {
		return loopbackAnyPort
	}
	return e.l.Addr().String()
}
func (e *extraListener) Ready(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.l == nil {
		return fmt.Errorf("extra: not listening")
	}
	return nil
}

func provideExtraListener(lc fx.Lifecycle) component.ListenerOut {
	e := &extraListener{}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			l, err := net.Listen("tcp", loopbackAnyPort)
			if err != nil {
				return err
			}
			e.mu.Lock()
			e.l = l
			e.mu.Unlock()
			return nil
		},
		OnStop: func(context.Context) error { return e.l.Close() },
	})
	return component.ListenerOut{Listener: e}
}

var extraListenerModule = namedOption{"extra-listener", fx.Module("extra-listener", fx.Provide(provideExtraListener))}

// startPlane starts p and registers its stop.
func startPlane(t *testing.T, p *bootgraph.Plane) {
	t.Helper()
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, p.Stop(context.Background())) })
}

// tlsHandshake connects to addr trusting rootPEM and returns the state.
func tlsHandshake(t *testing.T, addr string, rootPEM []byte, serverName string) tls.ConnectionState {
	t.Helper()
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(rootPEM))
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: serverName, NextProtos: []string{"h2"}})
	require.NoError(t, err)
	defer conn.Close()
	return conn.ConnectionState()
}

// grpcRegistrar is what a Service registers on.
type grpcRegistrar = gogrpc.ServiceRegistrar

// echoServiceName is a user's gRPC service, described by hand so that the
// test needs no generated code.
const echoServiceName = "bootgraph.test.Echo"

func registerEcho(r grpcRegistrar) {
	r.RegisterService(&gogrpc.ServiceDesc{
		ServiceName: echoServiceName,
		HandlerType: (*any)(nil),
		Methods: []gogrpc.MethodDesc{{
			MethodName: "Ping",
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ gogrpc.UnaryServerInterceptor) (any, error) {
				in := new(emptypb.Empty)
				if err := dec(in); err != nil {
					return nil, err
				}
				return in, nil
			},
		}},
	}, struct{}{})
}
