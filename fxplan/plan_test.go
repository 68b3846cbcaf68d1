package fxplan_test

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/fxplan"
	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/internal/testutil"
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
	g := fxplan.Plan(syntheticComposition(&srv)...)
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
	assert.True(t, byName["fxplan_test.newCache"].Private)
	assert.Equal(t, graph.KindDecorator, byName["fxplan_test.decorateCache"].Kind)
	assert.Equal(t, "storage/cache", byName["fxplan_test.decorateCache"].Module)
	assert.Equal(t, []graph.Port{{Type: "fxplan_test.handler"}}, byName["fxplan_test.newHandler"].Outputs, "fx.As replaces the type")
	assert.Equal(t, []graph.Port{{Type: "fxplan_test.plugin", Group: "plugins", Flatten: true}}, byName["fxplan_test.newPlugins"].Outputs)
	assert.Equal(t, graph.KindInvoke, byName["fx.Populate"].Kind)

	var plugins *graph.Group
	for i := range g.Groups {
		if g.Groups[i].Name == "plugins" {
			plugins = &g.Groups[i]
		}
	}
	require.NotNil(t, plugins)
	assert.Len(t, plugins.Members, 2)
	assert.Equal(t, []string{byName["fxplan_test.newServer"].ID}, plugins.Consumers)

	// Hooks: the store's, the server's, then the annotated invoke's OnStart.
	var hooks []string
	for _, h := range g.Hooks {
		hooks = append(hooks, h.Name)
	}
	assert.Equal(t, []string{"fxplan_test.newStore", "fxplan_test.newServer", "fxplan_test.syntheticComposition.func1"}, hooks)
}

// The plan of a user's composition predicts what fx really runs, in order.
func TestPlanPredictsSyntheticComposition(t *testing.T) {
	var srv *server
	p, err := bootgraph.New(bootgraph.Options{Logger: zap.NewNop()}, syntheticComposition(&srv)...)
	require.NoError(t, err)
	testutil.PredictionHolds(t, p)
	require.NotNil(t, srv, "fx.Populate ran")
}

// The synthetic scale composition is a valid one, and the plan predicts it.
func TestSyntheticScalePrediction(t *testing.T) {
	p, err := bootgraph.New(bootgraph.Options{Logger: zap.NewNop()}, testutil.Synthetic(200)...)
	require.NoError(t, err)
	testutil.PredictionHolds(t, p)
	assert.Len(t, p.Hooks(), 20)
}

func TestPlanMissingType(t *testing.T) {
	a := fxplan.Analyze(
		fx.Provide(newCache), // needs *store, which nothing provides
		fx.Provide(newHandler),
		fx.Invoke(func(handlerA) {}),
	)
	g := a.Graph
	require.Len(t, g.Problems, 1)
	assert.Equal(t, graph.ProblemMissing, g.Problems[0].Kind)
	assert.Contains(t, g.Problems[0].Message, "missing type *fxplan_test.store, needed by fxplan_test.newCache")

	status := map[string]graph.Status{}
	for _, n := range g.Nodes {
		status[n.Name] = n.Status
	}
	assert.Equal(t, graph.StatusMissing, status["*fxplan_test.store"])
	assert.Equal(t, graph.StatusNeedsMissed, status["fxplan_test.newCache"])
	assert.Equal(t, graph.StatusNeedsMissed, status["fxplan_test.newHandler"], "transitively")

	// The finding, as a program reads it: the type, and who needs it.
	require.Len(t, a.Missing, 1)
	m := a.Missing[0]
	assert.Equal(t, reflect.TypeFor[*store](), m.Type)
	var chain []string
	for _, s := range m.Chain {
		chain = append(chain, s.Func+" builds "+s.Builds)
	}
	assert.Equal(t, []string{"fxplan_test.newCache builds *fxplan_test.cache", "fxplan_test.newHandler builds fxplan_test.handlerA",
		"fxplan_test.TestPlanMissingType.func1 builds "}, chain)
	assert.False(t, a.OK())
}

