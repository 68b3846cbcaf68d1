package graph

import (
	"strconv"
	"strings"
)

// nodeLines are the lines of text drawn in a node, shared by the DOT and
// Mermaid renderers:
//
//	constructor            (kind; "private" added when private)
//	#3 ca.provideCA        (predicted order, when the node runs)
//	hook #0                (the hooks it appends, by predicted index)
//	ran 1.23ms             (what a real build measured, when g.Run != nil)
func (l *layout) nodeLines(n *Node) []string {
	kind := string(n.Kind)
	if n.Private {
		kind += " (private)"
	}
	lines := []string{kind}
	name := n.Name
	if name == "" {
		name = ShortName(n.Func)
	}
	if n.Order >= 0 && n.Kind != KindMissing {
		name = "#" + strconv.Itoa(n.Order) + " " + name
	}
	lines = append(lines, name)
	if hooks := l.hooks[n.ID]; len(hooks) > 0 {
		idx := make([]string, len(hooks))
		for i, h := range hooks {
			idx[i] = "#" + strconv.Itoa(h.Index)
		}
		word := "hook "
		if len(hooks) > 1 {
			word = "hooks "
		}
		lines = append(lines, word+strings.Join(idx, ", "))
	}
	if l.g.Run != nil {
		switch {
		case n.Error != "":
			lines = append(lines, "failed")
		case n.Ran:
			lines = append(lines, "ran "+FormatDuration(n.RuntimeNs))
		case n.Kind != KindMissing && n.Kind != KindBuiltin && n.Kind != KindAbsent:
			lines = append(lines, "did not run")
		}
	} else if n.Status == StatusFailed {
		lines = append(lines, "failed")
	}
	return lines
}

// nodeTooltip is the long description of a node: its full function name,
// where it was registered, what it takes and provides, and its error.
func nodeTooltip(n *Node) string {
	var b strings.Builder
	b.WriteString(n.Func)
	if n.Func == "" {
		b.WriteString(n.Name)
	}
	if n.Location != "" {
		b.WriteString("\n" + n.Location)
	}
	if n.Module != "" {
		b.WriteString("\nmodule " + n.Module)
	}
	b.WriteString("\nstatus " + string(n.Status))
	for _, p := range n.Inputs {
		b.WriteString("\nneeds " + portText(p))
	}
	for _, p := range n.Outputs {
		b.WriteString("\nprovides " + portText(p))
	}
	if n.Error != "" {
		b.WriteString("\nerror: " + n.Error)
	}
	return b.String()
}

// portText is a port's key with its qualifiers.
func portText(p Port) string {
	s := p.Key()
	if p.Optional {
		s += " (optional)"
	}
	if p.Soft {
		s += " (soft)"
	}
	if p.Flatten {
		s += " (flatten)"
	}
	return s
}

// FormatDuration formats nanoseconds with three significant digits, as the
// renderers show durations: "850ns",
// "12.3µs", "1.23ms", "2.50s".
func FormatDuration(ns int64) string {
	if ns < 0 {
		return "-" + FormatDuration(-ns)
	}
	v, unit := float64(ns), "ns"
	switch {
	case ns < 1e3:
		return strconv.FormatInt(ns, 10) + unit
	case ns < 1e6:
		v, unit = v/1e3, "µs"
	case ns < 1e9:
		v, unit = v/1e6, "ms"
	default:
		v, unit = v/1e9, "s"
	}
	prec := 2
	switch {
	case v >= 99.95:
		prec = 0
	case v >= 9.995:
		prec = 1
	}
	return strconv.FormatFloat(v, 'f', prec, 64) + unit
}
