package graph

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// DOT writes g in Graphviz's DOT language: one cluster per module (nested
// modules nested, labelled with the module name), one node per function
// (labelled with its kind, predicted order, name, hooks and, after a run,
// its runtime) and one edge per provided value, from provider to consumer,
// labelled with the value's key. Optional edges are dashed, group edges
// bold, infrastructure edges (Edge.Infra) light grey; missing types are
// red, nodes that need them orange, cycle edges red. Problems are listed in the graph's label.
//
// Every node, edge and cluster carries an "id" and "class" attribute that
// SVG output keeps: node "n3" is "node-n3" (class "bg-node bg-kind-...
// bg-status-..."), the i-th edge "edge-i", the cluster of module "ca"
// "module-ca". IDs other than letters and digits are encoded (see safeID).
//
// Layout cost grows fast with the number of edges (an edge label is a
// node of its own to dot's layout, and a long edge one per rank it spans),
// so larger graphs get a cheaper layout, measured on a synthetic graph
// with Graphviz 12's dot (compiled to WebAssembly by go-graphviz v0.2.10):
//
//	edges ≤ 400    full quality: labels, curved edges
//	edges ≤ 1500   labels as xlabel (placed after layout), network simplex
//	               and crossing minimisation limited (nslimit, nslimit1,
//	               mclimit)
//	more           as above, with straight edges (splines=line)
//
// The output depends only on g: nodes, edges and modules come in the
// order of g's slices.
func DOT(g *Graph, w io.Writer) error {
	if err := g.Validate(); err != nil {
		return fmt.Errorf("dot: %w", err)
	}
	bw := bufio.NewWriter(w)
	d := &dotWriter{l: newLayout(g), w: bw, tier: tierOf(g)}
	d.graph()
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("dot: write: %w", err)
	}
	return nil
}

// Colours shared by the renderers.
const (
	colorRed      = "#c92a2a"
	colorRedFill  = "#ffe3e3"
	colorOrange   = "#e8590c"
	colorOrangeBg = "#ffd8a8"
	colorGrey     = "#868e96"
	colorEdge     = "#495057"
	colorInfra    = "#adb5bd" // infrastructure edges: drawn, but quietly
	fontFamily    = "Helvetica,Arial,sans-serif"
)

type dotWriter struct {
	l    *layout
	w    *bufio.Writer
	tier dotTier
}

// dotTier is how much layout quality a graph's size allows.
type dotTier int

const (
	tierFull   dotTier = iota // labels, curved edges, no limits
	tierMedium                // xlabels, limited iterations
	tierLarge                 // and straight edges
)

// Edge counts at which a graph moves to the next tier. With that
// Graphviz: 439 edges take 0.8 s at full quality, 1123 edges 0.75 s at
// medium, 2290 edges 2.5 s at medium and 1.0 s at large (62 s at full).
const (
	mediumEdges = 400
	largeEdges  = 1500
)

func tierOf(g *Graph) dotTier {
	switch n := len(g.Edges); {
	case n > largeEdges:
		return tierLarge
	case n > mediumEdges:
		return tierMedium
	default:
		return tierFull
	}
}

func (d *dotWriter) printf(format string, args ...any) {
	fmt.Fprintf(d.w, format, args...) // errors surface at Flush
}

func (d *dotWriter) graph() {
	g := d.l.g
	d.printf("// %s\n", g.String())
	d.printf("digraph bootgraph {\n")
	limits := ""
	switch d.tier {
	case tierMedium:
		limits = " nslimit=0.2 nslimit1=0.2 mclimit=0.1"
	case tierLarge:
		limits = " nslimit=0.2 nslimit1=0.2 mclimit=0.1 splines=line"
	}
	d.printf("\tgraph [id=\"bg-graph\" rankdir=LR fontname=%s fontsize=12 nodesep=0.25 ranksep=0.6 newrank=true%s]\n", dotQuote(fontFamily), limits)
	d.printf("\tnode [shape=box style=\"rounded,filled\" fillcolor=\"#ffffff\" color=\"#343a40\" fontname=%s fontsize=10 margin=\"0.12,0.04\"]\n", dotQuote(fontFamily))
	d.printf("\tedge [fontname=%s fontsize=8 color=%s fontcolor=%s arrowsize=0.7]\n", dotQuote(fontFamily), dotQuote(colorEdge), dotQuote(colorEdge))
	d.module("", "\t")
	for i := range g.Edges {
		d.edge(i)
	}
	if len(g.Problems) > 0 {
		lines := []string{fmt.Sprintf("%d problem(s):", len(g.Problems))}
		for _, p := range g.Problems {
			lines = append(lines, string(p.Kind)+": "+p.Message)
		}
		d.printf("\tlabel=%s\n\tlabelloc=t\n\tlabeljust=l\n\tfontcolor=%s\n", dotLines(lines, `\l`), dotQuote(colorRed))
	}
	d.printf("}\n")
}

// module writes the nodes of module id and, nested, its child modules.
func (d *dotWriter) module(id, indent string) {
	for _, i := range d.l.nodes[id] {
		d.node(&d.l.g.Nodes[i], indent)
	}
	for _, c := range d.l.children[id] {
		m := d.l.module[c]
		d.printf("%ssubgraph %s {\n", indent, dotQuote("cluster_"+safeID(c)))
		in := indent + "\t"
		d.printf("%sid=%s class=\"bg-module\" label=%s tooltip=%s\n", in, dotQuote(ModuleElementID(c)), dotQuote(moduleLabel(m)), dotQuote("module "+c))
		d.printf("%sstyle=\"rounded,filled\" fillcolor=\"#f8f9fa\" color=\"#adb5bd\" fontcolor=\"#343a40\" labeljust=l\n", in)
		d.module(c, in)
		d.printf("%s}\n", indent)
	}
}

