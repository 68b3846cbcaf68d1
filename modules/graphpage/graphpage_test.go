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
	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/modules/graphpage"
	"github.com/bootgraph/bootgraph/modules/monitoring"
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

// A running plane serves its own graph, with the timings of this start.
func TestLivePlaneGraph(t *testing.T) {
	cfg := bootgraph.Config{DataDir: t.TempDir(), Logger: zap.NewNop()}
	cfg.GRPC.Addr, cfg.Webhook.Addr, cfg.DNS.Addr, cfg.Monitoring.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	var mon *monitoring.Server
	p, err := bootgraph.New(cfg, graphpage.Module(), fx.Populate(&mon))
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
	cfg := bootgraph.Config{DataDir: t.TempDir(), Logger: zap.NewNop()}
	cfg.Monitoring.Enabled = new(bool)
	cfg.GRPC.Addr, cfg.Webhook.Addr, cfg.DNS.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	p, err := bootgraph.New(cfg, graphpage.Module())
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	require.NoError(t, p.Stop(context.Background()))
}
