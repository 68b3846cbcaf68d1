// Package graphpage serves a running plane's own graph on its monitoring
// listener: /debug/graph, the interactive HTML page (see graph/view), and
// /debug/graph.json, both with the real timings of this start.
//
// It is a module of its own because drawing the graph links Graphviz
// (compiled to WebAssembly, initialised when a program starts): planes that
// do not want the page do not pay for it. `bootgraph serve` includes it.
package graphpage

import (
	"context"
	"io"
	"net/http"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/graph/view"
	"github.com/bootgraph/bootgraph/modules/monitoring"
)

// Paths the page is served at.
const (
	PathHTML = "/debug/graph"
	PathJSON = "/debug/graph.json"
)

// Options configure the page; there are none yet.
type Options struct{}

// SetDefaults implements component.Options.
func (*Options) SetDefaults() {}

// Validate implements component.Options.
func (*Options) Validate() error { return nil }

// Part describes the page to the config layer.
var Part = component.Define[Options](component.Definition[Options]{
	Name:  "graphpage",
	Doc:   "the plane's own graph, live, on the monitoring listener: " + PathHTML + " and " + PathJSON,
	Build: func(Options) []fx.Option { return []fx.Option{fx.Invoke(register)} },
})

func init() { component.Register(Part) }

// Module registers the page on the monitoring listener, when the plane has
// one. It needs a graph.Source (bootgraph.New supplies the plane itself).
func Module() fx.Option { return Part.Module(Options{}) }

type params struct {
	fx.In
	Source     graph.Source
	Log        *zap.Logger
	Monitoring *monitoring.Server `optional:"true"`
}

func register(p params) {
	if p.Monitoring == nil {
		return
	}
	log := p.Log.Named("graphpage")
	p.Monitoring.Handle("GET "+PathHTML, Handler(p.Source, "text/html; charset=utf-8", view.HTML, log))
	p.Monitoring.Handle("GET "+PathJSON, Handler(p.Source, "application/json",
		func(_ context.Context, g *graph.Graph, w io.Writer) error { return graph.JSON(g, w) }, log))
}

// Handler serves src's graph, rendered by render, fresh on every request.
func Handler(src graph.Source, contentType string, render func(context.Context, *graph.Graph, io.Writer) error, log *zap.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, err := src.Graph()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		if err := render(r.Context(), g, w); err != nil {
			log.Warn("rendering the plane's graph failed", zap.Error(err))
		}
	})
}
