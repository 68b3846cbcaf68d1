package graph

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Why answers "why does A start before B?" for two parts of a graph (see
// Graph.Why): the chain of dependencies that orders A before B, the one
// that orders B before A, both, or neither.
type Why struct {
	A WhyEnd `json:"a"`
	B WhyEnd `json:"b"`
	// Before is the shortest chain by which A starts before B: each step
	// needs the one before it. Nil when nothing makes A start before B.
	Before *WhyPath `json:"before,omitempty"`
	// After is the shortest chain by which B starts before A, or nil.
	After *WhyPath `json:"after,omitempty"`
}

// WhyEnd is one end of the question, as asked and as found.
type WhyEnd struct {
	Query string `json:"query"`
	// Label names what the query found: "ca.provideCA", "module ca",
	// "providers of *ca.CA".
	Label string `json:"label"`
	// Nodes are the node IDs it stands for.
	Nodes []string `json:"nodes"`
	// Order is the earliest build order of its nodes; -1 when none runs.
	Order int `json:"order"`
}

// WhyPath is a chain of dependencies, first (started first) to last.
type WhyPath struct {
	Steps []WhyStep `json:"steps"`
}

// WhyStep is a node on a chain, and the key it provides to the next one.
type WhyStep struct {
	Node   string   `json:"node"`
	Name   string   `json:"name"`
	Module string   `json:"module"`
	Kind   NodeKind `json:"kind"`
	// Order is the node's build order (-1: it does not run); Hooks the
	// predicted start positions (Hook.Index) of the hooks it appends.
	Order int   `json:"order"`
	Hooks []int `json:"hooks,omitempty"`
	// Key is what the next step takes from it; "" on the last step.
	Key string `json:"key,omitempty"`
}

// Why explains what orders a and b. Each is found in g as, in turn: a
// node ID; a node's name ("ca.provideCA") or full function name; a
// module's ID or name ("ca": its nodes and its nested modules' nodes); a
// type or key that nodes provide ("*ca.CA": its providers); else the
// nodes whose name contains it, ignoring case. Chains go through
// infrastructure (Node.Infra) only when a or b is infrastructure itself.
func (g *Graph) Why(a, b string) (*Why, error) {
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("why: %w", err)
	}
	ea, err := g.find(a)
	if err != nil {
		return nil, err
	}
	eb, err := g.find(b)
	if err != nil {
		return nil, err
	}
	if sameSet(ea.Nodes, eb.Nodes) {
		return nil, fmt.Errorf("why: %q and %q are the same: %s", a, b, ea.Label)
	}
	w := &Why{A: ea, B: eb}
	w.Before = g.chain(ea.Nodes, eb.Nodes)
	w.After = g.chain(eb.Nodes, ea.Nodes)
	return w, nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	in := make(map[string]bool, len(a))
	for _, x := range a {
		in[x] = true
	}
	for _, x := range b {
		if !in[x] {
			return false
		}
	}
	return true
}

// find resolves a query to nodes (see Why).
func (g *Graph) find(q string) (WhyEnd, error) {
	end := WhyEnd{Query: q}
	if q == "" {
		return end, fmt.Errorf("why: an empty name")
	}
	pick := func(label string, match func(n *Node) bool) bool {
		for i := range g.Nodes {
			if match(&g.Nodes[i]) {
				end.Nodes = append(end.Nodes, g.Nodes[i].ID)
			}
		}
		if len(end.Nodes) == 0 {
			return false
		}
		end.Label = label
		end.Order = -1
		for _, id := range end.Nodes {
			if o := g.Node(id).Order; o >= 0 && (end.Order < 0 || o < end.Order) {
				end.Order = o
			}
		}
		if len(end.Nodes) == 1 && !strings.HasPrefix(label, "module ") {
			end.Label = g.nodeLabel(end.Nodes[0])
		}
		return true
	}
	if pick(q, func(n *Node) bool { return n.ID == q }) ||
		pick(q, func(n *Node) bool { return n.Name == q || n.Func == q || ShortName(n.Func) == q }) {
		return end, nil
	}
	for _, m := range g.ModuleTree().Modules {
		if m.ID == q || m.Name == q {
			id := m.ID
			if pick("module "+m.Label(), func(n *Node) bool { return n.Module == id || strings.HasPrefix(n.Module, id+"/") }) {
				return end, nil
			}
		}
	}
	if pick("providers of "+q, func(n *Node) bool {
		if n.Kind == KindMissing || n.Kind == KindAbsent {
			return false
		}
		for _, p := range n.Outputs {
			if p.Type == q || p.Key() == q {
				return true
			}
		}
		return false
	}) {
		return end, nil
	}
	lq := strings.ToLower(q)
	if pick("nodes named like "+q, func(n *Node) bool { return strings.Contains(strings.ToLower(n.Name), lq) }) {
		return end, nil
	}
	return end, fmt.Errorf("why: nothing in the graph is called %q (a node's name, a module, or a type a node provides)", q)
}

// nodeLabel is a node's name, with its module when it has one.
func (g *Graph) nodeLabel(id string) string {
	n := g.Node(id)
	if n == nil {
		return id
	}
	name := n.Name
	if name == "" {
		name = ShortName(n.Func)
	}
	return name
}

