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
	"strings"

	"github.com/bootgraph/bootgraph/graph"
)

//go:embed page/page.html.tmpl page/page.css page/page.js
var pageFiles embed.FS

var (
	pageTemplate = template.Must(template.ParseFS(pageFiles, "page/page.html.tmpl"))
	pageStyle    = mustRead("page/page.css")
	pageScript   = mustRead("page/page.js")
)

func mustRead(name string) string {
	b, err := pageFiles.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("graph/view: embedded %s: %v", name, err))
	}
	return string(b)
}

// HTML writes g as one self-contained, interactive HTML page: the SVG
// drawing (see SVG), the start timeline (hooks in start order and
// functions in build order, sized by their measured durations after a run,
// equal and marked "predicted" before one), a module filter and a search
// box. The page uses no network: its CSS, script, SVG and the graph's JSON
// (see JSON; in <script type="application/json" id="bg-data">) are inline.
//
// Clicking a node marks it "bg-selected", everything it needs,
// transitively, "bg-upstream" and everything that needs it "bg-downstream"
// (SVG nodes, edges and timeline bars alike); clicking the background
// clears. Search matches marks "bg-match". Every SVG node and timeline bar
// has data-node set to its node's ID, timeline bars class "bg-bar", and
// the page sets data-bg-ready="true" on <html> once its script has run.
func HTML(ctx context.Context, g *graph.Graph, w io.Writer) error {
	var data bytes.Buffer
	if err := graph.JSON(g, &data); err != nil {
		return fmt.Errorf("html: %w", err)
	}
	svg, err := renderSVG(ctx, g)
	if err != nil {
		return fmt.Errorf("html: %w", err)
	}
	var safe bytes.Buffer
	json.HTMLEscape(&safe, data.Bytes()) // no "<", ">" or "&" can end the script
	p := newPage(g)
	p.SVG = template.HTML(inlineSVG(svg)) // #nosec G203 -- Graphviz escapes all text
	p.Data = template.JS(safe.String())   // #nosec G203 -- JSON with HTML characters escaped
	p.Style = template.CSS(pageStyle)     // #nosec G203 -- our own file
	p.Script = template.JS(pageScript)    // #nosec G203 -- our own file
	var out bytes.Buffer
	if err := pageTemplate.Execute(&out, p); err != nil {
		return fmt.Errorf("html: template: %w", err)
	}
	if _, err := w.Write(out.Bytes()); err != nil {
		return fmt.Errorf("html: write: %w", err)
	}
	return nil
}

// page is what page.html.tmpl shows.
type page struct {
	Summary  string
	RunInfo  string
	Problems []pageProblem
	Modules  []pageModule
	Timeline timeline
	SVG      template.HTML
	Data     template.JS
	Style    template.CSS
	Script   template.JS
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

func newPage(g *graph.Graph) *page {
	tree := g.ModuleTree()
	p := &page{
		Summary:  fmt.Sprintf("%d modules, %d functions, %d edges, %d hooks", len(tree.Modules), len(g.Nodes), len(g.Edges), len(g.Hooks)),
		Timeline: newTimeline(g),
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
	return p
}

// inlineSVG drops what precedes the <svg> element (the XML declaration,
// the DOCTYPE and Graphviz's comments) so that the SVG can sit in HTML.
func inlineSVG(svg []byte) string {
	s := string(svg)
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	return strings.TrimSpace(s)
}
