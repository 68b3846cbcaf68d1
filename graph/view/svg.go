package view

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/goccy/go-graphviz"

	"github.com/bootgraph/bootgraph/graph"
	// Before go-graphviz initialises: its compilation cache in a private
	// directory, never a shared one another user owns.
	_ "github.com/bootgraph/bootgraph/internal/wasmcache"
)

// graphvizSem serialises every use of go-graphviz. The library runs one
// Graphviz WebAssembly instance per process (instantiated when the package
// is initialised) with one linear memory and one C stack, and nothing in it
// is safe for concurrent calls, so only one layout runs at a time. A
// channel rather than a mutex lets a waiting caller give up with its ctx.
var graphvizSem = make(chan struct{}, 1)

// SVG lays g out with Graphviz's dot engine and writes it as SVG. Graphviz
// runs in-process, compiled to WebAssembly (github.com/goccy/go-graphviz):
// no system Graphviz is needed. The SVG keeps the DOT ids and classes (see
// DOT), so node "n3" is the element with id "node-n3".
//
// Layouts are serialised process-wide; ctx is checked before and after
// the wait for the renderer, but a layout that has started runs to its end.
func SVG(ctx context.Context, g *graph.Graph, w io.Writer) error {
	data, err := renderSVG(ctx, g)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("svg: write: %w", err)
	}
	return nil
}

// renderSVG is SVG into a byte slice.
func renderSVG(ctx context.Context, g *graph.Graph) ([]byte, error) {
	var dot bytes.Buffer
	if err := graph.DOT(g, &dot); err != nil {
		return nil, fmt.Errorf("svg: %w", err)
	}
	select {
	case graphvizSem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("svg: waiting for graphviz: %w", ctx.Err())
	}
	defer func() { <-graphvizSem }()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("svg: %w", err)
	}
	return layoutSVG(ctx, dot.Bytes())
}

// layoutSVG runs Graphviz on DOT source; the caller holds graphvizSem.
// A Graphviz context is made per call: it costs about a millisecond, and
// nothing from one layout is left for the next.
//
// The errors of Close are not errors of the layout: go-graphviz reports
// Graphviz's process-wide error count and last message there, so a
// warning such as "no value for width of non-ASCII character", or an
// error from an earlier, unrelated call, would fail a good render.
func layoutSVG(ctx context.Context, dot []byte) ([]byte, error) {
	gv, err := graphviz.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("svg: start graphviz: %w", err)
	}
	defer gv.Close() //nolint:errcheck // see above
	parsed, err := graphviz.ParseBytes(dot)
	if err != nil {
		return nil, fmt.Errorf("svg: graphviz rejected the DOT: %w", err)
	}
	defer parsed.Close() //nolint:errcheck // see above
	var buf bytes.Buffer
	if err := gv.Render(ctx, parsed, graphviz.SVG, &buf); err != nil {
		return nil, fmt.Errorf("svg: graphviz layout: %w", err)
	}
	if buf.Len() == 0 {
		return nil, fmt.Errorf("svg: graphviz wrote nothing")
	}
	return buf.Bytes(), nil
}
