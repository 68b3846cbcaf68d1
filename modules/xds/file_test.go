package xds_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
	grpcmod "github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/xds"
)

// greeterYAML is the package doc's example resources file.
const greeterYAML = `
listeners:
- name: greeter
  apiListener:
    apiListener:
      "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
      rds: {routeConfigName: greeter, configSource: {ads: {}}}
      httpFilters:
      - name: router
        typedConfig: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
routes:
- name: greeter
  virtualHosts:
  - {name: greeter, domains: [greeter], routes: [{match: {prefix: ""}, route: {cluster: greeter}}]}
clusters:
- {name: greeter, type: EDS, edsClusterConfig: {edsConfig: {ads: {}}}}
endpoints:
- clusterName: greeter
  endpoints:
  - locality: {zone: a}   # gRPC needs a locality and a weight
    loadBalancingWeight: 1
    lbEndpoints:
    - endpoint: {address: {socketAddress: {address: 10.0.0.7, portValue: 50051}}}
`

func TestParseResources(t *testing.T) {
	t.Parallel()
	r, err := xds.ParseResources([]byte(greeterYAML))
	require.NoError(t, err, "the package doc's example")
	require.Len(t, r.Listeners, 1)
	require.Len(t, r.Routes, 1)
	require.Len(t, r.Clusters, 1)
	require.Len(t, r.Endpoints, 1)
	assert.Equal(t, uint32(50051), r.Endpoints[0].GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue())
	assert.Equal(t, 4, r.Len())

	// JSON, snake_case field names, and an empty file.
	r, err = xds.ParseResources([]byte(`{"clusters": [{"name": "a", "connect_timeout": "2s"}]}`))
	require.NoError(t, err)
	assert.Equal(t, int64(2), r.Clusters[0].GetConnectTimeout().GetSeconds())
	for _, empty := range []string{"", "# nothing yet\n", "{}", "clusters: []"} {
		r, err = xds.ParseResources([]byte(empty))
		require.NoError(t, err, "%q", empty)
		assert.Zero(t, r.Len())
	}

	for name, tc := range map[string]struct{ in, want string }{
		"unknown list":          {"cluster: []", `unknown field "cluster" (valid here: clusters, endpoints, listeners, routes)`},
		"unknown field":         {"clusters: [{name: a, conectTimeout: 1s}]", `clusters[0]: envoy.config.cluster.v3.Cluster: proto:`},
		"not a list":            {"clusters: {name: a}", "clusters: want a list of envoy.config.cluster.v3.Cluster"},
		"not a mapping":         {"- a", "want a mapping with clusters, endpoints, listeners and routes"},
		"duplicate":             {"routes: [{name: r}, {name: r}]", `routes[1] (r): a second route named "r"`},
		"no name":               {"endpoints: [{endpoints: []}]", "endpoints[0]: has no name"},
		"API constraint":        {"clusters: [{name: a, connectTimeout: -1s}]", "clusters[0] (a): invalid Cluster.ConnectTimeout"},
		"unlinked Any type":     {`listeners: [{name: l, apiListener: {apiListener: {"@type": type.googleapis.com/no.Such}}}]`, "listeners[0]: envoy.config.listener.v3.Listener"},
		"bad YAML":              {"clusters: [", "yaml"},
		"two errors, both said": {"clusters: [{}]\nroutes: [{}]", "clusters[0]: has no name\nroutes[0]: has no name"},
	} {
		_, err := xds.ParseResources([]byte(tc.in))
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.want, name)
	}
}

