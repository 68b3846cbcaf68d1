// Package graphpage serves a running plane's own graph on its monitoring
// listener: /debug/graph, the interactive HTML page (see graph/view), and
// /debug/graph.json, both with the real timings of this start; and
// /debug/status.json, the plane's live status (each listener's address
// and readiness, the serving certificate, the CA's roots), which the page
// polls to keep its drawing current without a reload.
//
// It is a module of its own so that planes that do not want the page
// neither serve nor link it (the page's script and styles, the renderer).
// `bootgraph serve` includes it.
package graphpage

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/graph/view"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/monitoring"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// Paths the page is served at.
const (
	PathHTML   = "/debug/graph"
	PathJSON   = "/debug/graph.json"
	PathStatus = "/debug/status.json"
)

// DefaultPoll is how often the page asks for PathStatus; the page's URL
// may ask for another interval, e.g. /debug/graph?poll=500ms.
const DefaultPoll = 2 * time.Second

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
	// What the status shows, when the plane has it.
	component.ListenersIn
	Bundle *servingcert.Bundle `optional:"true"`
	CA     *ca.CA              `optional:"true"`
}

func register(p params) {
	if p.Monitoring == nil {
		return
	}
	log := p.Log.Named("graphpage")
	st := &statusSource{src: p.Source, listeners: p.Listeners, monitoring: p.Monitoring, bundle: p.Bundle, ca: p.CA}
	p.Monitoring.Handle("GET "+PathHTML, livePage(p.Source, st, log))
	p.Monitoring.Handle("GET "+PathJSON, Handler(p.Source, "application/json",
		func(_ context.Context, g *graph.Graph, w io.Writer) error { return graph.JSON(g, w) }, log))
	p.Monitoring.Handle("GET "+PathStatus, StatusHandler(st.Status))
}

// StatusHandler serves status as JSON (StatusSchema), fresh on every
// request and never cached.
func StatusHandler(status func(context.Context) Status) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(status(r.Context())) // a write error is the client's going away
	})
}

// livePage is the HTML page of src's graph with the plane's status drawn
// on it, polling PathStatus (every ?poll=DURATION, default DefaultPoll).
func livePage(src graph.Source, st *statusSource, log *zap.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		poll := DefaultPoll
		if q := r.URL.Query().Get("poll"); q != "" {
			d, err := time.ParseDuration(q)
			if err != nil || d < 50*time.Millisecond {
				http.Error(w, "poll: want a duration of at least 50ms, e.g. 500ms", http.StatusBadRequest)
				return
			}
			poll = d
		}
		status, err := json.Marshal(st.Status(r.Context()))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		opts := view.Options{Title: "bootgraph: live plane", Status: status, StatusURL: PathStatus, PollInterval: poll}
		Handler(src, "text/html; charset=utf-8", func(ctx context.Context, g *graph.Graph, w io.Writer) error {
			return view.HTMLWith(ctx, g, w, opts)
		}, log).ServeHTTP(w, r)
	})
}

// Handler serves src's graph, rendered by render, fresh on every request.
func Handler(src graph.Source, contentType string, render func(context.Context, *graph.Graph, io.Writer) error, log *zap.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, err := src.Graph()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var buf bytes.Buffer
		if err := render(r.Context(), g, &buf); err != nil {
			log.Warn("rendering the plane's graph failed", zap.Error(err))
			http.Error(w, "rendering the graph: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(buf.Bytes()) // a write error is the client's going away
	})
}
