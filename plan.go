package bootgraph

import (
	"fmt"
	"strings"

	"go.uber.org/fx"

	"github.com/bootgraph/bootgraph/graph"
)

// Plan draws the composition opts describe — modules, constructors,
// decorators, invokes, supplied values, value groups, lifecycle hooks, and
// the order in which fx would run them — without running any of it: no
// constructor is called, no key generated, no port bound. It works on any fx
// composition. Missing types and dependency cycles are part of the returned
// graph (as problems and marked nodes), not errors; the error is for option
// values the planner cannot read.
func Plan(opts ...fx.Option) (g *graph.Graph, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bootgraph: plan: %v", r)
		}
	}()
	p := newPlanner()
	if err := walkOptions(p.root, opts); err != nil {
		return nil, fmt.Errorf("bootgraph: plan: %w", err)
	}
	p.index(p.root)
	p.invokeAll(p.root)
	return p.graph(), nil
}

// planner simulates dig's resolution over the registrations.
type planner struct {
	root *planModule
	ids  map[*planItem]string
	all  []*planItem // every registration, in option order

	// scopes: per module, the providers and decorators registered there.
	// Exported providers live in the root scope, as dig.Export puts them.
	providers  map[*planModule]map[string][]*planItem
	decorators map[*planModule]map[string]*planItem

	state    map[*planItem]int // 0 unvisited, 1 building, 2 done
	stack    []*planItem
	decDone  map[*planItem]bool
	order    []*planItem
	cycles   [][]*planItem
	builtins map[string]bool
}

var fxBuiltins = map[string]bool{"fx.Lifecycle": true, "fx.Shutdowner": true, "fx.DotGraph": true}

func newPlanner() *planner {
	return &planner{
		root:       &planModule{},
		ids:        map[*planItem]string{},
		providers:  map[*planModule]map[string][]*planItem{},
		decorators: map[*planModule]map[string]*planItem{},
		state:      map[*planItem]int{},
		decDone:    map[*planItem]bool{},
		builtins:   map[string]bool{},
	}
}

// index assigns IDs in option order and registers providers in fx's
// provideAll order: a module's own, then its children's, depth first.
func (p *planner) index(m *planModule) {
	for _, it := range m.items {
		it.in, it.out = it.computeInputs(), it.computeOutputs()
		p.ids[it] = fmt.Sprintf("n%d", len(p.all))
		p.all = append(p.all, it)
		switch it.kind {
		case "provide", "supply":
			scope := p.root
			if it.private {
				scope = m
			}
			for _, out := range it.out {
				p.addProvider(scope, out.Key(), it)
			}
		case "decorate", "replace":
			for _, out := range it.out {
				if p.decorators[m] == nil {
					p.decorators[m] = map[string]*planItem{}
				}
				p.decorators[m][out.Key()] = it
			}
		}
	}
	for _, c := range m.children {
		p.index(c)
	}
}

func (p *planner) addProvider(scope *planModule, key string, it *planItem) {
	if p.providers[scope] == nil {
		p.providers[scope] = map[string][]*planItem{}
	}
	p.providers[scope][key] = append(p.providers[scope][key], it)
}

// chain is the scopes a consumer in m sees, nearest first, as dig's
// storesToRoot.
func (p *planner) chain(m *planModule) []*planModule {
	var out []*planModule
	for s := m; s != nil; s = s.parent {
		out = append(out, s)
	}
	return out
}

// lookup returns the providers of key visible from m: all of them for a
// group, else the nearest one.
func (p *planner) lookup(m *planModule, key string, group bool) []*planItem {
	var out []*planItem
	for _, s := range p.chain(m) {
		found := p.providers[s][key]
		if !group && len(found) > 0 {
			return found[:1]
		}
		out = append(out, found...)
	}
	return out
}

// decoratorFor returns the nearest decorator of key visible from m.
func (p *planner) decoratorFor(m *planModule, key string) *planItem {
	for _, s := range p.chain(m) {
		if d := p.decorators[s][key]; d != nil {
			return d
		}
	}
	return nil
}

// invokeAll runs invokes as fx does: children's first, depth first.
func (p *planner) invokeAll(m *planModule) {
	for _, c := range m.children {
		p.invokeAll(c)
	}
	for _, it := range m.items {
		if it.kind == "invoke" {
			p.call(it)
		}
	}
}

// call builds it's inputs, then records it as run.
func (p *planner) call(it *planItem) {
	switch p.state[it] {
	case 2:
		return
	case 1:
		p.recordCycle(it)
		return
	}
	p.state[it] = 1
	p.stack = append(p.stack, it)
	for _, in := range it.in {
		p.build(it, in)
	}
	p.stack = p.stack[:len(p.stack)-1]
	p.state[it] = 2
	p.order = append(p.order, it)
}

// build makes the value of port in for consumer: its providers first, then
// the decorator of its key, if any.
func (p *planner) build(consumer *planItem, in graph.Port) {
	key := in.Key()
	if fxBuiltins[key] {
		p.builtins[key] = true
	}
	var dec *planItem
	if consumer.kind != "decorate" && consumer.kind != "replace" {
		dec = p.decoratorFor(consumer.module, key)
	}
	if dec != nil && dec.kind == "replace" {
		p.call(dec) // a replacement needs no original value
		return
	}
	if !in.Soft {
		for _, prov := range p.lookup(consumer.module, key, in.Group != "") {
			p.call(prov)
		}
	}
	if dec != nil && !p.decDone[dec] {
		p.decDone[dec] = true
		p.call(dec)
	}
}

