package fxplan_test

import (
	"fmt"
	"testing"

	"go.uber.org/fx"

	"github.com/bootgraph/bootgraph/fxplan"
	"github.com/bootgraph/bootgraph/internal/testutil"
)

// BenchmarkPlanScale plans synthetic compositions without running them,
// with fx's own dry run (fx.ValidateApp, which the plan replaces in New)
// on the same compositions as the baseline.
func BenchmarkPlanScale(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		opts := testutil.Synthetic(n)
		b.Run(fmt.Sprintf("constructors=%d/plan", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if a := fxplan.Analyze(opts...); !a.OK() {
					b.Fatal(a.Graph.Problems)
				}
			}
		})
		b.Run(fmt.Sprintf("constructors=%d/fx.ValidateApp", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := fx.ValidateApp(append(opts, fx.NopLogger)...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
