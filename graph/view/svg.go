package view

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/bootgraph/bootgraph/graph"
)

// SVG draws g as a standalone SVG document: every module a cluster with
// its name and what it holds, every node a box with its kind, build
// order, name, hooks and timing, every edge a line with its key, and the
// graph's problems above. It is laid out here, in Go, by the layered
// layout the HTML page uses (page/layout.js), left to right in build
// order; no Graphviz, system or embedded, and nothing is loaded until it
// is called.
//
// The SVG keeps the ids and classes of the DOT output (see graph.DOT):
// node "n3" is the element with id "node-n3" (graph.NodeElementID) and
// class "bg-node bg-kind-... bg-status-...", the i-th edge "edge-i"
// (graph.EdgeElementID) with class "bg-edge ...", the cluster of module
// "ca" "module-ca" (graph.ModuleElementID) with class "bg-module". It
// styles them with the page's own stylesheet, inline. The output depends
// only on g.
//
// ctx is checked between the phases of the layout and between modules.
func SVG(ctx context.Context, g *graph.Graph, w io.Writer) error {
	data, err := renderSVG(ctx, g)
	if err != nil {
		return fmt.Errorf("svg: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("svg: write: %w", err)
	}
	return nil
}

// renderSVG is SVG into a byte slice.
func renderSVG(ctx context.Context, g *graph.Graph) ([]byte, error) {
	d, err := layOut(ctx, g)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	d.write(&buf)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// layOut makes g into a drawing and lays it out.
func layOut(ctx context.Context, g *graph.Graph) (*drawing, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	d := newDrawing(g)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.rankAll(d.root)
	if err := d.placeAll(ctx, d.root); err != nil {
		return nil, err
	}
	return d, nil
}
