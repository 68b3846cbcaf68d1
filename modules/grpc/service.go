package grpc

import (
	"go.uber.org/fx"
	gogrpc "google.golang.org/grpc"

	"github.com/bootgraph/bootgraph/component/grpcservice"
)

// The service vocabulary lives in component/grpcservice so that any part
// (the CA among them) can add a service without importing this package;
// these are the names users of the gRPC part reach for.
type (
	// Service is a gRPC service that joins the secure server.
	Service = grpcservice.Service
	// ServiceFunc adapts a registration function to Service.
	ServiceFunc = grpcservice.Func
	// ServiceRegistrar is what a service registers its handlers on.
	ServiceRegistrar = gogrpc.ServiceRegistrar
)

// Register adds the service that register puts on the secure server,
// registered before the server serves:
//
//	grpc.Register(func(r grpc.ServiceRegistrar) { pb.RegisterGreeterServer(r, &greeter{}) })
func Register(register func(r ServiceRegistrar)) fx.Option { return grpcservice.Register(register) }

// ProvideService adds the service ctor builds from the graph; ctor returns
// something with a Register(grpc.ServiceRegistrar) method, optionally with
// an error.
func ProvideService(ctor any) fx.Option { return grpcservice.Provide(ctor) }
