// Command ca-xds is a plane that runs the CA and an xDS server together on
// one secure gRPC listener, as istiod does on 15012: a workload gets its
// certificate from the CA (istio.v1.auth.IstioCertificateService) and then
// opens an ADS stream with it, its SPIFFE identity as its node ID.
//
// The resources come from a file (--resources), re-read when it changes,
// and from Go: the example publishes to the default/default identity (the
// local token's) one cluster of its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"go.uber.org/fx"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/xds"
)

func main() {
	dataDir := flag.String("data-dir", ".bootgraph", "the CA and the token file live here")
	addr := flag.String("addr", grpc.DefaultAddr, "secure gRPC listen address")
	trustDomain := flag.String("trust-domain", ca.DefaultTrustDomain, "SPIFFE trust domain of issued identities")
	resources := flag.String("resources", "", "YAML or JSON file of xDS resources for every node (optional)")
	flag.Parse()

	p, err := bootgraph.New(bootgraph.Options{},
		component.SupplyEnv(component.Env{DataDir: *dataDir}),
		ca.Module(ca.Options{TrustDomain: *trustDomain}),
		servingcert.Module(servingcert.Options{}),
		grpc.Module(grpc.Options{Addr: *addr}),
		xds.Module(xds.Options{ResourcesFile: *resources}), // the CA's trust domain and authenticators
		fx.Invoke(publish),
		fx.Invoke(sayReady),
	)
	if err == nil {
		err = p.Run(context.Background()) // until SIGINT or SIGTERM
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ca-xds:", err)
		os.Exit(1)
	}
}

// publish gives the default/default identity a cluster of its own, on top
// of the file's resources.
func publish(s *xds.Snapshots, c *ca.CA) error {
	return s.Set(ca.SpiffeID(c.TrustDomain(), "default", "default"), xds.Resources{
		Clusters: []*clusterv3.Cluster{{
			Name:                 "default-only",
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
			ConnectTimeout:       durationpb.New(time.Second),
		}},
	})
}

// sayReady prints the bound address once the server serves.
func sayReady(lc fx.Lifecycle, s *grpc.Server) {
	lc.Append(fx.StartHook(func() { fmt.Printf("ready grpc=%s\n", s.Addr()) }))
}
