// Package grpc is the secure gRPC listener (istiod's port 15012) as an fx
// module: the home of the plane's gRPC services (the CA's, xDS, yours).
//
// The server presents the serving bundle's certificate and requires TLS 1.2
// or later. It requests a client certificate but leaves its verification to
// the services' authenticators (ca.ClientCertAuthenticator verifies it
// against the current roots): a bad certificate then gets a clear
// Unauthenticated, with the reason in the log and the metrics, instead of a
// failed handshake; a service that reads peer certificates itself must
// verify them (VerifiedChains is empty).
//
// Services join with Register and ProvideService and are registered in the
// constructor, before OnStart binds the port; the gRPC health service (per
// service, see Health) and server reflection are always registered.
// Interceptors join with Intercept, in order. Options bound what a client
// can hold (streams, message sizes, header lists, connections, idle time,
// handshake time, memory for requests still arriving). OnStop drains (see
// Drain): services are told to end their streams, new RPCs are refused
// with Unavailable, in-flight ones get DrainTimeout, then what remains is
// closed.
package grpc
