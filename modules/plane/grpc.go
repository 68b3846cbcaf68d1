package plane

import (
	"go.uber.org/fx"
	"google.golang.org/grpc"
)

// GroupGRPCServices is the value group through which gRPC services join the
// secure server. The server registers every member in its constructor, before
// its OnStart hook binds the port, so no client sees Unimplemented.
const GroupGRPCServices = "grpc.services"

// GRPCService is a gRPC service that joins the secure server.
type GRPCService interface {
	// Register adds the service's handlers to r.
	Register(r grpc.ServiceRegistrar)
}

// GRPCServiceOut adds a GRPCService to GroupGRPCServices from a constructor.
type GRPCServiceOut struct {
	fx.Out
	Service GRPCService `group:"grpc.services"`
}

// GRPCServiceFunc adapts a registration function to GRPCService, e.g.
// GRPCServiceFunc(func(r grpc.ServiceRegistrar) { pb.RegisterFooServer(r, impl) }).
type GRPCServiceFunc func(r grpc.ServiceRegistrar)

// Register implements GRPCService.
func (f GRPCServiceFunc) Register(r grpc.ServiceRegistrar) { f(r) }
