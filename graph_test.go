package bootgraph_test

// The invariants of DESIGN.md, held on the real composed graph. Each test
// composes the modules in every order, so it fails if the order stops
// falling out of the types and hooks (e.g. a listener that no longer depends
// on the bundle, or a CA service registered from a hook).

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/dns"
	"github.com/bootgraph/bootgraph/modules/dnscert"
	bggrpc "github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/monitoring"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// Invariant 1: the CA is constructed before the serving bundle, and the
// bundle before every listener, whatever order the modules are given in.
func TestInvariant1_CABeforeBundleBeforeListeners(t *testing.T) {
	cfg := localConfig(t)
	for _, perm := range orderings(fullPlaneModules(cfg)) {
		t.Run(names(perm), func(t *testing.T) {
			c := cfg
			c.DataDir = t.TempDir()
			p, err := bootgraph.Compose(c, options(reorder(fullPlaneModules(c), perm))...)
			require.NoError(t, err)
			ctors := p.Constructors()
			caAt, bundleAt := ctorIndex(t, ctors, ctorCA), ctorIndex(t, ctors, ctorBundle)
			assert.Less(t, caAt, bundleAt, "CA after bundle")
			for _, listener := range []string{ctorGRPC, ctorWebhook, ctorDNS, ctorMonitoring} {
				assert.Less(t, bundleAt, ctorIndex(t, ctors, listener), "bundle after %s", listener)
			}
		})
	}
}

// reorder returns mods in the order of perm's names (perm was built from
// another config, so its options are not reused).
func reorder(mods, perm []namedOption) []namedOption {
	byName := map[string]namedOption{}
	for _, m := range mods {
		byName[m.name] = m
	}
	out := make([]namedOption, 0, len(perm))
	for _, p := range perm {
		out = append(out, byName[p.name])
	}
	return out
}

// Invariant 2: every gRPC service, the CA's included, is registered before the
// secure server accepts its first connection, so no client sees Unimplemented.
func TestInvariant2_ServicesRegisteredBeforeFirstConnection(t *testing.T) {
	cfg := localConfig(t)
	cfg.GRPC.Addr = freeAddr(t)
	var srv *bggrpc.Server
	userService := bggrpc.ServiceFunc(func(r grpcRegistrar) { registerEcho(r) })
	p, err := bootgraph.New(cfg,
		fx.Supply(fx.Annotate(userService, fx.As(new(bggrpc.Service)), fx.ResultTags(`group:"grpc.services"`))),
		fx.Populate(&srv))
	require.NoError(t, err)

	// Before Start nothing listens, and every service is already registered.
	info := srv.GRPC().GetServiceInfo()
	for _, name := range []string{caServiceName, echoServiceName, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		assert.Contains(t, info, name, "service %s not registered before Start", name)
	}

	// A client hammering the port from before Start, with a new connection
	// per attempt: its first answer from the CA service is an
	// authentication error, never Unimplemented.
	first := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			client := dialCA(t, cfg, cfg.GRPC.Addr)
			_, err := client.CreateCertificate(context.Background(), []byte("x"), 0)
			client.Close()
			if status.Code(err) != codes.Unavailable {
				first <- err
				return
			}
		}
	}()
	startPlane(t, p)
	select {
	case err := <-first:
		assert.Equal(t, codes.Unauthenticated, status.Code(err), "first answer: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no answer from the CA service")
	}
}

// Invariant 3: the CA's Run starts after every listener has started, a user's
// listener included, and stops before them.
func TestInvariant3_CARunStartsLastStopsFirst(t *testing.T) {
	cfg := localConfig(t)
	mods := append(fullPlaneModules(cfg), extraListenerModule)
	for _, perm := range orderings(mods) {
		t.Run(names(perm), func(t *testing.T) {
			c := cfg
			c.DataDir = t.TempDir()
			p, err := bootgraph.Compose(c, options(reorder(append(fullPlaneModules(c), extraListenerModule), perm))...)
			require.NoError(t, err)
			require.NoError(t, p.Start(context.Background()))
			require.NoError(t, p.Stop(context.Background()))

			hooks := p.Hooks()
			run := hookIndex(t, hooks, hookCARun)
			for _, listener := range []string{hookGRPC, hookWebhook, hookDNS, hookExtra} {
				l := hookIndex(t, hooks, listener)
				assert.Less(t, l.Index, run.Index, "%s started after the CA's Run", listener)
				assert.Less(t, run.StopOrder, l.StopOrder, "%s stopped before the CA's Run", listener)
			}
			for _, h := range hooks {
				assert.True(t, h.Started && h.Stopped, "hook %s: started=%v stopped=%v", h.Name, h.Started, h.Stopped)
			}
		})
	}
}

