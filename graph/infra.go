package graph

import "strings"

// InfraTypes are the types of the infrastructure every plane has, as
// Port.Type writes them: the logger, fx's lifecycle and builtins, fx's
// event logger, the Prometheus registry the engine supplies and the graph
// source it supplies for the live page. Their edges cross every module and
// say nothing about the plane's order, so pages hide them until asked.
var InfraTypes = []string{
	"*zap.Logger",
	"*zap.SugaredLogger",
	"fx.Lifecycle",
	"fx.Shutdowner",
	"fx.DotGraph",
	"fxevent.Logger",
	"prometheus.Registerer",
	"prometheus.Gatherer",
	"*prometheus.Registry",
	"graph.Source",
}

var infraTypeSet = func() map[string]bool {
	m := make(map[string]bool, len(InfraTypes))
	for _, t := range InfraTypes {
		m[t] = true
	}
	return m
}()

// IsInfraType reports whether t, a port type or an edge key
// ("*zap.Logger", "fx.Lifecycle[name=x]"), is one of InfraTypes.
func IsInfraType(t string) bool {
	for _, q := range []string{"[group=", "[name="} {
		if i := strings.Index(t, q); i > 0 {
			t = t[:i]
		}
	}
	return infraTypeSet[t]
}

// MarkInfra sets Infra on the infrastructure of g, recognised by type
// (InfraTypes), and returns g:
//
//   - a node fx provides itself (KindBuiltin);
//   - a node that provides something and provides only infrastructure
//     types: the engine's supplied logger and registry, its decorator of
//     fx.Lifecycle (the hook tracker), its graph.Source, fx's event
//     logger, and a part's own logger constructor alike;
//   - an edge that carries an infrastructure type or ends at an
//     infrastructure node.
//
// A missing node is never infrastructure: what is missing must show.
// Marks are only added, never cleared, so a producer that marks more (or
// a graph marked twice) keeps its marks. The engine marks the graphs of
// Plane.Graph and Plane.Plan; readers call it on graphs from elsewhere.
func (g *Graph) MarkInfra() *Graph {
	if g == nil {
		return g
	}
	infra := make(map[string]bool)
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if !n.Infra && isInfraNode(n) {
			n.Infra = true
		}
		if n.Infra {
			infra[n.ID] = true
		}
	}
	for i := range g.Edges {
		e := &g.Edges[i]
		if !e.Infra && (IsInfraType(e.Key) || infra[e.From] || infra[e.To]) {
			e.Infra = true
		}
	}
	return g
}

func isInfraNode(n *Node) bool {
	switch n.Kind {
	case KindBuiltin:
		return true
	case KindMissing, KindInvoke:
		return false
	}
	if len(n.Outputs) == 0 {
		return false
	}
	for _, p := range n.Outputs {
		if !IsInfraType(p.Type) {
			return false
		}
	}
	return true
}

// WithoutInfra returns a copy of g without its infrastructure: the nodes
// and edges marked Infra (see MarkInfra) are left out, and so are the
// hooks, group members and consumers that name a node left out. A node a
// problem names is kept, marked or not.
func (g *Graph) WithoutInfra() *Graph {
	c := g.Clone()
	keep := make(map[string]bool, len(c.Nodes))
	named := make(map[string]bool)
	for _, p := range c.Problems {
		for _, id := range p.Nodes {
			named[id] = true
		}
	}
	nodes := c.Nodes[:0]
	for _, n := range c.Nodes {
		if !n.Infra || named[n.ID] {
			keep[n.ID] = true
			nodes = append(nodes, n)
		}
	}
	c.Nodes = nodes
	edges := c.Edges[:0]
	for _, e := range c.Edges {
		if keep[e.From] && keep[e.To] && (!e.Infra || named[e.From] && named[e.To]) {
			edges = append(edges, e)
		}
	}
	c.Edges = edges
	filter := func(ids []string) []string {
		out := ids[:0]
		for _, id := range ids {
			if keep[id] {
				out = append(out, id)
			}
		}
		return out
	}
	for i := range c.Groups {
		c.Groups[i].Members = filter(c.Groups[i].Members)
		c.Groups[i].Consumers = filter(c.Groups[i].Consumers)
	}
	if c.Hooks != nil {
		hooks := c.Hooks[:0]
		for _, h := range c.Hooks {
			if h.Node == "" || keep[h.Node] {
				hooks = append(hooks, h)
			}
		}
		c.Hooks = hooks
	}
	return c
}
