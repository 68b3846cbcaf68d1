package bootgraph_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/graph"
)

// Types of a synthetic composition, such as a library user builds.
type (
	config   struct{ name string }
	store    struct{}
	cache    struct{}
	handler  interface{ Handle() }
	handlerA struct{}
	server   struct{}
	plugin   string
	absent   struct{}
)

func (handlerA) Handle() {}

func newStore(lc fx.Lifecycle, _ config) *store {
	lc.Append(fx.StartHook(func() {}))
	return &store{}
}
func newCache(_ *store) *cache            { return &cache{} }
func newHandler(_ *cache) handlerA        { return handlerA{} }
func newPlugins() []plugin                { return []plugin{"a", "b"} }
func onePlugin() plugin                   { return "c" }
func decorateCache(c *cache) *cache       { return c }
func serverOnStart(context.Context) error { return nil }

type serverIn struct {
	fx.In
	Lifecycle fx.Lifecycle
	Handler   handler
	Plugins   []plugin `group:"plugins"`
	Late      []plugin `group:"late,soft"`
	Absent    *absent  `optional:"true"`
}

func newServer(p serverIn) *server {
	p.Lifecycle.Append(fx.StartHook(func() {}))
	return &server{}
}

func syntheticComposition(populate **server) []fx.Option {
	return []fx.Option{
		fx.Supply(config{name: "x"}),
		fx.Module("storage",
			fx.Provide(newStore),
			fx.Module("cache",
				fx.Provide(fx.Private, newCache),
				fx.Decorate(decorateCache),
				fx.Provide(fx.Annotate(newHandler, fx.As(new(handler)))),
			),
		),
		fx.Module("plugins",
			fx.Provide(fx.Annotate(newPlugins, fx.ResultTags(`group:"plugins,flatten"`))),
			fx.Provide(fx.Annotate(onePlugin, fx.ResultTags(`group:"plugins"`))),
		),
		fx.Module("api",
			fx.Provide(newServer),
			fx.Invoke(fx.Annotate(func(*server) {}, fx.OnStart(serverOnStart))),
		),
		fx.Populate(populate),
	}
}

func TestPlanSyntheticComposition(t *testing.T) {
	var srv *server
	g, err := bootgraph.Plan(syntheticComposition(&srv)...)
	require.NoError(t, err)
	require.Empty(t, g.Problems, "%v", g.Problems)

	var modules []string
	for _, m := range g.Modules {
		modules = append(modules, m.ID)
	}
	assert.Equal(t, []string{"storage", "storage/cache", "plugins", "api"}, modules)

	byName := map[string]graph.Node{}
	for _, n := range g.Nodes {
		byName[n.Name] = n
	}
	assert.True(t, byName["bootgraph_test.newCache"].Private)
	assert.Equal(t, graph.KindDecorator, byName["bootgraph_test.decorateCache"].Kind)
	assert.Equal(t, "storage/cache", byName["bootgraph_test.decorateCache"].Module)
	assert.Equal(t, []graph.Port{{Type: "bootgraph_test.handler"}}, byName["bootgraph_test.newHandler"].Outputs, "fx.As replaces the type")
	assert.Equal(t, []graph.Port{{Type: "bootgraph_test.plugin", Group: "plugins", Flatten: true}}, byName["bootgraph_test.newPlugins"].Outputs)
	assert.Equal(t, graph.KindInvoke, byName["fx.Populate"].Kind)

	// The groups and their members.
	var plugins *graph.Group
	for i := range g.Groups {
		if g.Groups[i].Name == "plugins" {
			plugins = &g.Groups[i]
		}
	}
	require.NotNil(t, plugins)
	assert.Len(t, plugins.Members, 2)
	assert.Equal(t, []string{byName["bootgraph_test.newServer"].ID}, plugins.Consumers)

	// Hooks: the store's, the server's, then the annotated invoke's OnStart.
	var hooks []string
	for _, h := range g.Hooks {
		hooks = append(hooks, h.Name)
	}
	assert.Equal(t, []string{"bootgraph_test.newStore", "bootgraph_test.newServer", "bootgraph_test.syntheticComposition.func1"}, hooks)
}

