package grpc

import "github.com/bootgraph/bootgraph/modules/plane"

// The service-group vocabulary lives in package plane so that any module
// (the CA among them) can join without importing this one; these names are
// the ones users of the gRPC module reach for.
type (
	// Service is a gRPC service that joins the secure server.
	Service = plane.GRPCService
	// ServiceOut adds a Service to the "grpc.services" group.
	ServiceOut = plane.GRPCServiceOut
	// ServiceFunc adapts a registration function to Service.
	ServiceFunc = plane.GRPCServiceFunc
)

// GroupServices is the value group through which services join the server.
const GroupServices = plane.GroupGRPCServices