// Invariant 5: a listener that fails to start stops everything that already
// started, and the error names the listener and the address.
func TestInvariant5_FailedListenerStopsWhatStarted(t *testing.T) {
	taken, err := net.Listen("tcp", loopbackAnyPort)
	require.NoError(t, err)
	defer taken.Close()
	takenAddr := taken.Addr().String()

	tests := []struct {
		name     string
		set      func(*bootgraph.Config)
		listener string
	}{
		{"secure gRPC port taken", func(c *bootgraph.Config) { c.GRPC.Addr = takenAddr }, bggrpc.Name},
		{"webhook port taken", func(c *bootgraph.Config) { c.Webhook.Addr = takenAddr }, webhook.Name},
		{"DNS port taken", func(c *bootgraph.Config) { c.DNS.Addr = takenAddr }, dns.Name},
		{"monitoring port taken", func(c *bootgraph.Config) { c.Monitoring.Addr = takenAddr }, monitoring.Name},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := localConfig(t)
			tt.set(&cfg)
			var srv *bggrpc.Server
			p, err := bootgraph.New(cfg, fx.Populate(&srv))
			require.NoError(t, err)

			err = p.Start(context.Background())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.listener)
			assert.Contains(t, err.Error(), takenAddr)
			assertAllStartedHooksStopped(t, p)
			// The gRPC port, if it was bound, is released again.
			if tt.listener != bggrpc.Name {
				l, err := net.Listen("tcp", srv.Addr())
				require.NoError(t, err, "secure gRPC port still bound after rollback")
				l.Close()
			}
		})
	}
}

// A start that times out in a hook stops every hook that started (fx does
// not: fx#1035), names the hook, and stops the slow hook too once it returns.
func TestStartTimeoutRollsBack(t *testing.T) {
	cfg := localConfig(t)
	cfg.StartTimeout = 200 * 1e6 // 200ms
	release := make(chan struct{})
	var slowStopped sync.WaitGroup
	slowStopped.Add(1)
	var srv *bggrpc.Server
	p, err := bootgraph.New(cfg, fx.Populate(&srv), fx.Invoke(func(lc fx.Lifecycle, _ *bggrpc.Server) {
		lc.Append(fx.Hook{
			OnStart: func(context.Context) error { <-release; return nil },
			OnStop:  func(context.Context) error { slowStopped.Done(); return nil },
		})
	}))
	require.NoError(t, err)

	err = p.Start(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "timed out")
	assert.Contains(t, err.Error(), "TestStartTimeoutRollsBack")
	assert.True(t, errors.Is(err, context.DeadlineExceeded))
	grpcHook := hookIndex(t, p.Hooks(), hookGRPC)
	assert.True(t, grpcHook.Started && grpcHook.Stopped, "secure gRPC listener not stopped after the timeout")
	l, err := net.Listen("tcp", srv.Addr())
	require.NoError(t, err, "secure gRPC port still bound after rollback")
	l.Close()

	close(release) // the slow hook finishes late and must undo itself
	slowStopped.Wait()
}

func assertAllStartedHooksStopped(t *testing.T, p *bootgraph.Plane) {
	t.Helper()
	var started int
	for _, h := range p.Hooks() {
		if h.Started {
			started++
			assert.True(t, h.Stopped, "hook %s started but was not stopped", h.Name)
		}
	}
	assert.Positive(t, started, "expected some hooks to have started before the failure")
}

// Invariant 6: a composition missing a part fails before anything starts,
// naming the missing part; the files provider works without any CA module.
func TestInvariant6_MissingPartFailsBeforeAnythingRuns(t *testing.T) {
	tests := []struct {
		name    string
		compose func(cfg bootgraph.Config) (*bootgraph.Plane, error)
		want    []string
	}{
		{
			name: "istiod provider without the CA module",
			compose: func(cfg bootgraph.Config) (*bootgraph.Plane, error) {
				cfg.CA.Enabled = new(bool)
				return bootgraph.New(cfg)
			},
			want: []string{"*ca.CA", "the ca module", "dnscert.provideIstiod"},
		},
		{
			name: "secure gRPC without a serving bundle",
			compose: func(cfg bootgraph.Config) (*bootgraph.Plane, error) {
				cfg.SetDefaults()
				return bootgraph.Compose(cfg, ca.Module(cfg.CA.Options), bggrpc.Module(cfg.GRPC.Options))
			},
			want: []string{"*dnscert.Bundle", "serving-cert module"},
		},
		{
			name: "kubernetes serving-cert provider without Kubernetes mode",
			compose: func(cfg bootgraph.Config) (*bootgraph.Plane, error) {
				cfg.ServingCert.Provider = "kubernetes"
				cfg.ServingCert.Kubernetes.SignerName = "example.com/serving"
				return bootgraph.New(cfg)
			},
			want: []string{"kubernetes.Interface", "the kube module", "dnscert.provideKubernetes"},
		},
		{
			name: "full plane without the serving-cert module",
			compose: func(cfg bootgraph.Config) (*bootgraph.Plane, error) {
				var mods []fx.Option
				for _, m := range fullPlaneModules(cfg) {
					if m.name != "dnscert" {
						mods = append(mods, m.opt)
					}
				}
				return bootgraph.Compose(cfg, mods...)
			},
			want: []string{"*dnscert.Bundle", "serving-cert module"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := localConfig(t)
			_, err := tt.compose(cfg)
			require.Error(t, err)
			var ce *bootgraph.CompositionError
			require.ErrorAs(t, err, &ce)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			// Nothing ran: no key was generated, no token file written.
			entries, err := os.ReadDir(cfg.DataDir)
			require.NoError(t, err)
			assert.Empty(t, entries, "the failed composition wrote to the data dir")
		})
	}

	t.Run("files provider without any CA module", func(t *testing.T) {
		cfg := localConfig(t)
		files := writeServingFiles(t)
		cfg.CA.Enabled = new(bool)
		cfg.ServingCert.CertFile, cfg.ServingCert.KeyFile, cfg.ServingCert.CACertFile = files.cert, files.key, files.root
		var srv *bggrpc.Server
		p, err := bootgraph.New(cfg, fx.Populate(&srv))
		require.NoError(t, err)
		startPlane(t, p)
		state := tlsHandshake(t, srv.Addr(), files.rootPEM, "localhost")
		assert.Equal(t, files.serial, state.PeerCertificates[0].SerialNumber.String())
		assert.NotContains(t, srv.GRPC().GetServiceInfo(), caServiceName)
	})
}