// The resources file is served to every node and re-read when it changes;
// a bad edit is logged once and the last good version stays in use.
func TestResourcesFileReload(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "resources.yaml")
	// Each edit replaces the file at once (written aside, then renamed): a
	// reload that caught os.WriteFile's truncated, still empty file would
	// apply an empty (valid) file, and the test failed so on a busy machine.
	write := func(s string) {
		require.NoError(t, os.WriteFile(path+".new", []byte(s), 0o600))
		require.NoError(t, os.Rename(path+".new", path))
	}
	write(greeterYAML)
	const (
		reloaded = "reloaded xDS resources file"
		rejected = "xDS resources file not applied; keeping the last good version"
	)
	log, logs, events := logged(reloaded, rejected)
	p := startPlane(t, xds.Options{ResourcesFile: path, ReloadInterval: component.Duration(10 * time.Millisecond)}, log)

	cert, _, _ := workloadCert(t, p.ca, web)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := openSotW(t, ctx, dial(t, p.addr, p.ca.Roots(), &cert), web)
	require.NoError(t, st.ask(resource.ClusterType))
	resp, err := recv(t, st.Recv)
	require.NoError(t, err)
	assert.Equal(t, []string{"greeter"}, names(t, resp))
	require.NoError(t, st.ack(resp))

	// An edit is pushed.
	write(strings.Replace(greeterYAML, "clusters:\n", "clusters:\n- {name: added, type: STATIC}\n", 1))
	assert.Equal(t, reloaded, wait(t, events, "the reload").Message)
	resp, err = recv(t, st.Recv)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"greeter", "added"}, names(t, resp))
	require.NoError(t, st.ack(resp))

	// A bad edit is logged once, as a warning, and changes nothing; nor
	// does a missing file.
	write("clusters: [{name: broken, typo: 1}]")
	e := wait(t, events, "the warning")
	assert.Equal(t, rejected, e.Message)
	assert.Equal(t, zapcore.WarnLevel, e.Level)
	require.NoError(t, os.Remove(path))
	assert.Equal(t, rejected, wait(t, events, "the warning").Message)
	assert.Len(t, p.snaps.Get(web).Clusters, 2, "the last good version")
	bad := logs.FilterMessage(rejected).All()
	assert.Contains(t, bad[0].ContextMap()["error"], path)
	assert.Contains(t, bad[0].ContextMap()["error"], "clusters[0]")

	// Fixed: applied and pushed.
	write(greeterYAML)
	assert.Equal(t, reloaded, wait(t, events, "the reload").Message)
	resp, err = recv(t, st.Recv)
	require.NoError(t, err)
	assert.Equal(t, []string{"greeter"}, names(t, resp))
	assert.Len(t, logs.FilterMessage(rejected).All(), 2, "each bad state logged once, not at every read")
}

// A bad file at start fails the plane before it starts, naming the file.
func TestResourcesFileBadAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("clusters: [{name: a, typo: 1}]"), 0o600))
	for _, path := range []string{bad, filepath.Join(dir, "missing.yaml")} {
		_, err := bootgraph.New(bootgraph.Options{Logger: zap.NewNop()},
			component.SupplyEnv(component.Env{DataDir: t.TempDir()}),
			ca.Module(ca.Options{}), servingcert.Module(servingcert.Options{}),
			grpcmod.Module(grpcmod.Options{Addr: "127.0.0.1:0"}),
			xds.Module(xds.Options{ResourcesFile: path}))
		require.Error(t, err)
		assert.Contains(t, err.Error(), path)
		assert.True(t, strings.Contains(err.Error(), "typo") || strings.Contains(err.Error(), "no such file"), "%v", err)
	}
}

// A change is applied only once two reads agree: a file read while being
// written (here, empty, which alone would be a valid file) is not served.
func TestFileSourceWaitsForTheFileToSettle(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "resources.yaml")
	require.NoError(t, os.WriteFile(path, []byte("clusters: [{name: a}]"), 0o600))
	snaps := xds.NewSnapshots(nil)
	f, err := xds.NewFileSource(path, time.Hour, snaps, nil)
	require.NoError(t, err)
	assert.Equal(t, "a", snaps.Get(web).Clusters[0].GetName())

	require.NoError(t, os.WriteFile(path, nil, 0o600)) // truncated, mid-write
	assert.False(t, f.Reload(), "a change read once waits")
	require.NoError(t, os.WriteFile(path, []byte("clusters: [{name: b}]"), 0o600))
	assert.False(t, f.Reload(), "another change read once waits")
	assert.Equal(t, "a", snaps.Get(web).Clusters[0].GetName(), "the empty file was never applied")
	assert.True(t, f.Reload(), "read twice: applied")
	assert.Equal(t, "b", snaps.Get(web).Clusters[0].GetName())
	assert.False(t, f.Reload(), "unchanged")
}
