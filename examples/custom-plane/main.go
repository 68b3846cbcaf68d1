// Command custom-plane is a plane of your own: the built-in CA, serving
// certificate, secure gRPC, webhook and DNS-over-TLS parts, plus a gRPC
// service, an admission handler and DNS records of its own, each added
// with one typed call. The monitoring part is left out.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"go.uber.org/fx"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/dns"
	"github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

func main() {
	dataDir := flag.String("data-dir", ".bootgraph", "the CA and the token file live here")
	grpcAddr := flag.String("grpc-addr", grpc.DefaultAddr, "secure gRPC listen address")
	webhookAddr := flag.String("webhook-addr", webhook.DefaultAddr, "HTTPS webhook listen address")
	dnsAddr := flag.String("dns-addr", dns.DefaultAddr, "DNS-over-TLS listen address")
	flag.Parse()

	p, err := bootgraph.New(bootgraph.Options{},
		component.SupplyEnv(component.Env{DataDir: *dataDir}),
		ca.Module(ca.Options{}),
		servingcert.Module(servingcert.Options{}),
		grpc.Module(grpc.Options{Addr: *grpcAddr}),
		webhook.Module(webhook.Options{Addr: *webhookAddr}),
		dns.Module(dns.Options{Addr: *dnsAddr}),

		grpc.Register(registerClock),
		webhook.HandleAdmission("/mutate", addManagedBy),
		dns.Records(dns.Record{
			Name:  "xds.istio-system.svc",
			Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.7")},
		}),
		fx.Invoke(sayReady),
	)
	if err == nil {
		err = p.Run(context.Background()) // until SIGINT or SIGTERM
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "custom-plane:", err)
		os.Exit(1)
	}
}

// sayReady prints the bound addresses once every listener serves: its hook
// is appended after theirs, because it needs them.
func sayReady(lc fx.Lifecycle, g *grpc.Server, w *webhook.Server, d *dns.Server) {
	lc.Append(fx.StartHook(func() {
		fmt.Printf("ready grpc=%s webhook=%s dns=%s\n", g.Addr(), w.Addr(), d.Addr())
	}))
}

// ClockService is the full name of the example's gRPC service.
const ClockService = "example.v1.Clock"

// registerClock registers example.v1.Clock/Now, which answers the server's
// time in RFC 3339, described by hand so that no generated code is needed.
func registerClock(r gogrpc.ServiceRegistrar) {
	r.RegisterService(&gogrpc.ServiceDesc{
		ServiceName: ClockService,
		HandlerType: (*any)(nil),
		Methods: []gogrpc.MethodDesc{{
			MethodName: "Now",
			Handler: func(_ any, _ context.Context, dec func(any) error, _ gogrpc.UnaryServerInterceptor) (any, error) {
				if err := dec(new(wrapperspb.StringValue)); err != nil {
					return nil, err
				}
				return wrapperspb.String(time.Now().UTC().Format(time.RFC3339)), nil
			},
		}},
	}, struct{}{})
}

// addManagedBy labels every object managed-by=custom-plane with a JSON patch.
func addManagedBy(_ context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	patch := []byte(`[{"op":"add","path":"/metadata/labels/managed-by","value":"custom-plane"}]`)
	pt := admissionv1.PatchTypeJSONPatch
	return &admissionv1.AdmissionResponse{Allowed: true, Patch: patch, PatchType: &pt}
}
