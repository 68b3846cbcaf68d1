package view

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/bootgraph/bootgraph/graph"
)

//go:embed page/page.html.tmpl page/page.css page/graph.css page/layout.js page/page.js
var pageFiles embed.FS

// The page's parts are read and parsed when a page or SVG is first made,
// not when the program starts: a plane that never draws pays nothing.
var (
	pageTemplate = sync.OnceValue(func() *template.Template {
		return template.Must(template.ParseFS(pageFiles, "page/page.html.tmpl"))
	})
	pageStyle  = sync.OnceValue(func() string { return mustRead("page/page.css") })
	graphStyle = sync.OnceValue(func() string { return mustRead("page/graph.css") })
	pageScript = sync.OnceValue(func() string { return mustRead("page/layout.js") + "\n" + mustRead("page/page.js") })
)

func mustRead(name string) string {
	b, err := pageFiles.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("graph/view: embedded %s: %v", name, err))
	}
	return string(b)
}

// Options change what HTML shows beyond the graph.
type Options struct {
	// Title is the page's title; default "bootgraph".
	Title string
	// Status is the plane's live status when the page is made (JSON of
	// the status schema in graph/SCHEMA.md: listeners, the serving
	// certificate, the CA's roots), drawn on the nodes it names; nil for
	// none.
	Status json.RawMessage
	// StatusURL, when set, is fetched every PollInterval (default 2s)
	// for a fresh Status, and the drawing follows it without a reload:
	// the live page. It is the only request the page makes.
	StatusURL    string
	PollInterval time.Duration
}

// HTML writes g as one self-contained, interactive HTML page (see
// HTMLWith): HTMLWith with no Options.
func HTML(ctx context.Context, g *graph.Graph, w io.Writer) error {
	return HTMLWith(ctx, g, w, Options{})
}

// HTMLWith writes g as one self-contained, interactive HTML page. The page
// uses no network: its CSS, script and the graph's JSON (see graph.JSON;
// in <script type="application/json" id="bg-data">, with infrastructure
// marked by graph.MarkInfra) are inline, and it draws the graph itself,
// in the browser, with a layered layout of its own.
//
// It opens on an overview fitted to the window: each module a box (its
// functions, hooks, times, problems and live status in a few lines), the
// nodes at the top level, value groups where their consumers meet, and
// links between them labelled with the types that cross and how many.
// Clicking a module expands it in place to its functions and groups
// (element "module-<id>" becomes a cluster whose head collapses it), a
// breadcrumb and a back button return. Infrastructure (logger,
// lifecycle, registries, the engine's own supplies and decorators) is
// hidden until the "infrastructure" switch (#bg-infra) is on.
//
// Clicking a node marks it "bg-selected", what it needs "bg-upstream" and
// what needs it "bg-downstream" (boxes, links and timeline bars alike),
// and shows its details; the critical path of the start is marked
// "bg-critical"; search marks "bg-match". Every node, module box, cluster
// head and group takes keyboard focus (Enter activates it). The current
// view exports as SVG or PNG, drawn locally (#bg-export-svg,
// #bg-export-png). The start timeline shows each function's and hook's
// own time, what invokes and hooks waited for, and the critical path.
//
// window.bootgraph exposes the page's state and actions for tests and
// embedding; <html> gets data-bg-ready="true" once the first drawing is
// done.
func HTMLWith(ctx context.Context, g *graph.Graph, w io.Writer, o Options) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("html: %w", err)
	}
	if err := g.Validate(); err != nil {
		return fmt.Errorf("html: %w", err)
	}
	g = g.Clone().MarkInfra()
	p, err := newPage(g, o)
	if err != nil {
		return err
	}
	return p.write(w)
}

// DiffHTML writes the difference d (see graph.Compare) as a page like
// HTML's, of the union of both graphs: what only the second has is marked
// "bg-diff-added", what only the first has "bg-diff-removed", what moved
// in the build order or to another module "bg-diff-moved", and a module
// box with changes inside "bg-diff-inside", with a count. The text of the
// difference is on the page too.
func DiffHTML(ctx context.Context, d *graph.Diff, w io.Writer) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("html: %w", err)
	}
	g := d.Union.Clone().MarkInfra()
	p, err := newPage(g, Options{Title: "bootgraph diff: " + d.X + " → " + d.Y})
	if err != nil {
		return err
	}
	var text bytes.Buffer
	if err := d.WriteText(&text); err != nil {
		return err
	}
	p.Diff = &pageDiff{X: d.X, Y: d.Y, Summary: d.Summary(), Text: text.String()}
	p.Summary = d.Summary()
	p.RunInfo = ""
	p.extra.Diff = &extraDiff{Marks: d.Marks}
	return p.write(w)
}

// page is what page.html.tmpl shows.
type page struct {
	Title    string
	Summary  string
	RunInfo  string
	Problems []pageProblem
	Modules  []pageModule
	Timeline timeline
	Diff     *pageDiff
	Data     template.JS
	Extra    template.JS
	Style    template.CSS
	Graph    template.CSS
	Script   template.JS

	g     *graph.Graph
	extra extraData
}

