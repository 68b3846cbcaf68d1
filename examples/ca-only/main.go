// Command ca-only is a CA signing server and nothing else: a self-signed
// CA, the serving certificate it signs for itself, and the secure gRPC
// listener with istio.v1.auth.IstioCertificateService. No webhook, no DNS,
// no monitoring: the parts are picked in Go, and the order falls out of
// their types.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"go.uber.org/fx"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

func main() {
	dataDir := flag.String("data-dir", ".bootgraph", "the CA and the token file live here")
	addr := flag.String("addr", grpc.DefaultAddr, "secure gRPC listen address")
	trustDomain := flag.String("trust-domain", ca.DefaultTrustDomain, "SPIFFE trust domain of issued identities")
	flag.Parse()

	p, err := bootgraph.New(bootgraph.Options{},
		component.SupplyEnv(component.Env{DataDir: *dataDir}),
		ca.Module(ca.Options{TrustDomain: *trustDomain}),
		servingcert.Module(servingcert.Options{}),
		grpc.Module(grpc.Options{Addr: *addr}),
		fx.Invoke(sayReady),
	)
	if err == nil {
		err = p.Run(context.Background()) // until SIGINT or SIGTERM
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ca-only:", err)
		os.Exit(1)
	}
}

// sayReady prints the bound address once the server serves: its hook is
// appended after the server's, because it needs the server.
func sayReady(lc fx.Lifecycle, s *grpc.Server) {
	lc.Append(fx.StartHook(func() { fmt.Printf("ready grpc=%s\n", s.Addr()) }))
}
