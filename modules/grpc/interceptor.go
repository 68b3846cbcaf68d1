package grpc

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"

	"go.uber.org/fx"
	gogrpc "google.golang.org/grpc"
)

// GroupInterceptors is the value group through which interceptors join
// the secure server.
const GroupInterceptors = "grpc.interceptors"

// Interceptor wraps the secure server's RPCs. Interceptors run in Order
// (lower first, that is outermost), ties by Name; each is a node of the
// plane's graph. The server's own drain check runs before all of them.
type Interceptor struct {
	// Name identifies it in logs and the graph, e.g. "metrics".
	Name string
	// Order places it: lower runs first.
	Order int
	// Unary and Stream wrap unary RPCs and streams; either may be nil.
	Unary  gogrpc.UnaryServerInterceptor
	Stream gogrpc.StreamServerInterceptor
}

// Intercept adds i to the secure server.
func Intercept(i Interceptor) fx.Option {
	if i.Name == "" || i.Unary == nil && i.Stream == nil {
		return fx.Error(fmt.Errorf("grpc.Intercept: want a Name and a Unary or Stream interceptor, got %+v", i))
	}
	return fx.Supply(fx.Annotate(i, fx.ResultTags(`group:"`+GroupInterceptors+`"`)))
}

// ProvideInterceptor adds the interceptor ctor builds from the graph; ctor
// returns an Interceptor, optionally with an error.
func ProvideInterceptor(ctor any) fx.Option {
	t := reflect.TypeOf(ctor)
	if t == nil || t.Kind() != reflect.Func || t.NumOut() < 1 || t.Out(0) != reflect.TypeFor[Interceptor]() {
		return fx.Error(fmt.Errorf("grpc.ProvideInterceptor: want a constructor returning grpc.Interceptor, got %v", t))
	}
	return fx.Provide(fx.Annotate(ctor, fx.ResultTags(`group:"`+GroupInterceptors+`"`)))
}

// chain orders interceptors and returns the server options that install
// them after the drain check.
func chain(d *Drain, interceptors []Interceptor) []gogrpc.ServerOption {
	sorted := slices.Clone(interceptors)
	slices.SortStableFunc(sorted, func(a, b Interceptor) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), cmp.Compare(a.Name, b.Name))
	})
	unary := []gogrpc.UnaryServerInterceptor{d.unary}
	stream := []gogrpc.StreamServerInterceptor{d.stream}
	for _, i := range sorted {
		if i.Unary != nil {
			unary = append(unary, i.Unary)
		}
		if i.Stream != nil {
			stream = append(stream, i.Stream)
		}
	}
	return []gogrpc.ServerOption{gogrpc.ChainUnaryInterceptor(unary...), gogrpc.ChainStreamInterceptor(stream...)}
}
