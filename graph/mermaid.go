package graph

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Mermaid writes g as a Mermaid flowchart ("flowchart LR"): one subgraph
// per module (nested modules nested), one node per function with the same
// text as the DOT nodes, one link per edge labelled with its key (optional
// links dotted, group links thick, cycle links red) and classes for
// missing, needs-missing, failed, cycle and unused nodes.
//
// Mermaid ids are derived from the model's IDs ("bg_n3" for node "n3",
// "bgm_ca" for module "ca"), so no id is one of Mermaid's keywords ("end",
// "graph", "style", ...); every label is quoted and escaped with Mermaid's
// entity codes ("#quot;", "#35;", ...), so types such as "[]plane.Listener"
// and names with quotes, angle brackets or pipes show as written.
//
// Mermaid's renderer limits a diagram to 500 links and 50,000 characters
// by default (its maxEdges and maxTextSize settings); a larger graph needs
// them raised, or DOT/SVG instead.
func Mermaid(g *Graph, w io.Writer) error {
	if err := g.Validate(); err != nil {
		return fmt.Errorf("mermaid: %w", err)
	}
	bw := bufio.NewWriter(w)
	m := &mermaidWriter{l: newLayout(g), w: bw}
	m.flowchart()
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("mermaid: write: %w", err)
	}
	return nil
}

type mermaidWriter struct {
	l *layout
	w *bufio.Writer
}

func (m *mermaidWriter) printf(format string, args ...any) {
	fmt.Fprintf(m.w, format, args...) // errors surface at Flush
}

// mermaidClasses are the classDefs, in output order, with the status each
// marks.
var mermaidClasses = []struct {
	name   string
	status Status
	style  string
}{
	{"bgMissing", StatusMissing, "fill:" + colorRedFill + ",stroke:" + colorRed + ",color:" + colorRed + ",stroke-width:2px,stroke-dasharray:5 3"},
	{"bgNeedsMissing", StatusNeedsMissed, "fill:" + colorOrangeBg + ",stroke:" + colorOrange + ",stroke-width:2px"},
	{"bgFailed", StatusFailed, "fill:#ffc9c9,stroke:" + colorRed + ",stroke-width:2px"},
	{"bgCycle", StatusCycle, "stroke:" + colorRed + ",stroke-width:2px"},
	{"bgUnused", StatusUnused, "stroke:#adb5bd,color:" + colorGrey},
	{"bgAbsent", StatusAbsent, "stroke:#adb5bd,color:" + colorGrey + ",stroke-dasharray:5 3"},
}

func (m *mermaidWriter) flowchart() {
	g := m.l.g
	m.printf("%%%% %s\n", g.String())
	m.printf("flowchart LR\n")
	m.module("", "  ")
	var cycle []string
	for i, e := range g.Edges {
		arrow := "-->"
		switch {
		case e.Group:
			arrow = "==>"
		case e.Optional:
			arrow = "-.->"
		}
		m.printf("  %s %s|%s| %s\n", mermaidNodeID(e.From), arrow, mermaidQuote(e.Key), mermaidNodeID(e.To))
		if e.Cycle {
			cycle = append(cycle, strconv.Itoa(i))
		}
	}
	for _, c := range mermaidClasses {
		m.printf("  classDef %s %s\n", c.name, c.style)
	}
	for _, c := range mermaidClasses {
		var ids []string
		for i := range g.Nodes {
			n := &g.Nodes[i]
			if n.Status == c.status || (c.status == StatusMissing && n.Kind == KindMissing && n.Status != StatusMissing) {
				ids = append(ids, mermaidNodeID(n.ID))
			}
		}
		if len(ids) > 0 {
			m.printf("  class %s %s\n", strings.Join(ids, ","), c.name)
		}
	}
	if len(cycle) > 0 {
		m.printf("  linkStyle %s stroke:%s,stroke-width:2px,color:%s\n", strings.Join(cycle, ","), colorRed, colorRed)
	}
}

// module writes the nodes of module id and, nested, its child modules.
func (m *mermaidWriter) module(id, indent string) {
	for _, i := range m.l.nodes[id] {
		n := &m.l.g.Nodes[i]
		open, closing := mermaidShape(n.Kind)
		lines := m.l.nodeLines(n)
		for j, s := range lines {
			lines[j] = mermaidEscape(s)
		}
		m.printf("%s%s%s\"%s\"%s\n", indent, mermaidNodeID(n.ID), open, strings.Join(lines, "<br/>"), closing)
	}
	for _, c := range m.l.children[id] {
		m.printf("%ssubgraph %s [%s]\n", indent, mermaidModuleID(c), mermaidQuote(moduleLabel(m.l.module[c])))
		m.module(c, indent+"  ")
		m.printf("%send\n", indent)
	}
}

// mermaidShape is the bracket pair drawing a node of kind k.
func mermaidShape(k NodeKind) (open, closing string) {
	switch k {
	case KindDecorator:
		return "{{", "}}"
	case KindInvoke:
		return "[[", "]]"
	case KindSupply, KindReplace:
		return "[/", "/]"
	case KindBuiltin, KindAbsent:
		return "([", "])"
	case KindMissing:
		return ">", "]"
	default:
		return "[", "]"
	}
}

// mermaidNodeID is the Mermaid id of a node: "bg_" and the encoded ID.
func mermaidNodeID(id string) string { return "bg_" + safeID(id) }

// mermaidModuleID is the Mermaid id of a module's subgraph.
func mermaidModuleID(id string) string { return "bgm_" + safeID(id) }

// mermaidQuote quotes s as a Mermaid string.
func mermaidQuote(s string) string { return `"` + mermaidEscape(s) + `"` }

// mermaidEscape writes s with Mermaid's entity codes ("#quot;", "#35;"),
// which Mermaid turns into HTML entities: quotes, "#", "&", angle brackets,
// pipes, backticks, brackets and braces cannot end a label or open markup,
// and ":" is coded so that no line can match the patterns by which Mermaid
// rewrites "style ...:#...;" statements. Line breaks and other control
// characters become spaces.
func mermaidEscape(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString("#quot;")
		case '#', '&', '<', '>', '|', '`', '%', ';', ':', '\\', '[', ']', '{', '}', '(', ')':
			b.WriteString("#" + strconv.Itoa(int(r)) + ";")
		default:
			if r < 0x20 || r == 0x7f {
				b.WriteByte(' ')
			} else {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}
