package testutil

import (
	"fmt"
	"reflect"

	"go.uber.org/fx"
)

// Synthetic returns a composition of n constructors in 10 modules, for
// scale benchmarks. Each provides its own type (made at run time), needs
// the previous one and one further back (fan-in 2), and every tenth takes
// the Lifecycle and appends a hook; one invoke needs the last, so every
// constructor runs.
func Synthetic(n int) []fx.Option {
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