// A constructor that nothing runs may need what is missing: fx never
// notices, so neither does the plan's verdict.
func TestPlanMissingOnlyCountsWhatRuns(t *testing.T) {
	a := fxplan.Analyze(fx.Provide(newCache), fx.Supply(config{}), fx.Invoke(func(config) {}))
	assert.True(t, a.OK(), "%v", a.Missing)
	for _, n := range a.Graph.Nodes {
		if n.Name == "fxplan_test.newCache" {
			assert.Equal(t, graph.StatusNeedsMissed, n.Status, "still drawn as needing the missing type")
		}
	}
}

type (
	chicken struct{}
	egg     struct{}
)

func TestPlanCycle(t *testing.T) {
	a := fxplan.Analyze(
		fx.Provide(func(*egg) *chicken { return nil }),
		fx.Provide(func(*chicken) *egg { return nil }),
		fx.Invoke(func(*chicken) {}),
	)
	g := a.Graph
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
	require.Len(t, a.Cycles, 1)
	assert.Equal(t, "fxplan_test.TestPlanCycle.func1 needs *fxplan_test.egg from fxplan_test.TestPlanCycle.func2, "+
		"which fxplan_test.TestPlanCycle.func2 needs *fxplan_test.chicken from fxplan_test.TestPlanCycle.func1", a.Cycles[0].String())
}

type registry struct{}

type registryIn struct {
	fx.In
	Plugins []plugin `group:"plugins"`
}

// A cycle through a value group names the group, not a parameter struct.
func TestPlanCycleThroughGroup(t *testing.T) {
	a := fxplan.Analyze(
		fx.Provide(func(registryIn) *registry { return nil }),
		fx.Provide(fx.Annotate(func(*registry) plugin { return "" }, fx.ResultTags(`group:"plugins"`))),
		fx.Invoke(func(*registry) {}),
	)
	require.Len(t, a.Cycles, 1)
	msg := a.Cycles[0].String()
	assert.Contains(t, msg, `needs the value group "plugins"`)
	assert.NotContains(t, msg, "registryIn")
}

// The options a composition carries errors in are findings too.
func TestPlanCarriedErrors(t *testing.T) {
	boom := errors.New("boom")
	a := fxplan.Analyze(
		fx.Error(boom),
		fx.Provide(fx.Annotate(newCache, fx.ParamTags(`name:"a"`), fx.ParamTags(`name:"b"`))), // two lines of tags
	)
	require.Len(t, a.Errors, 2)
	assert.ErrorIs(t, a.Errors[0], boom)
	assert.Contains(t, a.Errors[1].Error(), "ParamTags")
	assert.False(t, a.OK())
	var kinds []graph.ProblemKind
	for _, p := range a.Graph.Problems {
		kinds = append(kinds, p.Kind)
	}
	assert.Equal(t, []graph.ProblemKind{graph.ProblemError, graph.ProblemError}, kinds)
}

type (
	runner    interface{ Run() }
	fooRunner struct{}
)

func (*fooRunner) Run() {}

// fx.From: the parameter is taken as the given type.
func TestPlanReadsFrom(t *testing.T) {
	g := fxplan.Plan(
		fx.Provide(func() *fooRunner { return &fooRunner{} }),
		fx.Provide(fx.Annotate(func(runner) *store { return nil }, fx.From(new(*fooRunner)))),
		fx.Invoke(func(*store) {}),
	)
	require.Empty(t, g.Problems)
	for _, n := range g.Nodes {
		if strings.HasSuffix(n.Name, "TestPlanReadsFrom.func2") {
			assert.Equal(t, []graph.Port{{Type: "*fxplan_test.fooRunner"}}, n.Inputs)
		}
	}
}