func (p *planner) recordCycle(it *planItem) {
	for i, s := range p.stack {
		if s == it {
			p.cycles = append(p.cycles, append(append([]*planItem{}, p.stack[i:]...), it))
			return
		}
	}
}

// isHookRegistrar reports whether it can append lifecycle hooks: it takes
// the Lifecycle (and is not a decorator of the Lifecycle itself) or carries
// fx.OnStart/OnStop annotations.
func isHookRegistrar(it *planItem) bool {
	if it.ann != nil && it.ann.hooks > 0 {
		return true
	}
	return takes(it.in, lifecycleType) && !takes(it.out, lifecycleType)
}

// graph turns the simulation into a graph.
func (p *planner) graph() *graph.Graph {
	g := &graph.Graph{Schema: graph.Schema, Modules: []graph.Module{}, Nodes: []graph.Node{}, Edges: []graph.Edge{}}
	p.addModules(g, p.root)
	orderOf := map[*planItem]int{}
	for i, it := range p.order {
		orderOf[it] = i
	}
	for _, it := range p.all {
		n := graph.Node{
			ID: p.ids[it], Kind: nodeKind(it.kind), Name: it.label, Func: it.fullName, Key: it.eventKey,
			Module: it.module.id, Location: it.location, Private: it.private,
			Inputs: it.in, Outputs: it.out, Status: graph.StatusOK, Order: -1,
		}
		if o, ok := orderOf[it]; ok {
			n.Order = o
		} else if it.kind != "invoke" && it.kind != "logger" {
			n.Status = graph.StatusUnused
		}
		g.Nodes = append(g.Nodes, n)
	}
	p.addEdges(g)
	p.addGroups(g)
	p.markCycles(g)
	markNeedsMissing(g)
	for _, it := range p.order {
		if isHookRegistrar(it) {
			g.Hooks = append(g.Hooks, graph.Hook{Index: len(g.Hooks), Node: p.ids[it], Name: it.label, StartIndex: -1, StopIndex: -1})
		}
	}
	return g
}

func (p *planner) addModules(g *graph.Graph, m *planModule) {
	for _, c := range m.children {
		g.Modules = append(g.Modules, graph.Module{ID: c.id, Name: c.name, Parent: m.id})
		p.addModules(g, c)
	}
}

func nodeKind(kind string) graph.NodeKind {
	return map[string]graph.NodeKind{
		"provide": graph.KindConstructor, "logger": graph.KindConstructor, "supply": graph.KindSupply, "decorate": graph.KindDecorator,
		"replace": graph.KindReplace, "invoke": graph.KindInvoke,
	}[kind]
}

// addEdges links every input to what provides it, as seen from the
// consumer's module; inputs nothing provides get a missing node.
func (p *planner) addEdges(g *graph.Graph) {
	missing := map[string]string{}
	absent := map[string]string{}
	builtin := map[string]string{}
	for _, it := range p.all {
		for _, in := range it.in {
			key := in.Key()
			edge := graph.Edge{To: p.ids[it], Key: key, Optional: in.Optional, Group: in.Group != ""}
			var from []string
			if dec := p.decoratorFor(it.module, key); dec != nil && dec != it {
				from = []string{p.ids[dec]}
			} else if fxBuiltins[key] {
				if builtin[key] == "" {
					builtin[key] = p.addSpecialNode(g, graph.KindBuiltin, key, graph.StatusOK)
				}
				from = []string{builtin[key]}
			} else {
				for _, prov := range p.lookup(it.module, key, in.Group != "") {
					from = append(from, p.ids[prov])
				}
			}
			if len(from) == 0 && in.Group == "" && in.Optional {
				if absent[key] == "" {
					absent[key] = p.addSpecialNode(g, graph.KindAbsent, key, graph.StatusAbsent)
				}
				from = []string{absent[key]}
			}
			if len(from) == 0 && in.Group == "" && !in.Optional {
				if missing[key] == "" {
					missing[key] = p.addSpecialNode(g, graph.KindMissing, key, graph.StatusMissing)
				}
				from = []string{missing[key]}
				g.Problems = append(g.Problems, graph.Problem{
					Kind:    graph.ProblemMissing,
					Message: fmt.Sprintf("missing type %s, needed by %s", key, it.label),
					Nodes:   []string{missing[key], p.ids[it]},
				})
			}
			for _, f := range from {
				e := edge
				e.From = f
				g.Edges = append(g.Edges, e)
			}
		}
	}
}

func (p *planner) addSpecialNode(g *graph.Graph, kind graph.NodeKind, key string, status graph.Status) string {
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
				grp.Consumers = appendOnce(grp.Consumers, p.ids[it])
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

// markCycles marks the nodes and edges of every cycle found.
func (p *planner) markCycles(g *graph.Graph) {
	for _, cyc := range p.cycles {
		var ids, names []string
		for _, it := range cyc {
			ids = append(ids, p.ids[it])
			names = append(names, it.label)
			g.Node(p.ids[it]).Status = graph.StatusCycle
		}
		// cyc is a consumer chain a → b → ... → a: each needs the next.
		for i := 0; i+1 < len(ids); i++ {
			for j := range g.Edges {
				if g.Edges[j].To == ids[i] && g.Edges[j].From == ids[i+1] {
					g.Edges[j].Cycle = true
				}
			}
		}
		g.Problems = append(g.Problems, graph.Problem{
			Kind:    graph.ProblemCycle,
			Message: "dependency cycle: " + strings.Join(names, " needs "),
			Nodes:   ids,
		})
	}
}

// markNeedsMissing marks every node that needs a missing node, directly or
// through others.
func markNeedsMissing(g *graph.Graph) {
	queue := []string{}
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
