package view

import (
	"bytes"
	"cmp"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bootgraph/bootgraph/graph"
)

// svgFont is the drawing's font-family, as the page's.
const svgFont = "Helvetica, Arial, sans-serif"

// write writes the laid-out drawing as an SVG document: the modules'
// clusters (outer ones first), then the edges, then the nodes over them.
func (d *drawing) write(b *bytes.Buffer) {
	problems := d.problemLines()
	top := 0.0
	if len(problems) > 0 {
		top = 16 + 16*float64(len(problems))
	}
	d.setOrigins(d.root, point{0, top})
	lay := d.root.lay
	w := math.Ceil(lay.w)
	for _, p := range problems {
		w = math.Max(w, math.Ceil(textWidth(p, 12, false)+24))
	}
	h := math.Ceil(lay.h + top)
	x := &xmlWriter{b: b}
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
	x.open("svg", "xmlns", "http://www.w3.org/2000/svg", "width", num(w), "height", num(h),
		"viewBox", "0 0 "+num(w)+" "+num(h), "font-family", svgFont, "class", "bg-svg",
		"role", "img", "aria-label", "dependency graph: "+d.g.String())
	x.element("title", d.g.String())
	b.WriteString("\n<style><![CDATA[\n")
	b.WriteString(strings.ReplaceAll(graphStyle(), "]]>", "]]]]><![CDATA[>"))
	b.WriteString("]]></style>\n")
	x.empty("rect", "class", "bg-bg", "x", "0", "y", "0", "width", num(w), "height", num(h))
	if len(problems) > 0 {
		x.open("g", "class", "bg-problems")
		for i, p := range problems {
			x.text(12, 24+16*float64(i), textLine{text: p, px: 12, class: "bg-t-bad"}, "start")
		}
		x.close("g")
	}
	x.open("g", "id", "bg-graph")
	x.open("g", "class", "bg-modules")
	for _, c := range d.conts[1:] {
		d.writeCluster(x, c.box)
	}
	x.close("g")
	x.open("g", "class", "bg-links")
	for i := range d.g.Edges {
		d.writeEdge(x, i)
	}
	x.close("g")
	x.open("g", "class", "bg-nodes")
	for _, e := range d.nodes {
		d.writeNode(x, e)
	}
	x.close("g")
	x.close("g")
	x.close("svg")
}

// problemLines are the graph's problems, as DOT labels the graph with them.
func (d *drawing) problemLines() []string {
	if len(d.g.Problems) == 0 {
		return nil
	}
	lines := []string{strconv.Itoa(len(d.g.Problems)) + " problem(s):"}
	for _, p := range d.g.Problems {
		lines = append(lines, string(p.Kind)+": "+p.Message)
	}
	return lines
}

// writeCluster draws a module as the page draws an expanded one: a box
// with a head naming it and what it holds.
func (d *drawing) writeCluster(x *xmlWriter, e *entity) {
	at := e.at()
	id := e.sub.id
	x.open("g", "id", graph.ModuleElementID(id), "class", "bg-module bg-cluster", "data-module", id,
		"transform", "translate("+num(at.x)+","+num(at.y)+")")
	x.element("title", "module "+id)
	x.empty("rect", "class", "bg-shape", "x", "0", "y", "0", "width", num(e.w), "height", num(e.h), "rx", "8")
	x.open("g", "class", "bg-cluster-head")
	x.empty("rect", "class", "bg-head", "x", "0", "y", "0", "width", num(e.w), "height", "28", "rx", "8")
	x.text(12, 19, textLine{text: e.title, px: 13, bold: true, class: "bg-t-title"}, "start")
	if e.counts != "" {
		x.text(12+textWidth(e.title, 13, true)+10, 19, textLine{text: e.counts, px: 10, class: "bg-t-kind"}, "start")
	}
	x.close("g")
	x.close("g")
}

// writeNode draws a node as the page does: a box of lines of text.
func (d *drawing) writeNode(x *xmlWriter, e *entity) {
	n := e.node
	at := e.at()
	x.open("g", "id", graph.NodeElementID(n.ID), "class", nodeClass(n), "data-node", n.ID, "data-module", n.Module,
		"transform", "translate("+num(at.x)+","+num(at.y)+")")
	x.element("title", nodeTitle(n))
	x.empty("rect", "class", "bg-shape", "x", "0", "y", "0", "width", num(e.w), "height", num(e.h), "rx", "4")
	y := 5.0
	for _, l := range e.lines {
		y += l.px + 4
		x.text(e.w/2, y-4, l, "middle")
	}
	x.close("g")
}

// nodeClass is graph.DOT's class list of a node: "bg-node bg-kind-<kind>
// bg-status-<status>", and "bg-infra" for infrastructure.
func nodeClass(n *graph.Node) string {
	c := "bg-node bg-kind-" + safeID(string(n.Kind)) + " bg-status-" + safeID(string(n.Status))
	if n.Infra {
		c += " bg-infra"
	}
	return c
}

// safeID is the graph package's encoding of an id into [A-Za-z0-9_], as
// it makes element ids.
func safeID(s string) string { return strings.TrimPrefix(graph.NodeElementID(s), "node-") }

