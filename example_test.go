package bootgraph_test

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/fx"
	"go.uber.org/zap"
	gogrpc "google.golang.org/grpc"

	"github.com/bootgraph/bootgraph"
	bggrpc "github.com/bootgraph/bootgraph/modules/grpc"
)

// A library user adds a gRPC service to the default plane. It joins the
// secure server's service group and is registered before the server serves.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "bootgraph-example")
	defer os.RemoveAll(dir)

	cfg := bootgraph.Config{DataDir: dir, Logger: zap.NewNop()}
	cfg.GRPC.Addr, cfg.Webhook.Addr, cfg.DNS.Addr, cfg.Monitoring.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"

	myService := bggrpc.ServiceFunc(func(r gogrpc.ServiceRegistrar) { registerEcho(r) })
	var srv *bggrpc.Server
	p, err := bootgraph.New(cfg,
		fx.Supply(fx.Annotate(myService, fx.As(new(bggrpc.Service)), fx.ResultTags(`group:"grpc.services"`))),
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

	_, registered := srv.GRPC().GetServiceInfo()["bootgraph.test.Echo"]
	fmt.Println("echo registered:", registered)
	// Output: echo registered: true
}

// A composition that lacks a part fails before anything runs, naming it.
func ExampleNew_missingPart() {
	cfg := bootgraph.Config{DataDir: os.TempDir(), Logger: zap.NewNop()}
	cfg.CA.Enabled = new(bool) // the istiod serving-cert provider needs the CA

	_, err := bootgraph.New(cfg)
	fmt.Println(err)
	// Output: composition is missing *ca.CA, provided by the ca module (modules/ca; config "ca.enabled: true"); dnscert.provideIstiod needs it to build *dnscert.Bundle, needed by *grpc.Server
}