// chain is the shortest chain of dependencies from a node of from to a
// node of to, or nil: breadth first along edges (provider to consumer),
// in edge order, through no infrastructure unless an end is.
func (g *Graph) chain(from, to []string) *WhyPath {
	target := make(map[string]bool, len(to))
	for _, id := range to {
		target[id] = true
	}
	ends := make(map[string]bool, len(from)+len(to))
	for _, id := range from {
		ends[id] = true
	}
	for _, id := range to {
		ends[id] = true
	}
	infra := map[string]bool{}
	for _, n := range g.Nodes {
		if n.Infra && !ends[n.ID] {
			infra[n.ID] = true
		}
	}
	succ := map[string][]int{}
	for i, e := range g.Edges {
		succ[e.From] = append(succ[e.From], i)
	}
	via := map[string]int{} // node → the edge it was reached by
	seen := map[string]bool{}
	queue := make([]string, 0, len(from))
	for _, id := range from {
		if !seen[id] && !target[id] {
			seen[id] = true
			queue = append(queue, id)
		}
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, ei := range succ[id] {
			next := g.Edges[ei].To
			if seen[next] || infra[next] {
				continue
			}
			seen[next] = true
			via[next] = ei
			if target[next] {
				return g.path(next, via)
			}
			queue = append(queue, next)
		}
	}
	return nil
}

func (g *Graph) path(last string, via map[string]int) *WhyPath {
	var ids []string
	var keys []string
	id := last
	for {
		ids = append(ids, id)
		ei, ok := via[id]
		if !ok {
			break
		}
		keys = append(keys, g.Edges[ei].Key)
		id = g.Edges[ei].From
	}
	hooks := map[string][]int{}
	for _, h := range g.Hooks {
		if h.Index >= 0 {
			hooks[h.Node] = append(hooks[h.Node], h.Index)
		}
	}
	p := &WhyPath{}
	for i := len(ids) - 1; i >= 0; i-- {
		n := g.Node(ids[i])
		s := WhyStep{Node: n.ID, Name: g.nodeLabel(n.ID), Module: n.Module, Kind: n.Kind, Order: n.Order, Hooks: hooks[n.ID]}
		sort.Ints(s.Hooks)
		if i > 0 {
			s.Key = keys[i-1]
		}
		p.Steps = append(p.Steps, s)
	}
	return p
}

// WriteText writes the answer for people:
//
//	ca.provideCA starts before webhook.provideServer: webhook.provideServer needs it, through 2 steps.
//	  ca.provideCA  [ca] constructor, build #8
//	    provides *ca.CA to
//	  ...
func (w *Why) WriteText(out io.Writer) error {
	bw := bufio.NewWriter(out)
	a, b := w.A.Label, w.B.Label
	fmt.Fprintf(bw, "A = %s%s\nB = %s%s\n\n", a, count(w.A), b, count(w.B))
	switch {
	case w.Before == nil && w.After == nil:
		fmt.Fprintf(bw, "Nothing orders %s and %s: neither needs the other, directly or through what it needs.\n", a, b)
		oa, ob := w.A.Order, w.B.Order
		switch {
		case oa >= 0 && ob >= 0:
			first, second, o1, o2 := a, b, oa, ob
			if ob < oa {
				first, second, o1, o2 = b, a, ob, oa
			}
			fmt.Fprintf(bw, "fx builds %s (#%d) before %s (#%d) only because of the order they were registered in.\n", first, o1, second, o2)
		default:
			fmt.Fprintf(bw, "Not both of them run.\n")
		}
	default:
		if w.Before != nil {
			writeChain(bw, "A", "B", a, b, w.Before)
		} else {
			fmt.Fprintf(bw, "Nothing makes %s start before %s.\n", a, b)
		}
		fmt.Fprint(bw, "\n")
		if w.After != nil {
			writeChain(bw, "B", "A", b, a, w.After)
		} else {
			fmt.Fprintf(bw, "Nothing makes %s start before %s.\n", b, a)
		}
	}
	return bw.Flush()
}

func count(e WhyEnd) string {
	if len(e.Nodes) == 1 {
		return ""
	}
	return " (" + strconv.Itoa(len(e.Nodes)) + " nodes)"
}

func writeChain(w *bufio.Writer, x, y, xl, yl string, p *WhyPath) {
	first, last := p.Steps[0], p.Steps[len(p.Steps)-1]
	part := ""
	if xl != first.Name || yl != last.Name {
		part = " (" + first.Name + " of " + x + " before " + last.Name + " of " + y + ")"
	}
	steps := len(p.Steps) - 1
	fmt.Fprintf(w, "%s starts before %s%s: %s needs %s, through %d step%s:\n", xl, yl, part, last.Name, first.Name, steps, plural(steps))
	width := 0
	for _, s := range p.Steps {
		width = max(width, len(s.Name))
	}
	for _, s := range p.Steps {
		fmt.Fprintf(w, "  %-*s  %s\n", width, s.Name, stepFacts(s))
		if s.Key != "" {
			fmt.Fprintf(w, "    provides %s to\n", s.Key)
		}
	}
}

func stepFacts(s WhyStep) string {
	facts := []string{string(s.Kind)}
	if s.Order >= 0 {
		facts = append(facts, "build #"+strconv.Itoa(s.Order))
	} else {
		facts = append(facts, "does not run")
	}
	for _, h := range s.Hooks {
		facts = append(facts, "hook #"+strconv.Itoa(h))
	}
	mod := s.Module
	if mod == "" {
		mod = "top level"
	}
	return "[" + mod + "] " + strings.Join(facts, ", ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// WhySchema names the JSON form of a Why (WriteJSON).
const WhySchema = "bootgraph.dev/graph-why/v1"

// WriteJSON writes w as JSON: {"schema", "a", "b", "before", "after"},
// indented by two spaces.
func (w *Why) WriteJSON(out io.Writer) error {
	return writeIndented(out, struct {
		Schema string `json:"schema"`
		*Why
	}{WhySchema, w})
}
