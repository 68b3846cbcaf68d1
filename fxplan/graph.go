package fxplan

import (
	"fmt"
	"strings"

	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/internal/fxopts"
)

// isHookRegistrar reports whether it can append lifecycle hooks: it takes
// the Lifecycle (and is not a decorator of the Lifecycle itself) or carries
// fx.OnStart/OnStop annotations.
func isHookRegistrar(it *item) bool {
	if it.Ann != nil && it.Ann.Hooks > 0 {
		return true
	}
	return takes(it.in, lifecycleType) && !takes(it.out, lifecycleType)
}

// graph turns the simulation into a graph.
func (p *planner) graph() *graph.Graph {
	g := &graph.Graph{Schema: graph.Schema, Modules: []graph.Module{}, Nodes: []graph.Node{}, Edges: []graph.Edge{}}
	addModules(g, p.root)
	orderOf := make(map[*item]int, len(p.order))
	for i, it := range p.order {
		orderOf[it] = i
	}
	for _, it := range p.all {
		n := graph.Node{
			ID: it.id, Kind: nodeKind(it.Kind), Name: it.Label, Func: it.FullName, Key: it.EventKey,
			Module: it.Module.ID, Location: it.Location, Private: it.Private,
			Inputs: ports(it.in), Outputs: ports(it.out), Status: graph.StatusOK, Order: -1,
		}
		if o, ok := orderOf[it]; ok {
			n.Order = o
		} else if it.Kind != fxopts.KindInvoke && it.Kind != fxopts.KindLogger {
			n.Status = graph.StatusUnused
		}
		g.Nodes = append(g.Nodes, n)
	}
	p.addEdges(g)
	p.addGroups(g)
	p.markMissing(g)
	p.markCycles(g)
	markNeedsMissing(g)
	for _, it := range p.order {
		if isHookRegistrar(it) {
			g.Hooks = append(g.Hooks, graph.Hook{Index: len(g.Hooks), Node: it.id, Name: it.Label, StartIndex: -1, StopIndex: -1})
		}
	}
	return g
}

func addModules(g *graph.Graph, m *fxopts.Module) {
	for _, c := range m.Children {
		g.Modules = append(g.Modules, graph.Module{ID: c.ID, Name: c.Name, Parent: m.ID})
		addModules(g, c)
	}
}

func nodeKind(kind string) graph.NodeKind {
	switch kind {
	case fxopts.KindSupply:
		return graph.KindSupply
	case fxopts.KindDecorate:
		return graph.KindDecorator
	case fxopts.KindReplace:
		return graph.KindReplace
	case fxopts.KindInvoke:
		return graph.KindInvoke
	}
	return graph.KindConstructor
}

// addEdges links every input to what provides it, as seen from the
// consumer's module; inputs nothing provides get a missing (or, when
// optional, an absent) node.
func (p *planner) addEdges(g *graph.Graph) {
	special := map[string]string{} // kind + key → node ID
	node := func(kind graph.NodeKind, key string, status graph.Status) string {
		k := string(kind) + "\x00" + key
		if special[k] == "" {
			special[k] = addSpecialNode(g, kind, key, status)
		}
		return special[k]
	}
	for _, it := range p.all {
		for _, in := range it.in {
			key := in.Key()
			edge := graph.Edge{To: it.id, Key: key, Optional: in.Optional, Group: in.Group != ""}
			var from []string
			if dec := p.decoratorFor(it.Module, key); dec != nil && dec != it {
				from = []string{dec.id}
			} else if fxBuiltins[key] {
				from = []string{node(graph.KindBuiltin, key, graph.StatusOK)}
			} else {
				for _, prov := range p.lookup(it.Module, key, in.Group != "") {
					from = append(from, prov.id)
				}
			}
			if len(from) == 0 && in.Group == "" {
				if in.Optional {
					from = []string{node(graph.KindAbsent, key, graph.StatusAbsent)}
				} else {
					from = []string{node(graph.KindMissing, key, graph.StatusMissing)}
				}
			}
			for _, f := range from {
				e := edge
				e.From = f
				g.Edges = append(g.Edges, e)
			}
		}
	}
}

func addSpecialNode(g *graph.Graph, kind graph.NodeKind, key string, status graph.Status) string {
	id := fmt.Sprintf("n%d", len(g.Nodes))
	g.Nodes = append(g.Nodes, graph.Node{
		ID: id, Kind: kind, Name: key, Func: key, Status: status, Order: -1,
		Outputs: []graph.Port{{Type: key}},
	})
	return id
}

