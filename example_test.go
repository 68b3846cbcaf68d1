package bootgraph_test

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/fx"
	"go.uber.org/zap"
	gogrpc "google.golang.org/grpc"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// A program composes a CA-signing plane from parts and adds a gRPC service
// of its own: the service joins the secure server and is registered before
// the server serves.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "bootgraph-example")
	defer os.RemoveAll(dir)

	var srv *grpc.Server
	p, err := bootgraph.New(bootgraph.Options{Logger: zap.NewNop()},
		component.SupplyEnv(component.Env{DataDir: dir}),
		ca.Module(ca.Options{}),
		servingcert.Module(servingcert.Options{}),
		grpc.Module(grpc.Options{Addr: "127.0.0.1:0"}),
		grpc.Register(func(r gogrpc.ServiceRegistrar) { registerEcho(r) }),
		fx.Populate(&srv),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer p.Stop(context.Background())

	_, echo := srv.GRPC().GetServiceInfo()["bootgraph.test.Echo"]
	_, caService := srv.GRPC().GetServiceInfo()["istio.v1.auth.IstioCertificateService"]
	fmt.Println("echo registered:", echo, "CA service registered:", caService)
	// Output: echo registered: true CA service registered: true
}

// A composition that lacks a part fails before anything runs, naming it,
// the part that provides it and who needs it.
func ExampleNew_missingPart() {
	_, err := bootgraph.New(bootgraph.Options{Logger: zap.NewNop()},
		servingcert.Module(servingcert.Options{}), // the istiod provider needs the CA
		grpc.Module(grpc.Options{Addr: "127.0.0.1:0"}),
	)
	fmt.Println(err)
	// Output: composition is missing *ca.CA, provided by the "ca" part: add ca.Module (github.com/bootgraph/bootgraph/modules/ca); servingcert.provideIstiod needs it to build *servingcert.Bundle, which grpc.provideServer needs to build *grpc.Server. Without a CA, the files provider serves a certificate of your own: servingcert.Module(servingcert.Options{CertFile: ..., KeyFile: ...})
}

// Plan draws a composition without building it: nothing runs, nothing is
// written.
func ExamplePlan() {
	g, _ := bootgraph.Plan(bootgraph.Options{},
		ca.Module(ca.Options{}),
		servingcert.Module(servingcert.Options{}),
		grpc.Module(grpc.Options{}),
	)
	for _, h := range g.Hooks {
		fmt.Println(h.Index, h.Name)
	}
	// Output:
	// 0 servingcert.provideIstiod
	// 1 grpc.provideServer
	// 2 ca.registerRun
	// 3 grpc.registerReadiness
}
