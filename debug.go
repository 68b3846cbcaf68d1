package bootgraph

import (
	"net/http"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/modules/monitoring"
)

// PlanConfig draws the plane cfg (plus extra options) would build, without
// building it: no key is generated, no port bound. See Plan.
func PlanConfig(cfg Config, extra ...fx.Option) (*graph.Graph, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Plane{cfg: cfg, log: zap.NewNop(), build: newBuildRecorder()}
	p.hooks = newHookTracker(p.log, p.build.current)
	opts := append(append(p.coreOptions(), Modules(cfg)...), extra...)
	return Plan(opts...)
}

type debugParams struct {
	fx.In
	Monitoring *monitoring.Server `optional:"true"`
}

// registerDebugGraph serves the plane's own graph, with the timings of this
// start, on the monitoring listener: /debug/graph (the interactive page)
// and /debug/graph.json.
func (p *Plane) registerDebugGraph(d debugParams) {
	if d.Monitoring == nil {
		return
	}
	d.Monitoring.Handle("GET /debug/graph", p.graphHandler("text/html; charset=utf-8", func(r *http.Request, g *graph.Graph, w http.ResponseWriter) error {
		return graph.HTML(r.Context(), g, w)
	}))
	d.Monitoring.Handle("GET /debug/graph.json", p.graphHandler("application/json", func(_ *http.Request, g *graph.Graph, w http.ResponseWriter) error {
		return graph.JSON(g, w)
	}))
}

func (p *Plane) graphHandler(contentType string, render func(*http.Request, *graph.Graph, http.ResponseWriter) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, err := p.Graph()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		if err := render(r, g, w); err != nil {
			p.log.Warn("rendering the debug graph failed", zap.Error(err))
		}
	})
}