func (d *dotWriter) node(n *Node, indent string) {
	st := nodeStyle(n)
	a := []string{
		"id=" + dotQuote(NodeElementID(n.ID)),
		"class=" + dotQuote(nodeClass(n)),
		"label=" + dotLines(d.l.nodeLines(n), `\n`),
		"tooltip=" + dotQuote(nodeTooltip(n)),
	}
	if st.shape != "box" {
		a = append(a, "shape="+st.shape)
	}
	if st.style != "" {
		a = append(a, "style="+dotQuote(st.style))
	}
	a = append(a, "fillcolor="+dotQuote(st.fill))
	if st.color != "" {
		a = append(a, "color="+dotQuote(st.color))
	}
	if st.font != "" {
		a = append(a, "fontcolor="+dotQuote(st.font))
	}
	if st.pen != "" {
		a = append(a, "penwidth="+st.pen)
	}
	d.printf("%s%s [%s]\n", indent, dotQuote(safeID(n.ID)), strings.Join(a, " "))
}

// dotNodeStyle is how a node is drawn; empty fields keep the defaults.
type dotNodeStyle struct {
	shape, style, fill, color, font, pen string
}

// nodeStyle draws the kind by shape and fill, and the status by colour:
// missing red and dashed, failed red, needs-missing orange, cycle red
// border, unused grey.
func nodeStyle(n *Node) dotNodeStyle {
	st := dotNodeStyle{shape: "box", fill: "#e7f5ff"}
	switch n.Kind {
	case KindDecorator:
		st.shape, st.fill = "hexagon", "#f3f0ff"
	case KindInvoke:
		st.shape, st.fill = "component", "#ebfbee"
	case KindSupply, KindReplace:
		st.shape, st.fill = "note", "#fff9db"
	case KindBuiltin:
		st.shape, st.fill = "ellipse", "#f1f3f5"
	case KindAbsent:
		st.shape, st.fill, st.style, st.color, st.font = "ellipse", "#f8f9fa", "filled,dashed", "#adb5bd", colorGrey
	}
	switch {
	case n.Kind == KindMissing || n.Status == StatusMissing:
		st.style, st.fill, st.color, st.font, st.pen = "filled,dashed", colorRedFill, colorRed, colorRed, "2"
	case n.Status == StatusFailed:
		st.fill, st.color, st.pen = "#ffc9c9", colorRed, "2"
	case n.Status == StatusNeedsMissed:
		st.fill, st.color, st.pen = colorOrangeBg, colorOrange, "2"
	case n.Status == StatusCycle:
		st.color, st.pen = colorRed, "2"
	case n.Status == StatusUnused:
		st.color, st.font = "#adb5bd", colorGrey
	}
	return st
}

func (d *dotWriter) edge(i int) {
	e := &d.l.g.Edges[i]
	class, style := "bg-edge", []string(nil)
	var extra []string
	if e.Optional {
		class += " bg-edge-optional"
		style = append(style, "dashed")
	}
	if e.Group {
		class += " bg-edge-group"
		style = append(style, "bold")
	}
	if e.Infra {
		class += " bg-edge-infra"
		extra = append(extra, "color="+dotQuote(colorInfra), "fontcolor="+dotQuote(colorInfra))
	}
	if e.Cycle {
		class += " bg-edge-cycle"
		extra = append(extra, "color="+dotQuote(colorRed), "fontcolor="+dotQuote(colorRed), "penwidth=2")
	}
	if len(style) > 0 {
		extra = append(extra, "style="+dotQuote(strings.Join(style, ",")))
	}
	a := append([]string{
		"id=" + dotQuote(EdgeElementID(i)),
		"class=" + dotQuote(class),
		d.edgeLabel() + "=" + dotQuote(e.Key),
		"tooltip=" + dotQuote(e.Key),
	}, extra...)
	d.printf("\t%s -> %s [%s]\n", dotQuote(safeID(e.From)), dotQuote(safeID(e.To)), strings.Join(a, " "))
}

// edgeLabel is the attribute that labels edges: "label" makes the label
// part of the layout, "xlabel" places it afterwards, at no layout cost.
func (d *dotWriter) edgeLabel() string {
	if d.tier == tierFull {
		return "label"
	}
	return "xlabel"
}

// nodeClass is the class list of a node in the SVG.
func nodeClass(n *Node) string {
	c := "bg-node bg-kind-" + safeID(string(n.Kind)) + " bg-status-" + safeID(string(n.Status))
	if n.Infra {
		c += " bg-infra"
	}
	return c
}

// dotQuote quotes s as a DOT string that Graphviz shows as s: backslashes
// and quotes are escaped ("\\" is an escString backslash, so "\N" or "\G"
// in a name stay literal), "&" becomes "&amp;" (Graphviz decodes HTML
// entities in labels), line breaks become "\n" and other control characters
// and invalid UTF-8 become spaces and U+FFFD.
func dotQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	writeDOTEscaped(&b, s)
	b.WriteByte('"')
	return b.String()
}

// dotLines quotes lines joined by the escString line break br ("\n"
// centred, "\l" left-justified); a "\l" is also put after the last line.
func dotLines(lines []string, br string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, s := range lines {
		if i > 0 {
			b.WriteString(br)
		}
		writeDOTEscaped(&b, s)
	}
	if br == `\l` {
		b.WriteString(br)
	}
	b.WriteByte('"')
	return b.String()
}

func writeDOTEscaped(b *strings.Builder, s string) {
	s = strings.ToValidUTF8(s, "\uFFFD")
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '"':
			b.WriteString(`\"`)
		case r == '&':
			b.WriteString("&amp;")
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
}
