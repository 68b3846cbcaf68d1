// Package grpc is the secure gRPC listener (istiod's port 15012) as an fx
// module.
//
// The server presents the serving bundle's certificate, requires TLS 1.2 or
// later, and verifies a client certificate when one is given
// (tls.VerifyClientCertIfGiven) against the bundle's roots, re-read on every
// handshake so the client-CA pool follows the CA. Services join through the
// "grpc.services" value group (Register, ProvideService) and are registered in the constructor, before
// OnStart binds the port; the gRPC health service and server reflection are
// always registered. OnStop drains in-flight calls until the stop deadline,
// then closes what remains.
package grpc