// The plan's verdict is fx's: for each composition, the planner finds a
// problem exactly when fx.ValidateApp does. New trusts the plan instead of
// running fx's dry run, so a difference here would let a broken composition
// run constructors before it fails, or refuse a good one.
func TestPlanAgreesWithFx(t *testing.T) {
	var w io.Writer
	cases := map[string][]fx.Option{
		"synthetic":      syntheticComposition(new(*server)),
		"scale":          testutil.Synthetic(100),
		"missing":        {fx.Provide(newCache), fx.Invoke(func(*cache) {})},
		"missing unused": {fx.Provide(newCache), fx.Invoke(func() {})},
		"optional absent": {fx.Invoke(func(p struct {
			fx.In
			S *store `optional:"true"`
		}) {
		})},
		"named missing":     {fx.Supply(fx.Annotate(&store{}, fx.ResultTags(`name:"a"`))), fx.Invoke(fx.Annotate(func(*store) {}, fx.ParamTags(`name:"b"`)))},
		"named present":     {fx.Supply(fx.Annotate(&store{}, fx.ResultTags(`name:"a"`))), fx.Invoke(fx.Annotate(func(*store) {}, fx.ParamTags(`name:"a"`)))},
		"empty group":       {fx.Invoke(func(registryIn) {})},
		"private sibling":   {fx.Module("a", fx.Provide(fx.Private, func() *store { return nil })), fx.Module("b", fx.Invoke(func(*store) {}))},
		"private same":      {fx.Module("a", fx.Provide(fx.Private, func() *store { return nil }), fx.Invoke(func(*store) {}))},
		"private parent":    {fx.Module("a", fx.Provide(fx.Private, func() *store { return nil }), fx.Module("b", fx.Invoke(func(*store) {})))},
		"decorator missing": {fx.Supply(&cache{}), fx.Decorate(func(*cache, *store) *cache { return nil }), fx.Invoke(func(*cache) {})},
		"replace nothing":   {fx.Replace(fx.Annotate(&strings.Builder{}, fx.As(new(io.Writer)))), fx.Populate(&w)},
		"replace":           {fx.Supply(fx.Annotate(&strings.Builder{}, fx.As(new(io.Writer)))), fx.Replace(fx.Annotate(&strings.Builder{}, fx.As(new(io.Writer)))), fx.Populate(&w)},
		"decorate nothing": {fx.Decorate(func(*cache) *cache { return nil }), fx.Invoke(func(p struct {
			fx.In
			C *cache `optional:"true"`
		}) {
		})},
		"cycle":        {fx.Provide(func(*egg) *chicken { return nil }), fx.Provide(func(*chicken) *egg { return nil }), fx.Invoke(func(*chicken) {})},
		"from":         {fx.Provide(func() *fooRunner { return nil }), fx.Provide(fx.Annotate(func(runner) *store { return nil }, fx.From(new(*fooRunner)))), fx.Invoke(func(*store) {})},
		"from missing": {fx.Provide(fx.Annotate(func(runner) *store { return nil }, fx.From(new(*fooRunner)))), fx.Invoke(func(*store) {})},
		"error":        {fx.Error(errors.New("boom"))},
		"soft group": {fx.Invoke(func(p struct {
			fx.In
			P []plugin `group:"late,soft"`
		}) {
		})},
		"lifecycle":      {fx.Invoke(func(fx.Lifecycle, fx.Shutdowner) {})},
		"annotated hook": {fx.Provide(newStore, func() config { return config{} }), fx.Invoke(fx.Annotate(func(*store) {}, fx.OnStart(serverOnStart)))},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			fxErr := fx.ValidateApp(append(opts, fx.Logger(silent{}), fx.NopLogger)...)
			a := fxplan.Analyze(opts...)
			assert.Empty(t, a.Unknown)
			assert.Equal(t, fxErr == nil, a.OK(), "fx: %v; plan: missing %v, cycles %v, errors %v", fxErr, a.Missing, a.Cycles, a.Errors)
		})
	}
}

// silent is the printer of fx's fallback console logger, which prints when
// a custom logger fails (a cycle found while building it, say).
type silent struct{}

func (silent) Printf(string, ...any) {}
