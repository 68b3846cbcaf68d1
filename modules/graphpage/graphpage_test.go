package graphpage_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

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
	assert.Contains(t, body, "<svg")
	assert.Contains(t, body, "ca.provideCA")
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