// servingFiles is a serving cert, key and root on disk, from a throwaway CA.
type servingFiles struct {
	cert, key, root string
	rootPEM         []byte
	serial          string
}

func writeServingFiles(t *testing.T) servingFiles {
	t.Helper()
	issuer, err := ca.New(ca.Options{DataDir: t.TempDir()}, nil, nil)
	require.NoError(t, err)
	chain, key, err := issuer.GenKeyCert([]string{"localhost"}, time.Hour)
	require.NoError(t, err)
	dir := t.TempDir()
	f := servingFiles{
		cert: filepath.Join(dir, "tls.crt"), key: filepath.Join(dir, "tls.key"), root: filepath.Join(dir, "ca.crt"),
		rootPEM: issuer.RootPEM(),
	}
	require.NoError(t, os.WriteFile(f.cert, chain, 0o600))
	require.NoError(t, os.WriteFile(f.key, key, 0o600))
	require.NoError(t, os.WriteFile(f.root, f.rootPEM, 0o600))
	b := dnscert.NewBundle()
	require.NoError(t, b.Set(chain, key, f.rootPEM))
	f.serial = b.Leaf().SerialNumber.String()
	return f
}

// dialCA connects a CA client that trusts cfg's CA root and has no
// credentials.
func dialCA(t *testing.T, cfg bootgraph.Config, addr string) *caclient.Client {
	t.Helper()
	cfg.SetDefaults()
	root, err := os.ReadFile(filepath.Join(cfg.CA.DataDir, ca.RootCertFile))
	if err != nil {
		t.Error(err)
		return nil
	}
	c, err := caclient.Dial(caclient.Config{Addr: addr, RootsPEM: root, ServerName: "localhost"})
	if err != nil {
		t.Error(err)
	}
	return c
}

// Invariant 7: the order the engine predicts from the graph alone equals the
// order observed in a real start: of every function fx runs, and of the
// lifecycle hooks.
func TestInvariant7_PredictedOrderIsObserved(t *testing.T) {
	cfg := localConfig(t)
	mods := append(fullPlaneModules(cfg), extraListenerModule)
	for _, perm := range orderings(mods) {
		t.Run(names(perm), func(t *testing.T) {
			c := cfg
			c.DataDir = t.TempDir()
			p, err := bootgraph.Compose(c, options(reorder(append(fullPlaneModules(c), extraListenerModule), perm))...)
			require.NoError(t, err)
			assertPredictionHolds(t, p)
		})
	}
}

// assertPredictionHolds starts and stops p and compares its plan with what
// happened.
func assertPredictionHolds(t *testing.T, p *bootgraph.Plane) {
	t.Helper()
	plan, err := p.Plan()
	require.NoError(t, err)
	require.Empty(t, plan.Problems)
	require.NoError(t, p.Start(context.Background()))
	require.NoError(t, p.Stop(context.Background()))

	var predicted, observed []string
	for _, n := range sortedByOrder(plan) {
		predicted = append(predicted, n.Key)
	}
	for _, r := range p.Constructors() {
		observed = append(observed, r.Name)
	}
	assert.Equal(t, predicted, observed, "functions: predicted vs run")

	var predictedHooks, observedHooks []string
	for _, h := range plan.Hooks {
		predictedHooks = append(predictedHooks, plan.Node(h.Node).Key)
	}
	for _, h := range p.Hooks() {
		observedHooks = append(observedHooks, h.Name) // each registrar here appends one hook
	}
	assert.Equal(t, predictedHooks, observedHooks, "hooks: predicted vs started")
}

func sortedByOrder(g *graph.Graph) []graph.Node {
	var ran []graph.Node
	for _, n := range g.Nodes {
		if n.Order >= 0 {
			ran = append(ran, n)
		}
	}
	sort.Slice(ran, func(i, j int) bool { return ran[i].Order < ran[j].Order })
	return ran
}
