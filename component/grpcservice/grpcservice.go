// Package grpcservice is how a gRPC service joins the plane's secure gRPC
// server: the server registers every member of the "grpc.services" group
// in its constructor, before its OnStart hook binds the port, so no client
// ever sees Unimplemented for a service of the plane.
//
// It is apart from the grpc module so that a part (the CA among them) can
// contribute a service without importing the server, which needs the
// serving certificate, which may need the CA. Programs usually reach for
// the same helpers through package modules/grpc.
package grpcservice

import (
	"fmt"
	"reflect"

	"go.uber.org/fx"
	"google.golang.org/grpc"
)

// Group is the value group through which services join the secure server.
const Group = "grpc.services"

// Service is a gRPC service that joins the secure server.
type Service interface {
	// Register adds the service's handlers to r.
	Register(r grpc.ServiceRegistrar)
}

// Func adapts a registration function to Service, e.g.
// Func(func(r grpc.ServiceRegistrar) { pb.RegisterFooServer(r, impl) }).
type Func func(r grpc.ServiceRegistrar)

// Register implements Service.
func (f Func) Register(r grpc.ServiceRegistrar) { f(r) }

// Out adds a Service to Group from a constructor's result struct.
type Out struct {
	fx.Out
	Service Service `group:"grpc.services"`
}

// In receives every Service of Group.
type In struct {
	fx.In
	Services []Service `group:"grpc.services"`
}

// Register adds the service that register puts on the server:
//
//	grpcservice.Register(func(r grpc.ServiceRegistrar) { pb.RegisterGreeterServer(r, &greeter{}) })
func Register(register func(r grpc.ServiceRegistrar)) fx.Option {
	return fx.Supply(fx.Annotate(Func(register), fx.As(new(Service)), fx.ResultTags(`group:"`+Group+`"`)))
}

// Provide adds the service that ctor builds from the graph. ctor returns a
// Service (or something that implements it), optionally with an error:
//
//	grpcservice.Provide(func(c *mycache.Cache) *XDS { ... }) // *XDS has Register
func Provide(ctor any) fx.Option {
	t := reflect.TypeOf(ctor)
	service := reflect.TypeFor[Service]()
	if t == nil || t.Kind() != reflect.Func || t.NumOut() < 1 || !t.Out(0).Implements(service) {
		return fx.Error(fmt.Errorf("grpcservice.Provide: want a constructor whose first result implements grpcservice.Service, got %v", t))
	}
	return fx.Provide(fx.Annotate(ctor, fx.As(new(Service)), fx.ResultTags(`group:"`+Group+`"`)))
}
