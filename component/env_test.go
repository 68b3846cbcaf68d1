package component_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/bootgraph/bootgraph/component"
)

func TestEnvDefaults(t *testing.T) {
	t.Parallel()
	assert.Equal(t, component.Env{Namespace: "istio-system", DataDir: ".bootgraph"}, component.Env{}.WithDefaults())
	e := component.Env{Namespace: "mesh", DataDir: "/var/lib/plane"}
	assert.Equal(t, e, e.WithDefaults(), "set fields are kept")
	assert.Equal(t, filepath.Join(".bootgraph", "ca"), component.Env{}.Path("ca"))
	assert.Equal(t, "/var/lib/plane/tokens.csv", e.Path("tokens.csv"))
}

type envUser struct {
	fx.In
	component.EnvIn
	component.ClusterIn
}

func TestEnvInAndClusterIn(t *testing.T) {
	t.Parallel()
	var got envUser
	require.NoError(t, fx.New(fx.NopLogger, fx.Populate(&got)).Err())
	assert.Equal(t, component.Env{}.WithDefaults(), got.Get(), "absent: the defaults")
	assert.Nil(t, got.Cluster, "absent: local mode")

	got = envUser{}
	require.NoError(t, fx.New(fx.NopLogger,
		component.SupplyEnv(component.Env{Namespace: "mesh"}),
		fx.Supply(&component.Cluster{ID: "east", Namespace: "mesh"}),
		fx.Populate(&got),
	).Err())
	assert.Equal(t, component.Env{Namespace: "mesh", DataDir: ".bootgraph"}, got.Get(), "supplied, with defaults for the rest")
	require.NotNil(t, got.Cluster)
	assert.Equal(t, "east", got.Cluster.ID)
}

func TestAnnounce(t *testing.T) {
	t.Parallel()
	var got component.ListenAddrsIn
	require.NoError(t, fx.New(fx.NopLogger,
		component.Announce("secure-grpc", "127.0.0.1:15012"),
		component.Announce("dns", ":15053"),
		fx.Populate(&got),
	).Err())
	assert.ElementsMatch(t, []component.ListenAddr{
		{Listener: "secure-grpc", Addr: "127.0.0.1:15012"},
		{Listener: "dns", Addr: ":15053"},
	}, got.Addrs)
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:15012": true,
		"127.0.0.2:1":     true,
		"[::1]:15012":     true,
		"localhost:80":    true,
		":15012":          false,
		"0.0.0.0:15012":   false,
		"10.0.0.1:15012":  false,
		"example.com:1":   false,
		"not an address":  false,
	} {
		assert.Equal(t, want, component.IsLoopback(addr), addr)
	}
}

func TestValidateAddr(t *testing.T) {
	t.Parallel()
	assert.NoError(t, component.ValidateAddr("addr", ":15012"))
	assert.NoError(t, component.ValidateAddr("addr", "127.0.0.1:0"))
	assert.NoError(t, component.ValidateAddr("addr", "[::1]:53"))
	assert.EqualError(t, component.ValidateAddr("addr", ""), "addr: must not be empty")
	err := component.ValidateAddr("listen.addr", "15012")
	var fe *component.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "listen.addr", fe.Path)
	assert.Contains(t, err.Error(), `listen.addr: "15012" is not host:port`)
}

// AppendRunner runs its function from OnStart until OnStop cancels it.
func TestAppendRunner(t *testing.T) {
	t.Parallel()
	running, ended := make(chan struct{}), make(chan struct{})
	app := fxtest.New(t, fx.NopLogger, fx.Invoke(func(lc fx.Lifecycle) {
		component.AppendRunner(lc, func(ctx context.Context) {
			close(running)
			<-ctx.Done()
			close(ended)
		})
	}))
	app.RequireStart()
	select {
	case <-running:
	case <-time.After(10 * time.Second):
		t.Fatal("the runner did not run")
	}
	app.RequireStop()
	select {
	case <-ended:
	default:
		t.Fatal("OnStop returned before the runner did")
	}
}

// A runner that ignores its context holds OnStop only until the stop
// deadline.
func TestAppendRunnerStopDeadline(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	running := make(chan struct{})
	app := fx.New(fx.NopLogger, fx.Invoke(func(lc fx.Lifecycle) {
		component.AppendRunner(lc, func(context.Context) { close(running); <-release })
	}))
	require.NoError(t, app.Start(context.Background()))
	<-running
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, app.Stop(ctx), context.Canceled)
}
