// Package bootgraph is the engine of a declarative control plane: it builds
// a plane such as istiod's from fx modules (parts) whose dependency graph,
// not statement order, fixes the start order: the CA first, then the
// serving certificate it signs, then the TLS listeners that present it, and
// the CA's own background work last.
//
// The engine knows no part. New takes its own small Options (logger,
// timeouts) and the parts as fx options, plans the composition before
// anything runs, and builds it:
//
//	p, err := bootgraph.New(bootgraph.Options{},
//		ca.Module(ca.Options{}),
//		servingcert.Module(servingcert.Options{}),
//		grpc.Module(grpc.Options{}),
//		grpc.Register(func(r grpc.ServiceRegistrar) { pb.RegisterGreeterServer(r, &greeter{}) }),
//	)
//	...
//	err = p.Run(ctx) // start, wait for ctx or a signal, stop
//
// A composition that lacks a part (the istiod serving-cert provider without
// the CA, say) fails in New, before anything runs, with an error that names
// the missing type, the part that provides it and who needs it. A start
// that fails or times out stops every hook that had started (fx itself
// skips them on a start timeout, fx#1035). Plan draws the same composition
// without building it; Plane.Graph draws a built one with the durations of
// its build and start.
//
// Package config reads the same parts from a YAML file and flags; package
// fxplan is the planner, usable on any fx application.
package bootgraph