// addGroups lists every value group with its members and consumers, a
// consumed group with no members included.
func (p *planner) addGroups(g *graph.Graph) {
	byKey := map[string]*graph.Group{}
	var keys []string
	group := func(key string) *graph.Group {
		grp := byKey[key]
		if grp == nil {
			typ, name, _ := strings.Cut(strings.TrimSuffix(key, "]"), "[group=")
			grp = &graph.Group{Name: name, Type: typ, Members: []string{}}
			byKey[key] = grp
			keys = append(keys, key)
		}
		return grp
	}
	for _, it := range p.all {
		for _, in := range it.in {
			if in.Group != "" {
				grp := group(in.Key())
				grp.Consumers = appendOnce(grp.Consumers, it.id)
			}
		}
	}
	for _, e := range g.Edges {
		if e.Group {
			grp := group(e.Key)
			grp.Members = appendOnce(grp.Members, e.From)
		}
	}
	for _, k := range keys {
		g.Groups = append(g.Groups, *byKey[k])
	}
}

func appendOnce(list []string, id string) []string {
	for _, x := range list {
		if x == id {
			return list
		}
	}
	return append(list, id)
}

// markMissing adds a problem for every missing type a function that would
// run needs; missing inputs of functions that never run are drawn, as fx
// never notices them.
func (p *planner) markMissing(g *graph.Graph) {
	for _, m := range p.missing {
		var missingID string
		for _, n := range g.Nodes {
			if n.Kind == graph.KindMissing && n.Name == m.Key {
				missingID = n.ID
			}
		}
		g.Problems = append(g.Problems, graph.Problem{
			Kind:    graph.ProblemMissing,
			Message: fmt.Sprintf("missing type %s, needed by %s", m.Key, m.Chain[0].Func),
			Nodes:   []string{missingID, m.Chain[0].Node},
		})
	}
}

// markCycles marks the nodes and edges of every cycle found.
func (p *planner) markCycles(g *graph.Graph) {
	for _, c := range p.cycles {
		ids := make([]string, 0, len(c.Steps)+1)
		for _, s := range c.Steps {
			ids = append(ids, s.Node)
			g.Node(s.Node).Status = graph.StatusCycle
		}
		ids = append(ids, c.Steps[0].Node)
		// Each step needs the next.
		for i := 0; i+1 < len(ids); i++ {
			for j := range g.Edges {
				if g.Edges[j].To == ids[i] && g.Edges[j].From == ids[i+1] {
					g.Edges[j].Cycle = true
				}
			}
		}
		g.Problems = append(g.Problems, graph.Problem{
			Kind:    graph.ProblemCycle,
			Message: "dependency cycle: " + c.String(),
			Nodes:   ids,
		})
	}
}

// String says the cycle in words: each function, what it needs from the
// next (a value group by name), back to the first.
func (c Cycle) String() string {
	var b strings.Builder
	for i, s := range c.Steps {
		if i > 0 {
			b.WriteString(", which ")
		}
		b.WriteString(s.Func)
		b.WriteString(" needs ")
		if s.Group {
			_, group, _ := strings.Cut(strings.TrimSuffix(s.Needs, "]"), "[group=")
			fmt.Fprintf(&b, "the value group %q", group)
		} else {
			b.WriteString(s.Needs)
		}
		next := c.Steps[(i+1)%len(c.Steps)]
		if s.Group {
			fmt.Fprintf(&b, " (%s is a member)", next.Func)
		} else {
			fmt.Fprintf(&b, " from %s", next.Func)
		}
	}
	return b.String()
}

// markNeedsMissing marks every node that needs a missing node, directly or
// through others.
func markNeedsMissing(g *graph.Graph) {
	var queue []string
	for _, n := range g.Nodes {
		if n.Kind == graph.KindMissing {
			queue = append(queue, n.ID)
		}
	}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, e := range g.Edges {
			if e.From != id || e.Optional {
				continue
			}
			if n := g.Node(e.To); n.Status != graph.StatusNeedsMissed && n.Kind != graph.KindMissing {
				n.Status = graph.StatusNeedsMissed
				queue = append(queue, n.ID)
			}
		}
	}
}
