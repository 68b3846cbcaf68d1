package bootgraph_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph"
)

// syntheticPlane returns a composition of n constructors in 10 modules. Each
// provides its own type (made at run time), needs the previous one and one
// further back (fan-in 2), and every tenth takes the Lifecycle and appends a
// hook; one invoke needs the last, so every constructor runs.
func syntheticPlane(n int) []fx.Option {
	types := make([]reflect.Type, n)
	for i := range types {
		types[i] = reflect.StructOf([]reflect.StructField{{Name: fmt.Sprintf("F%d", i), Type: reflect.TypeFor[int]()}})
	}
	lifecycle := reflect.TypeFor[fx.Lifecycle]()
	modules := make([][]fx.Option, 10)
	for i := range n {
		var in []reflect.Type
		if i%10 == 0 {
			in = append(in, lifecycle)
		}
		if i > 0 {
			in = append(in, types[i-1])
		}
		if i > 1 {
			in = append(in, types[i/2])
		}
		out := types[i]
		hook := i%10 == 0
		fn := reflect.MakeFunc(reflect.FuncOf(in, []reflect.Type{out}, false), func(args []reflect.Value) []reflect.Value {
			if hook {
				args[0].Interface().(fx.Lifecycle).Append(fx.StartHook(func() {}))
			}
			return []reflect.Value{reflect.New(out).Elem()}
		})
		m := i * 10 / n
		modules[m] = append(modules[m], fx.Provide(fn.Interface()))
	}
	var opts []fx.Option
	for i, m := range modules {
		opts = append(opts, fx.Module(fmt.Sprintf("m%d", i), m...))
	}
	last := types[n-1]
	invoke := reflect.MakeFunc(reflect.FuncOf([]reflect.Type{last}, nil, false), func([]reflect.Value) []reflect.Value { return nil })
	return append(opts, fx.Invoke(invoke.Interface()))
}

// BenchmarkEngineScale builds, starts and stops synthetic compositions.
func BenchmarkEngineScale(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("constructors=%d", n), func(b *testing.B) {
			opts := syntheticPlane(n)
			cfg := bootgraph.Config{Logger: zap.NewNop()}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				p, err := bootgraph.Compose(cfg, opts...)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Start(ctx); err != nil {
					b.Fatal(err)
				}
				if err := p.Stop(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPlanScale plans the same compositions without running them.
func BenchmarkPlanScale(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("constructors=%d", n), func(b *testing.B) {
			opts := syntheticPlane(n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bootgraph.Plan(opts...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The synthetic composition is a valid one, and the plan predicts it.
func TestSyntheticPlanePrediction(t *testing.T) {
	p, err := bootgraph.Compose(bootgraph.Config{Logger: zap.NewNop()}, syntheticPlane(200)...)
	if err != nil {
		t.Fatal(err)
	}
	assertPredictionHolds(t, p)
	if got := len(p.Hooks()); got != 20 {
		t.Fatalf("want 20 hooks, got %d", got)
	}
}

// BenchmarkFxScale is the baseline: plain fx.New, Start and Stop of the
// same compositions, without the engine (no dry run, hook tracking or
// event recording).
func BenchmarkFxScale(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("constructors=%d", n), func(b *testing.B) {
			opts := append(syntheticPlane(n), fx.NopLogger)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				app := fx.New(opts...)
				if err := app.Err(); err != nil {
					b.Fatal(err)
				}
				if err := app.Start(ctx); err != nil {
					b.Fatal(err)
				}
				if err := app.Stop(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
