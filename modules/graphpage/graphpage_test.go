package graphpage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/config"
	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/modules/dns"
	"github.com/bootgraph/bootgraph/modules/graphpage"
	"github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/monitoring"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

func get(t *testing.T, url string) (string, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	return resp.Header.Get("Content-Type"), string(body)
}

// newConfig is the built-in plane's configuration, the graph page on by
// default, with every listener on a free loopback port and local state in
// a temporary directory.
func newConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg := config.New()
	cfg.Logger = zap.NewNop()
	cfg.DataDir = t.TempDir()
	config.Options[grpc.Options](cfg, "grpc").Addr = "127.0.0.1:0"
	config.Options[webhook.Options](cfg, "webhook").Addr = "127.0.0.1:0"
	config.Options[dns.Options](cfg, "dns").Addr = "127.0.0.1:0"
	config.Options[monitoring.Options](cfg, "monitoring").Addr = "127.0.0.1:0"
	return cfg
}

// A running plane serves its own graph, with the timings of this start.
func TestLivePlaneGraph(t *testing.T) {
	cfg := newConfig(t)
	require.True(t, cfg.Enabled(graphpage.Part.Name()), "the graph page is on by default")
	var mon *monitoring.Server
	p, err := cfg.Build(fx.Populate(&mon))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	defer p.Stop(context.Background())

	contentType, body := get(t, "http://"+mon.Addr()+graphpage.PathJSON)
	assert.Equal(t, "application/json", contentType)
	g, err := graph.ReadJSON(strings.NewReader(body))
	require.NoError(t, err)
	require.NotNil(t, g.Run, "the live graph carries this run")
	assert.Positive(t, g.Run.BuildNs)
	assert.Positive(t, g.Run.StartNs)
	require.NotEmpty(t, g.Hooks)
	for _, h := range g.Hooks {
		assert.GreaterOrEqual(t, h.StartIndex, 0, "hook %s did not start", h.Name)
	}
	var ran int
	for _, n := range g.Nodes {
		if n.Ran {
			ran++
		}
	}
	assert.Greater(t, ran, 10)

	contentType, body = get(t, "http://"+mon.Addr()+graphpage.PathHTML)
	assert.Equal(t, "text/html; charset=utf-8", contentType)
	assert.Contains(t, body, `id="bg-graph-view"`)
	assert.Contains(t, body, "ca.provideCA")
	assert.Contains(t, body, `"statusURL":"`+graphpage.PathStatus+`"`, "the live page polls the status")
	assert.Contains(t, body, `"pollMs":2000`)
	var embedded struct {
		Schema string `json:"schema"`
	}
	start := strings.Index(body, `id="bg-data">`) + len(`id="bg-data">`)
	end := strings.Index(body[start:], "</script>")
	require.NoError(t, json.Unmarshal([]byte(body[start:start+end]), &embedded))
	assert.Equal(t, graph.Schema, embedded.Schema)
}

// Without a monitoring listener there is nowhere to serve: nothing fails.
func TestWithoutMonitoring(t *testing.T) {
	cfg := newConfig(t)
	require.NoError(t, cfg.SetEnabled("monitoring", false))
	p, err := cfg.Build()
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	require.NoError(t, p.Stop(context.Background()))
}

// In a Go program, graphpage.Module adds the page to a plane of its own
// making: here the monitoring listener alone, whose own graph it serves.
func TestModule(t *testing.T) {
	var mon *monitoring.Server
	p, err := bootgraph.New(bootgraph.Options{Logger: zap.NewNop()},
		monitoring.Module(monitoring.Options{Addr: "127.0.0.1:0"}),
		graphpage.Module(),
		fx.Populate(&mon),
	)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	defer p.Stop(context.Background())

	contentType, body := get(t, "http://"+mon.Addr()+graphpage.PathJSON)
	assert.Equal(t, "application/json", contentType)
	g, err := graph.ReadJSON(strings.NewReader(body))
	require.NoError(t, err)
	var keys []string
	for _, n := range g.Nodes {
		keys = append(keys, n.Key)
	}
	assert.Contains(t, strings.Join(keys, " "), "monitoring.provideServer", "the page shows the plane it runs in")
	assert.NotContains(t, strings.Join(keys, " "), "ca.provideCA")
}

// The status names every listener with its address, readiness and graph
// node, the serving certificate and the CA's roots; a stopped listener is
// not ready.
func TestStatus(t *testing.T) {
	cfg := newConfig(t)
	var (
		mon    *monitoring.Server
		dnsSrv *dns.Server
	)
	p, err := cfg.Build(fx.Populate(&mon, &dnsSrv))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	defer p.Stop(context.Background())

	g, err := p.Graph()
	require.NoError(t, err)
	read := func() graphpage.Status {
		contentType, body := get(t, "http://"+mon.Addr()+graphpage.PathStatus)
		require.Equal(t, "application/json", contentType)
		var st graphpage.Status
		require.NoError(t, json.Unmarshal([]byte(body), &st), body)
		return st
	}
	st := read()
	assert.Equal(t, graphpage.StatusSchema, st.Schema)
	assert.True(t, st.Ready)
	byName := map[string]graphpage.ListenerStatus{}
	for _, l := range st.Listeners {
		byName[l.Name] = l
		n := g.Node(l.Node)
		require.NotNil(t, n, "listener %s: node %q", l.Name, l.Node)
		assert.Contains(t, fmt.Sprint(n.Outputs), l.Type, "listener %s: its node provides its type", l.Name)
		assert.True(t, l.Ready, "listener %s: %s", l.Name, l.Error)
		assert.NotContains(t, l.Addr, ":0", "listener %s: the bound address", l.Name)
	}
	for name, module := range map[string]string{"secure-grpc": "grpc", "https-webhook": "webhook", "dns-over-tls": "dns", "monitoring": "monitoring"} {
		l, ok := byName[name]
		if assert.True(t, ok, "listener %s missing from %v", name, st.Listeners) {
			assert.Equal(t, module, l.Module)
			assert.Equal(t, name != "monitoring", l.TLS, "listener %s presents the serving certificate", name)
		}
	}
	require.NotNil(t, st.Certificate)
	assert.Equal(t, "servingcert.provideIstiod", g.Node(st.Certificate.Node).Name)
	assert.True(t, st.Certificate.Valid)
	assert.Contains(t, st.Certificate.Names, "istiod.istio-system.svc")
	assert.Contains(t, st.Certificate.Issuer, "O=cluster.local")
	assert.True(t, st.Certificate.NotAfter.After(time.Now()))
	assert.False(t, st.Certificate.RenewAt.IsZero())
	require.NotNil(t, st.CA)
	assert.Equal(t, "ca.provideCA", g.Node(st.CA.Node).Name)
	require.Len(t, st.CA.Roots, 1)
	assert.Equal(t, "O=cluster.local", st.CA.Roots[0].Subject)
	assert.True(t, st.CA.Roots[0].NotAfter.After(time.Now().AddDate(9, 0, 0)))

	require.NoError(t, dnsSrv.Stop(context.Background()))
	st = read()
	assert.False(t, st.Ready)
	for _, l := range st.Listeners {
		if l.Name == "dns-over-tls" {
			assert.False(t, l.Ready)
			assert.NotEmpty(t, l.Error)
		}
	}
}