// extraData is what the page's script gets besides the graph
// (<script type="application/json" id="bg-extra">).
type extraData struct {
	Critical  []string          `json:"critical"`
	Build     []graph.BuildStep `json:"build"`
	Status    json.RawMessage   `json:"status,omitempty"`
	StatusURL string            `json:"statusURL,omitempty"`
	PollMs    int64             `json:"pollMs,omitempty"`
	Diff      *extraDiff        `json:"diff,omitempty"`
}

type extraDiff struct {
	Marks graph.DiffMarks `json:"marks"`
}

type pageDiff struct {
	X, Y, Summary, Text string
}

// pageProblem is a problem with the names of its nodes.
type pageProblem struct {
	Kind    graph.ProblemKind
	Message string
	Nodes   []pageRef
}

// pageRef is a node named in the page.
type pageRef struct{ ID, Name string }

// pageModule is an entry of the module filter.
type pageModule struct {
	ID     string // "" for the functions outside any module
	Name   string
	Indent string // CSS padding for the nesting depth
	Count  int    // nodes directly in it
}

func newPage(g *graph.Graph, o Options) (*page, error) {
	tree := g.ModuleTree()
	timing := g.Timing()
	p := &page{
		Title:    o.Title,
		Summary:  fmt.Sprintf("%d modules, %d functions, %d edges, %d hooks", len(tree.Modules), len(g.Nodes), len(g.Edges), len(g.Hooks)),
		Timeline: newTimeline(g, timing),
		g:        g,
		extra:    extraData{Critical: timing.Critical, Build: timing.Build, Status: o.Status, StatusURL: o.StatusURL},
	}
	if p.Title == "" {
		p.Title = "bootgraph"
	}
	if o.StatusURL != "" {
		p.extra.PollMs = 2000
		if o.PollInterval > 0 {
			p.extra.PollMs = max(1, o.PollInterval.Milliseconds())
		}
	}
	switch r := g.Run; r {
	case nil:
		p.RunInfo = "Planned, not run: the order is predicted."
	default:
		p.RunInfo = "Built in " + graph.FormatDuration(r.BuildNs) + ", started in " + graph.FormatDuration(r.StartNs)
		if r.StopNs > 0 {
			p.RunInfo += ", stopped in " + graph.FormatDuration(r.StopNs)
		}
		p.RunInfo += "."
		if r.Error != "" {
			p.RunInfo += " Run failed: " + r.Error
		}
	}
	for _, pr := range g.Problems {
		pp := pageProblem{Kind: pr.Kind, Message: pr.Message}
		for _, id := range pr.Nodes {
			name := id
			if n := g.Node(id); n != nil && n.Name != "" {
				name = n.Name
			}
			pp.Nodes = append(pp.Nodes, pageRef{ID: id, Name: name})
		}
		p.Problems = append(p.Problems, pp)
	}
	byID := make(map[string]graph.Module, len(tree.Modules))
	for _, m := range tree.Modules {
		byID[m.ID] = m
	}
	if n := len(tree.Nodes[""]); n > 0 {
		p.Modules = append(p.Modules, pageModule{ID: "", Name: "(top level)", Indent: "0em", Count: n})
	}
	var walk func(id string, depth int)
	walk = func(id string, depth int) {
		for _, c := range tree.Children[id] {
			p.Modules = append(p.Modules, pageModule{
				ID: c, Name: byID[c].Label(), Count: len(tree.Nodes[c]),
				Indent: strconv.FormatFloat(1.25*float64(depth), 'f', -1, 64) + "em",
			})
			walk(c, depth+1)
		}
	}
	walk("", 0)
	return p, nil
}

func (p *page) write(w io.Writer) error {
	var data bytes.Buffer
	if err := graph.JSON(p.g, &data); err != nil {
		return fmt.Errorf("html: %w", err)
	}
	extra, err := json.Marshal(p.extra)
	if err != nil {
		return fmt.Errorf("html: %w", err)
	}
	p.Data = template.JS(scriptSafe(data.Bytes())) // #nosec G203 -- JSON with HTML characters escaped
	p.Extra = template.JS(scriptSafe(extra))       // #nosec G203 -- JSON with HTML characters escaped
	p.Style = template.CSS(pageStyle())            // #nosec G203 -- our own file
	p.Graph = template.CSS(graphStyle())           // #nosec G203 -- our own file
	p.Script = template.JS(pageScript())           // #nosec G203 -- our own file
	var out bytes.Buffer
	if err := pageTemplate().Execute(&out, p); err != nil {
		return fmt.Errorf("html: template: %w", err)
	}
	if _, err := w.Write(out.Bytes()); err != nil {
		return fmt.Errorf("html: write: %w", err)
	}
	return nil
}

// scriptSafe escapes "<", ">" and "&" in JSON, so that nothing in it can
// end the script element it sits in.
func scriptSafe(j []byte) string {
	var safe bytes.Buffer
	json.HTMLEscape(&safe, j)
	return safe.String()
}
