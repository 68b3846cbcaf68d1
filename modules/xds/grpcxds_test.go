package xds_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	grpcxds "google.golang.org/grpc/xds" // gRPC's own xDS client: resolver, balancers
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/xds"
)

const (
	greeterService = "helloworld.Greeter"
	sayHello       = "/" + greeterService + "/SayHello"
	clientID       = "spiffe://cluster.local/ns/default/sa/greeter-client"
)

// backend is a plain gRPC server whose SayHello answers with its name.
type backend struct {
	name string
	addr string
	srv  *gogrpc.Server
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &backend{name: name, addr: l.Addr().String(), srv: gogrpc.NewServer()}
	b.srv.RegisterService(&gogrpc.ServiceDesc{
		ServiceName: greeterService,
		HandlerType: (*any)(nil),
		Methods: []gogrpc.MethodDesc{{
			MethodName: "SayHello",
			Handler: func(_ any, _ context.Context, dec func(any) error, _ gogrpc.UnaryServerInterceptor) (any, error) {
				in := new(wrapperspb.StringValue)
				if err := dec(in); err != nil {
					return nil, err
				}
				return wrapperspb.String(b.name), nil
			},
		}},
	}, struct{}{})
	go func() { _ = b.srv.Serve(l) }()
	t.Cleanup(b.srv.Stop)
	return b
}

// xdsResolver is gRPC's xDS resolver with a bootstrap that points at the
// plane over TLS: the plane's root, and a client certificate the plane's
// CA issued for clientID, which is also the node's ID.
func xdsResolver(t *testing.T, p *testPlane) resolver.Builder {
	t.Helper()
	dir := t.TempDir()
	_, chain, key := workloadCert(t, p.ca, clientID)
	files := map[string][]byte{"root.pem": p.ca.RootPEM(), "cert.pem": chain, "key.pem": key}
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	bootstrap, err := json.Marshal(map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri": p.addr,
			"channel_creds": []any{map[string]any{"type": "tls", "config": map[string]string{
				"ca_certificate_file": filepath.Join(dir, "root.pem"),
				"certificate_file":    filepath.Join(dir, "cert.pem"),
				"private_key_file":    filepath.Join(dir, "key.pem"),
			}}},
			"server_features": []string{"xds_v3"},
		}},
		"node": map[string]any{"id": clientID},
	})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bootstrap.json"), bootstrap, 0o600))
	b, err := grpcxds.NewXDSResolverWithConfigForTesting(bootstrap)
	require.NoError(t, err)
	return b
}

// A proxyless gRPC client, gRPC-Go's own xDS implementation, dials
// xds:///greeter through the plane: listener, routes, cluster and
// endpoints for two backends. RPCs reach both; when an update removes one
// backend, traffic moves to the other without a failed RPC. The update is
// a Go snapshot change in one case, an edit of the resources file in the
// other.
func TestGRPCClientFollowsUpdates(t *testing.T) {
	t.Parallel()
	for _, via := range []string{"go", "file"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			a, b := startBackend(t, "a"), startBackend(t, "b")
			both, onlyB := greeter(t, "greeter", a.addr, b.addr), greeter(t, "greeter", b.addr)
			var (
				p      *testPlane
				update func()
			)
			if via == "go" {
				p = startPlane(t, xds.Options{}, nil)
				require.NoError(t, p.snaps.Set(clientID, both))
				update = func() { require.NoError(t, p.snaps.Set(clientID, onlyB)) }
			} else {
				path := filepath.Join(t.TempDir(), "resources.yaml")
				require.NoError(t, os.WriteFile(path, []byte(resourcesYAML(t, both)), 0o600))
				log, _, reloads := logged("reloaded xDS resources file")
				p = startPlane(t, xds.Options{ResourcesFile: path, ReloadInterval: component.Duration(10 * time.Millisecond)}, log)
				update = func() {
					require.NoError(t, os.WriteFile(path, []byte(resourcesYAML(t, onlyB)), 0o600))
					wait(t, reloads, "the reload")
				}
			}

			conn, err := gogrpc.NewClient("xds:///greeter", gogrpc.WithResolvers(xdsResolver(t, p)),
				gogrpc.WithTransportCredentials(insecure.NewCredentials()))
			require.NoError(t, err)
			defer conn.Close()
			hello := func() (string, error) {
				ctx, cancel := context.WithTimeout(context.Background(), bound)
				defer cancel()
				out := new(wrapperspb.StringValue)
				err := conn.Invoke(ctx, sayHello, wrapperspb.String("hi"), out)
				return out.GetValue(), err
			}

			// Both backends answer, in turn (round robin).
			seen := map[string]int{}
			for i := 0; i < 200 && (seen["a"] == 0 || seen["b"] == 0); i++ {
				who, err := hello()
				require.NoError(t, err, "RPC %d", i)
				seen[who]++
			}
			require.Positive(t, seen["a"], "backend a answered: %v", seen)
			require.Positive(t, seen["b"], "backend b answered: %v", seen)

			// Remove a: RPCs go on, none fails, and soon all reach b.
			update()
			inARow, calls := 0, 0
			for ; inARow < 50 && calls < 2000; calls++ {
				who, err := hello()
				require.NoError(t, err, "RPC %d after the update", calls)
				if who == "b" {
					inARow++
				} else {
					inARow = 0
				}
			}
			require.Equal(t, 50, inARow, "traffic moved to b within %d RPCs", calls)
			// a is gone from the client's view: stopping it fails nothing.
			a.srv.GracefulStop()
			for i := range 20 {
				who, err := hello()
				require.NoError(t, err, "RPC %d after a stopped", i)
				assert.Equal(t, "b", who)
			}
			t.Logf("%s: before the update %v; after it, %d RPCs until 50 in a row reached b; none failed", via, seen, calls)
			assert.Positive(t, p.metric(t, "pilot_xds_pushes", map[string]string{"type": "eds"}))
		})
	}
}

// resourcesYAML writes r as a resources file, in JSON (which is YAML).
func resourcesYAML(t *testing.T, r xds.Resources) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("{")
	lists := []struct {
		key   string
		items []string
	}{
		{"clusters", marshalAll(t, r.Clusters)}, {"endpoints", marshalAll(t, r.Endpoints)},
		{"listeners", marshalAll(t, r.Listeners)}, {"routes", marshalAll(t, r.Routes)},
	}
	for i, l := range lists {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"` + l.key + `": [` + strings.Join(l.items, ",") + "]")
	}
	b.WriteString("}")
	return b.String()
}

func marshalAll[M proto.Message](t *testing.T, ms []M) []string {
	t.Helper()
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		b, err := protojson.Marshal(m)
		require.NoError(t, err)
		out = append(out, string(b))
	}
	return out
}