// writeEdge draws edge i: its path through the containers it crosses,
// an arrow at its target and its key at its label's place; DOT's classes
// ("bg-edge", "bg-edge-optional", ...) and the page's ("bg-link", ...).
func (d *drawing) writeEdge(x *xmlWriter, i int) {
	e := &d.g.Edges[i]
	class := "bg-edge"
	link := "bg-link"
	for _, f := range []struct {
		on   bool
		name string
	}{{e.Optional, "optional"}, {e.Group, "group"}, {e.Infra, "infra"}, {e.Cycle, "cycle"}} {
		if f.on {
			class += " bg-edge-" + f.name
			link += " bg-link-" + f.name
		}
	}
	x.open("g", "id", graph.EdgeElementID(i), "class", class+" "+link, "data-from", e.From, "data-to", e.To)
	x.element("title", d.nodeName(e.From)+" → "+d.nodeName(e.To)+": "+e.Key)
	pts, label := d.route(i)
	if pts == nil {
		pts, label = loop(d.nodeEntity(e.From), e.Key)
	}
	x.empty("path", "class", "bg-line", "d", svgPath(pts, dirLR))
	p, q := pts[len(pts)-1], pts[len(pts)-2]
	dx := "8"
	if p.x >= q.x {
		dx = "-8"
	}
	x.empty("path", "class", "bg-arrow", "d", "M"+num(p.x)+","+num(p.y)+"l"+dx+",-4l0,8z")
	if label != nil {
		lw := math.Ceil(textWidth(e.Key, 10, false)) + 6
		x.open("g", "class", "bg-label", "transform", "translate("+num(label.x)+","+num(label.y-7)+")")
		x.empty("rect", "x", num(-lw/2), "y", "0", "width", num(lw), "height", "14", "rx", "3")
		x.text(0, 11, textLine{text: e.Key, px: 10}, "middle")
		x.close("g")
	}
	x.close("g")
}

// nodeName is what a node is called in text: its name, else its function.
func (d *drawing) nodeName(id string) string {
	n := d.nodeEntity(id).node
	return cmp.Or(n.Name, n.Func, n.ID)
}

// loop is the route of an edge from a node to itself, which the layout
// leaves out: a loop off the box's right side, its label beyond it.
func loop(e *entity, key string) ([]point, *point) {
	at := e.at()
	r, m := at.x+e.w, at.y+e.h/2
	pts := []point{{r, m - 6}, {r + 22, m - 6}, {r + 22, m + 6}, {r, m + 6}}
	return pts, &point{r + 26 + (math.Ceil(textWidth(key, 10, false))+6)/2, m}
}

// xmlWriter writes XML elements, escaping text and attribute values.
type xmlWriter struct{ b *bytes.Buffer }

// open writes a start tag; attrs are name, value pairs.
func (x *xmlWriter) open(name string, attrs ...string) {
	x.tag(name, attrs)
	x.b.WriteByte('>')
}

// empty writes an element without content.
func (x *xmlWriter) empty(name string, attrs ...string) {
	x.tag(name, attrs)
	x.b.WriteString("/>\n")
}

func (x *xmlWriter) tag(name string, attrs []string) {
	x.b.WriteByte('<')
	x.b.WriteString(name)
	for i := 0; i+1 < len(attrs); i += 2 {
		x.b.WriteByte(' ')
		x.b.WriteString(attrs[i])
		x.b.WriteString(`="`)
		x.escape(attrs[i+1])
		x.b.WriteByte('"')
	}
}

func (x *xmlWriter) close(name string) {
	x.b.WriteString("</")
	x.b.WriteString(name)
	x.b.WriteString(">\n")
}

// element writes an element holding text.
func (x *xmlWriter) element(name, text string) {
	x.open(name)
	x.escape(text)
	x.close(name)
}

// text writes a line of text at x, y (its baseline), anchored "start" or
// "middle". Its length is set to what textWidth measures: viewers
// without Helvetica or a font of its metrics (Arial, Liberation Sans)
// fit the line to the box it was measured for instead of overflowing it.
func (x *xmlWriter) text(at, y float64, l textLine, anchor string) {
	attrs := []string{"x", num(at), "y", num(y), "font-size", num(l.px)}
	if l.bold {
		attrs = append(attrs, "font-weight", "bold")
	}
	if anchor != "start" {
		attrs = append(attrs, "text-anchor", anchor)
	}
	if l.class != "" {
		attrs = append(attrs, "class", l.class)
	}
	attrs = append(attrs, "textLength", num(textWidth(l.text, l.px, l.bold)), "lengthAdjust", "spacingAndGlyphs")
	x.open("text", attrs...)
	x.escape(l.text)
	x.close("text")
}

// escape writes s escaped for text and attribute values alike; what XML
// cannot hold (invalid UTF-8, control characters) becomes U+FFFD.
func (x *xmlWriter) escape(s string) {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '&':
			x.b.WriteString("&amp;")
		case r == '<':
			x.b.WriteString("&lt;")
		case r == '>':
			x.b.WriteString("&gt;")
		case r == '"':
			x.b.WriteString("&quot;")
		case r == '\n':
			x.b.WriteString("&#xA;")
		case r == '\t':
			x.b.WriteString("&#x9;")
		case r == '\r':
			x.b.WriteString("&#xD;")
		case r == utf8.RuneError && n == 1, r < 0x20, r == 0xfffe, r == 0xffff:
			x.b.WriteString("\uFFFD")
		default:
			x.b.WriteString(s[i : i+n])
		}
		i += n
	}
}
