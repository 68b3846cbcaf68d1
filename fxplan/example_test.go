package fxplan_test

import (
	"fmt"

	"go.uber.org/fx"

	"github.com/bootgraph/bootgraph/fxplan"
)

type (
	db  struct{}
	api struct{}
)

func newDB(lc fx.Lifecycle) *db { lc.Append(fx.StartHook(func() {})); return &db{} }

func newAPI(lc fx.Lifecycle, _ *db) *api { lc.Append(fx.StartHook(func() {})); return &api{} }

// Plan predicts, without running anything, the order in which fx would
// call the functions of any fx application and start its hooks.
func ExamplePlan() {
	g := fxplan.Plan(
		fx.Provide(newAPI, newDB),
		fx.Invoke(func(*api) {}),
	)
	for _, h := range g.Hooks {
		fmt.Println("hook", h.Index, h.Name)
	}
	// Output:
	// hook 0 fxplan_test.newDB
	// hook 1 fxplan_test.newAPI
}

// Analyze says what is missing, and who needs it, as data.
func ExampleAnalyze() {
	a := fxplan.Analyze(fx.Provide(newAPI), fx.Invoke(func(*api) {}))
	for _, m := range a.Missing {
		fmt.Printf("missing %s (Go type %v), needed by %s to build %s\n", m.Key, m.Type, m.Chain[0].Func, m.Chain[0].Builds)
	}
	// Output: missing *fxplan_test.db (Go type *fxplan_test.db), needed by fxplan_test.newAPI to build *fxplan_test.api
}
