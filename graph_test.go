package bootgraph_test

// The invariants of DESIGN.md, held on the real composed graph. Each test
// composes the modules in every order, so it fails if the order stops
// falling out of the types and hooks (e.g. a listener that no longer depends
// on the bundle, or a CA service registered from a hook).

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"go.uber.org/zap/zaptest"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/caclient"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/config"
	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/dns"
	bggrpc "github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/monitoring"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// Invariant 1: the CA is constructed before the serving bundle, and the
// bundle before every listener, whatever order the modules are given in.
func TestInvariant1_CABeforeBundleBeforeListeners(t *testing.T) {
	for _, perm := range orderings(fullPlaneModules()) {
		t.Run(names(perm), func(t *testing.T) {
			p, err := newPlane(t, t.TempDir(), options(perm)...)
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

// Invariant 2: every gRPC service, the CA's included, is registered before the
// secure server accepts its first connection, so no client sees Unimplemented.
func TestInvariant2_ServicesRegisteredBeforeFirstConnection(t *testing.T) {
	cfg := localConfig(t)
	config.Options[bggrpc.Options](cfg, "grpc").Addr = testutil.FreeAddr(t)
	var srv *bggrpc.Server
	p, err := cfg.Build(bggrpc.Register(registerEcho), fx.Populate(&srv))
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
			client := dialCA(t, cfg.DataDir, srv.Addr())
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
	for _, perm := range orderings(append(fullPlaneModules(), extraListenerModule)) {
		t.Run(names(perm), func(t *testing.T) {
			p, err := newPlane(t, t.TempDir(), options(perm)...)
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
		set      func(*config.Config)
		listener string
	}{
		{"secure gRPC port taken", func(c *config.Config) { config.Options[bggrpc.Options](c, "grpc").Addr = takenAddr }, bggrpc.Name},
		{"webhook port taken", func(c *config.Config) { config.Options[webhook.Options](c, "webhook").Addr = takenAddr }, webhook.Name},
		{"DNS port taken", func(c *config.Config) { config.Options[dns.Options](c, "dns").Addr = takenAddr }, dns.Name},
		{"monitoring port taken", func(c *config.Config) { config.Options[monitoring.Options](c, "monitoring").Addr = takenAddr }, monitoring.Name},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := localConfig(t)
			tt.set(cfg)
			var srv *bggrpc.Server
			p, err := cfg.Build(fx.Populate(&srv))
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
	cfg.StartTimeout = component.Duration(200 * time.Millisecond)
	release := make(chan struct{})
	var slowStopped sync.WaitGroup
	slowStopped.Add(1)
	var srv *bggrpc.Server
	p, err := cfg.Build(fx.Populate(&srv), fx.Invoke(func(lc fx.Lifecycle, _ *bggrpc.Server) {
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

// A hook that gives up when the start deadline passes (returning the
// context's error) is still named in the error: before, the message said
// "while running OnStart of " and nothing.
func TestStartTimeoutNamesAHookThatReturned(t *testing.T) {
	p, err := bootgraph.New(bootgraph.Options{Logger: zaptest.NewLogger(t), StartTimeout: 100 * time.Millisecond},
		fx.Invoke(registerPatientHook))
	require.NoError(t, err)
	err = p.Start(context.Background())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "while running OnStart of github.com/bootgraph/bootgraph_test.registerPatientHook()")
}

// registerPatientHook appends a hook that waits for its context.
func registerPatientHook(lc fx.Lifecycle) {
	lc.Append(fx.Hook{OnStart: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }})
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

// Invariant 6: a composition missing a part fails before anything runs,
// naming the missing part, the part that provides it and who needs it,
// worded for the reader: Go calls for a Go program, config fields and flags
// for a config file. The files provider works without any CA part.
func TestInvariant6_MissingPartFailsBeforeAnythingRuns(t *testing.T) {
	without := func(name string) []fx.Option {
		var out []fx.Option
		for _, m := range fullPlaneModules() {
			if m.name != name {
				out = append(out, m.opt)
			}
		}
		return out
	}
	tests := []struct {
		name    string
		compose func(t *testing.T, dir string) (*bootgraph.Plane, error)
		want    []string
	}{
		{
			name: "config: istiod provider without the CA part",
			compose: func(t *testing.T, dir string) (*bootgraph.Plane, error) {
				cfg := localConfig(t)
				cfg.DataDir = dir
				require.NoError(t, cfg.SetEnabled("ca", false))
				return cfg.Build()
			},
			want: []string{`composition is missing *ca.CA, provided by the "ca" part (ca.enabled: true, or --enable ca)`,
				"servingcert.provideIstiod needs it to build *servingcert.Bundle",
				"files provider", "servingCert.certFile", "--tlsCertFile"},
		},
		{
			name: "Go: istiod provider without the CA part",
			compose: func(t *testing.T, dir string) (*bootgraph.Plane, error) {
				return newPlane(t, dir, without("ca")...)
			},
			want: []string{`composition is missing *ca.CA, provided by the "ca" part: add ca.Module (github.com/bootgraph/bootgraph/modules/ca)`,
				"servingcert.provideIstiod needs it to build *servingcert.Bundle",
				"servingcert.Module(servingcert.Options{CertFile: ..., KeyFile: ...})"},
		},
		{
			name: "Go: secure gRPC without a serving bundle",
			compose: func(t *testing.T, dir string) (*bootgraph.Plane, error) {
				return newPlane(t, dir, ca.Module(ca.Options{}), bggrpc.Module(bggrpc.Options{Addr: loopbackAnyPort}))
			},
			want: []string{"*servingcert.Bundle", `the "servingCert" part: add servingcert.Module`, "grpc.provideServer needs it"},
		},
		{
			name: "config: kubernetes serving-cert provider without Kubernetes mode",
			compose: func(t *testing.T, dir string) (*bootgraph.Plane, error) {
				cfg := localConfig(t)
				cfg.DataDir = dir
				sc := config.Options[servingcert.Options](cfg, "servingCert")
				sc.Provider, sc.Kubernetes.SignerName = "kubernetes", "example.com/serving"
				return cfg.Build()
			},
			want: []string{"*kubeapi.Client", `the "kube" part (kube.enabled: true, or --enable kube)`, "kubecsr.provideKubernetes",
				"Only servingCert.provider: kubernetes needs a cluster"},
		},
		{
			name: "config: webhook.patch without Kubernetes mode",
			compose: func(t *testing.T, dir string) (*bootgraph.Plane, error) {
				cfg := localConfig(t)
				cfg.DataDir = dir
				config.Options[webhook.Options](cfg, "webhook").Patch.ValidatingWebhooks = []string{"x"}
				return cfg.Build()
			},
			want: []string{"*kubeapi.Client", `"kube" part`, "webhook.patch needs Kubernetes mode"},
		},
		{
			name: "Go: full plane without the serving-cert part",
			compose: func(t *testing.T, dir string) (*bootgraph.Plane, error) {
				return newPlane(t, dir, without("servingcert")...)
			},
			want: []string{"*servingcert.Bundle", `"servingCert" part`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := tt.compose(t, dir)
			require.Error(t, err)
			var ce *bootgraph.CompositionError
			require.ErrorAs(t, err, &ce)
			require.NotEmpty(t, ce.Missing, "the finding, as data")
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			// Nothing ran: no key was generated, no token file written.
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "the failed composition wrote to the data dir")
		})
	}

	t.Run("files provider without any CA part", func(t *testing.T) {
		cfg := localConfig(t)
		files := writeServingFiles(t)
		require.NoError(t, cfg.SetEnabled("ca", false))
		sc := config.Options[servingcert.Options](cfg, "servingCert")
		sc.CertFile, sc.KeyFile, sc.CACertFile = files.cert, files.key, files.root
		var srv *bggrpc.Server
		p, err := cfg.Build(fx.Populate(&srv))
		require.NoError(t, err)
		startPlane(t, p)
		state := tlsHandshake(t, srv.Addr(), files.rootPEM, "localhost")
		assert.Equal(t, files.serial, state.PeerCertificates[0].SerialNumber.String())
		assert.NotContains(t, srv.GRPC().GetServiceInfo(), caServiceName)
	})
}

// A broken composition leaves fx's own console logger silent: no "[Fx]"
// lines on standard error, whether the plan or fx finds the problem.
func TestCompositionErrorsPrintNothing(t *testing.T) {
	stderr := captureStderr(t)
	_, err := newPlane(t, t.TempDir(),
		fx.Provide(func(*egg) *chicken { return nil }),
		fx.Provide(func(*chicken) *egg { return nil }),
		fx.Invoke(func(*chicken) {}),
	)
	require.ErrorContains(t, err, "composition has a dependency cycle")
	_, err = newPlane(t, t.TempDir(), fx.Provide(func() int { return 1 }), fx.Provide(func() int { return 2 }))
	require.ErrorContains(t, err, "already provided")
	assert.Empty(t, stderr(), "fx printed on standard error")
}

type (
	chicken struct{}
	egg     struct{}
)

// captureStderr redirects os.Stderr until the returned function is called,
// and returns what was written.
func captureStderr(t *testing.T) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	orig := os.Stderr
	os.Stderr = w
	var out strings.Builder
	done := make(chan struct{})
	go func() { _, _ = io.Copy(&out, r); close(done) }()
	restore := func() string {
		if os.Stderr == w {
			os.Stderr = orig
			w.Close()
			<-done
		}
		return out.String()
	}
	t.Cleanup(func() { restore() })
	return restore
}

// Plan draws what New builds, for the same options and parts, and touches
// nothing: the data directory stays absent.
func TestPlanIsWhatNewBuilds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	parts := append([]fx.Option{component.SupplyEnv(component.Env{DataDir: dir})}, options(fullPlaneModules())...)
	g, err := bootgraph.Plan(bootgraph.Options{Logger: zaptest.NewLogger(t)}, parts...)
	require.NoError(t, err)
	require.Empty(t, g.Problems)
	_, err = os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "Plan created the data dir")

	p, err := bootgraph.New(bootgraph.Options{Logger: zaptest.NewLogger(t)}, parts...)
	require.NoError(t, err)
	built := p.Plan()
	assert.Equal(t, keys(g), keys(built), "the same functions, in the same order")
	assert.Equal(t, len(g.Hooks), len(built.Hooks))
}

func keys(g *graph.Graph) []string {
	var out []string
	for _, n := range testutil.SortedByOrder(g) {
		out = append(out, n.Key)
	}
	return out
}

// servingFiles is a serving cert, key and root on disk, from a throwaway CA.
type servingFiles struct {
	cert, key, root string
	rootPEM         []byte
	serial          string
}

func writeServingFiles(t *testing.T) servingFiles {
	t.Helper()
	issuer := testutil.NewCA(t)
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
	b := servingcert.NewBundle()
	require.NoError(t, b.Set(chain, key, f.rootPEM))
	f.serial = b.Leaf().SerialNumber.String()
	return f
}

// dialCA connects a CA client that trusts the CA root of a plane with its
// state in dataDir, and has no credentials.
func dialCA(t *testing.T, dataDir, addr string) *caclient.Client {
	t.Helper()
	root, err := os.ReadFile(filepath.Join(dataDir, "ca", ca.RootCertFile))
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
	for _, perm := range orderings(append(fullPlaneModules(), extraListenerModule)) {
		t.Run(names(perm), func(t *testing.T) {
			p, err := newPlane(t, t.TempDir(), options(perm)...)
			require.NoError(t, err)
			testutil.PredictionHolds(t, p)
		})
	}
}