// The plan of a user's composition predicts what fx really runs, in order.
func TestPlanPredictsSyntheticComposition(t *testing.T) {
	var srv *server
	cfg := bootgraph.Config{Logger: zap.NewNop()}
	p, err := bootgraph.Compose(cfg, syntheticComposition(&srv)...)
	require.NoError(t, err)
	assertPredictionHolds(t, p)
	require.NotNil(t, srv, "fx.Populate ran")
}

func TestPlanMissingType(t *testing.T) {
	g, err := bootgraph.Plan(
		fx.Provide(newCache), // needs *store, which nothing provides
		fx.Provide(newHandler),
		fx.Invoke(func(handlerA) {}),
	)
	require.NoError(t, err)
	require.Len(t, g.Problems, 1)
	assert.Equal(t, graph.ProblemMissing, g.Problems[0].Kind)
	assert.Contains(t, g.Problems[0].Message, "missing type *bootgraph_test.store, needed by bootgraph_test.newCache")

	status := map[string]graph.Status{}
	for _, n := range g.Nodes {
		status[n.Name] = n.Status
	}
	assert.Equal(t, graph.StatusMissing, status["*bootgraph_test.store"])
	assert.Equal(t, graph.StatusNeedsMissed, status["bootgraph_test.newCache"])
	assert.Equal(t, graph.StatusNeedsMissed, status["bootgraph_test.newHandler"], "transitively")
}

type (
	chicken struct{}
	egg     struct{}
)

func TestPlanCycle(t *testing.T) {
	g, err := bootgraph.Plan(
		fx.Provide(func(*egg) *chicken { return nil }),
		fx.Provide(func(*chicken) *egg { return nil }),
		fx.Invoke(func(*chicken) {}),
	)
	require.NoError(t, err)
	require.Len(t, g.Problems, 1)
	assert.Equal(t, graph.ProblemCycle, g.Problems[0].Kind)
	assert.Len(t, g.Problems[0].Nodes, 3, "a → b → a")
	var cycleEdges int
	for _, e := range g.Edges {
		if e.Cycle {
			cycleEdges++
		}
	}
	assert.Equal(t, 2, cycleEdges)
	assert.Equal(t, graph.StatusCycle, g.Node(g.Problems[0].Nodes[0]).Status)
}

// A guard for fx upgrades: the planner reads fx's unexported option fields
// (fx v1.24.0). If fx changes them, this fails with the field that moved.
func TestPlanReadsFxOptions(t *testing.T) {
	var out io.Writer
	g, err := bootgraph.Plan(
		fx.Options(fx.Supply(fx.Private, &strings.Builder{})),
		fx.Supply(fx.Annotate(&strings.Builder{}, fx.As(new(io.Writer)))),
		fx.Replace(fx.Annotate(&strings.Builder{}, fx.As(new(io.Writer)))),
		fx.Decorate(func(w io.Writer) io.Writer { return w }),
		fx.Module("m", fx.Provide(fx.Private, fx.Annotate(func() int { return 1 }, fx.ResultTags(`name:"one"`)))),
		fx.Populate(&out),
		fx.StartTimeout(1), fx.NopLogger,
	)
	require.NoError(t, err)
	kinds := map[graph.NodeKind]int{}
	for _, n := range g.Nodes {
		kinds[n.Kind]++
	}
	assert.Equal(t, map[graph.NodeKind]int{graph.KindSupply: 2, graph.KindReplace: 1, graph.KindDecorator: 1,
		graph.KindConstructor: 2, graph.KindInvoke: 1}, kinds, "the constructors: the annotated int, and fx.NopLogger's")
	for _, n := range g.Nodes {
		if n.Kind == graph.KindConstructor && n.Module == "m" {
			assert.Equal(t, []graph.Port{{Type: "int", Name: "one"}}, n.Outputs)
			assert.True(t, n.Private)
			assert.Contains(t, n.Location, "plan_test.go:")
		}
	}
}
