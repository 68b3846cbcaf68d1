// Command testplane is the plane that the xds package's process tests run
// and send SIGTERM: the CA, the serving certificate, the secure gRPC
// listener and the xDS part, plus a test service that only this binary
// has, bootgraph.test.Plane:
//
//   - Slow (StringValue duration): a unary call that takes that long, for
//     calls in flight when the plane stops;
//   - WaitInFlight (Int64Value n): returns once n Slow calls are running;
//   - Publish (StringValue v): sets the shared resources to one cluster
//     named v, which every connected node is pushed;
//   - Stats (BoolValue gc): the process's heap (after a GC if asked),
//     goroutines and CPU time, as JSON.
//
// It prints "ready grpc=<addr>" once the plane serves and logs JSON to
// standard error.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"go.uber.org/fx"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/xds"
)

func main() {
	dataDir := flag.String("data-dir", ".bootgraph", "the CA lives here")
	addr := flag.String("addr", "127.0.0.1:0", "secure gRPC listen address")
	drainTimeout := flag.Duration("drain-timeout", grpc.DefaultDrainTimeout, "the gRPC part's drain timeout")
	flag.Parse()

	log, err := bootgraph.NewLogger(bootgraph.LogConfig{Format: "json"})
	if err == nil {
		var p *bootgraph.Plane
		p, err = bootgraph.New(bootgraph.Options{Logger: log},
			component.SupplyEnv(component.Env{DataDir: *dataDir}),
			ca.Module(ca.Options{}),
			servingcert.Module(servingcert.Options{}),
			grpc.Module(grpc.Options{Addr: *addr, DrainTimeout: component.Duration(*drainTimeout)}),
			xds.Module(xds.Options{}),
			grpc.ProvideService(newTestService),
			fx.Invoke(sayReady),
		)
		if err == nil {
			err = p.Run(context.Background())
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testplane:", err)
		os.Exit(1)
	}
}

func sayReady(lc fx.Lifecycle, s *grpc.Server) {
	lc.Append(fx.StartHook(func() { fmt.Printf("ready grpc=%s\n", s.Addr()) }))
}

// testService is bootgraph.test.Plane.
type testService struct {
	snaps *xds.Snapshots

	mu       sync.Mutex
	inFlight int
	changed  chan struct{} // closed and replaced when inFlight changes
}

func newTestService(s *xds.Snapshots) *testService {
	return &testService{snaps: s, changed: make(chan struct{})}
}

func (t *testService) add(n int) {
	t.mu.Lock()
	t.inFlight += n
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
}

func (t *testService) slow(ctx context.Context, in *wrapperspb.StringValue) (proto.Message, error) {
	d, err := time.ParseDuration(in.GetValue())
	if err != nil {
		return nil, err
	}
	t.add(1)
	defer t.add(-1)
	select {
	case <-time.After(d):
		return &emptypb.Empty{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (t *testService) waitInFlight(ctx context.Context, in *wrapperspb.Int64Value) (proto.Message, error) {
	for {
		t.mu.Lock()
		n, changed := t.inFlight, t.changed
		t.mu.Unlock()
		if int64(n) >= in.GetValue() {
			return &emptypb.Empty{}, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (t *testService) publish(_ context.Context, in *wrapperspb.StringValue) (proto.Message, error) {
	err := t.snaps.SetShared(xds.Resources{Clusters: []*clusterv3.Cluster{{
		Name:                 in.GetValue(),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(time.Second),
	}}})
	return &emptypb.Empty{}, err
}

// Stats is what the stats method answers.
type Stats struct {
	HeapInuse  uint64 `json:"heapInuse"`
	Sys        uint64 `json:"sys"`
	Goroutines int    `json:"goroutines"`
	CPUNanos   int64  `json:"cpuNanos"` // user + system
}

func (t *testService) stats(_ context.Context, gc *wrapperspb.BoolValue) (proto.Message, error) {
	if gc.GetValue() {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return nil, err
	}
	b, err := json.Marshal(Stats{HeapInuse: ms.HeapInuse, Sys: ms.Sys, Goroutines: runtime.NumGoroutine(),
		CPUNanos: ru.Utime.Nano() + ru.Stime.Nano()})
	return wrapperspb.String(string(b)), err
}

// Register puts bootgraph.test.Plane on r.
func (t *testService) Register(r grpc.ServiceRegistrar) {
	r.RegisterService(&gogrpc.ServiceDesc{
		ServiceName: "bootgraph.test.Plane",
		HandlerType: (*any)(nil),
		Methods: []gogrpc.MethodDesc{
			method("Slow", t.slow),
			method("WaitInFlight", t.waitInFlight),
			method("Publish", t.publish),
			method("Stats", t.stats),
		},
	}, struct{}{})
}

// method makes a unary method of f, through the server's interceptors (the
// drain check among them) as generated code does.
func method[In any, PIn interface {
	*In
	proto.Message
}](name string, f func(context.Context, PIn) (proto.Message, error)) gogrpc.MethodDesc {
	full := "/bootgraph.test.Plane/" + name
	return gogrpc.MethodDesc{
		MethodName: name,
		Handler: func(_ any, ctx context.Context, dec func(any) error, interceptor gogrpc.UnaryServerInterceptor) (any, error) {
			in := PIn(new(In))
			if err := dec(in); err != nil {
				return nil, err
			}
			handle := func(ctx context.Context, req any) (any, error) { return f(ctx, req.(PIn)) }
			if interceptor == nil {
				return handle(ctx, in)
			}
			return interceptor(ctx, in, &gogrpc.UnaryServerInfo{FullMethod: full}, handle)
		},
	}
}
