package fxplan

import (
	"fmt"
	"reflect"
	"strings"

	"go.uber.org/fx"

	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/internal/fxopts"
)

// Plan draws the composition opts describe: modules, constructors,
// decorators, invokes, supplied values, value groups, lifecycle hooks, and
// the order in which fx would run them, without running any of it: no
// constructor is called, no key generated, no port bound. Missing types,
// dependency cycles, errors the options carry and options the planner does
// not understand are part of the returned graph (as problems and marked
// nodes), not errors.
func Plan(opts ...fx.Option) *graph.Graph { return Analyze(opts...).Graph }

// Analysis is a plan with its problems as findings a program can act on,
// such as an engine that explains a composition error.
type Analysis struct {
	// Graph is the plan, problems included.
	Graph *graph.Graph
	// Missing are the types some function that would run needs and
	// nothing provides.
	Missing []Missing
	// Cycles are dependency cycles among functions that would run.
	Cycles []Cycle
	// Errors are errors the options carry (fx.Error, a failed
	// fx.Annotate): fx fails with them before running anything.
	Errors []error
	// Unknown says, per option the planner could not read, what it is.
	Unknown []string
}

// OK reports whether fx would build the composition: nothing missing, no
// cycle, no error. It is not sure when Unknown is not empty.
func (a *Analysis) OK() bool { return len(a.Missing) == 0 && len(a.Cycles) == 0 && len(a.Errors) == 0 }

// Missing is a type that a function needs and nothing provides.
type Missing struct {
	// Type is the Go type, nil when the planner does not know it.
	Type reflect.Type
	// Key is dig's key: the type, with its name if any.
	Key string
	// Chain is who needs it: Chain[0] takes it, and each step was being
	// built for the one after it, up to the invoke that started it.
	Chain []Step
}

// Cycle is a dependency cycle: each step needs the next one's output
// (Needs), and the last needs the first.
type Cycle struct {
	Steps []Step
}

// Step is one function in a chain of needs.
type Step struct {
	// Node is the function's node ID in the graph.
	Node string
	// Func is its short name, e.g. "servingcert.provideIstiod".
	Func string
	// Module is the ID of the module it is in ("" at the top).
	Module string
	// Kind is the registration kind: provide, decorate, invoke, ...
	Kind string
	// Builds is the key of the value it was being built for, "" for an
	// invoke; in a Cycle, Needs is the key it takes from the next step.
	Builds, Needs string
	// Group is set when Needs is a value group.
	Group bool
}

// Analyze plans opts and returns the findings with the graph.
func Analyze(opts ...fx.Option) *Analysis {
	root, problems := fxopts.Read(opts)
	p := newPlanner(root)
	p.index(root)
	p.invokeAll(root)
	g := p.graph()
	a := &Analysis{Graph: g, Missing: p.missing, Cycles: p.cycles}
	for _, pr := range problems {
		switch pr.Kind {
		case fxopts.ProblemError:
			a.Errors = append(a.Errors, pr.Err)
			g.Problems = append(g.Problems, graph.Problem{Kind: graph.ProblemError, Message: pr.Message, Nodes: []string{}})
		default:
			a.Unknown = append(a.Unknown, pr.Message)
			g.Problems = append(g.Problems, graph.Problem{Kind: graph.ProblemUnknown, Message: pr.Message, Nodes: []string{}})
		}
	}
	return a
}

// item is a registration with its ports.
type item struct {
	*fxopts.Item
	in, out []port
	id      string
}

// frame is an item being built, and the key it is built for.
type frame struct {
	it  *item
	key string
}

// planner simulates dig's resolution over the registrations.
type planner struct {
	items map[*fxopts.Item]*item
	all   []*item // every registration, in option order

	// scopes: per module, the providers and decorators registered there.
	// Exported providers live in the root scope, as dig.Export puts them.
	root       *fxopts.Module
	providers  map[*fxopts.Module]map[string][]*item
	decorators map[*fxopts.Module]map[string]*item

	state   map[*item]int // 0 unvisited, 1 building, 2 done
	stack   []frame
	decDone map[*item]bool
	order   []*item
	missing []Missing
	cycles  []Cycle
}

var fxBuiltins = map[string]bool{"fx.Lifecycle": true, "fx.Shutdowner": true, "fx.DotGraph": true}

func newPlanner(root *fxopts.Module) *planner {
	return &planner{
		root:       root,
		items:      map[*fxopts.Item]*item{},
		providers:  map[*fxopts.Module]map[string][]*item{},
		decorators: map[*fxopts.Module]map[string]*item{},
		state:      map[*item]int{},
		decDone:    map[*item]bool{},
	}
}

// index assigns IDs in option order and registers providers in fx's
// provideAll order: a module's own, then its children's, depth first.
func (p *planner) index(m *fxopts.Module) {
	for _, reg := range m.Items {
		it := &item{Item: reg, in: inputs(reg), out: outputs(reg), id: fmt.Sprintf("n%d", len(p.all))}
		p.items[reg] = it
		p.all = append(p.all, it)
		switch it.Kind {
		case fxopts.KindProvide, fxopts.KindSupply:
			scope := p.root
			if it.Private {
				scope = m
			}
			for _, out := range it.out {
				p.addProvider(scope, out.Key(), it)
			}
		case fxopts.KindDecorate, fxopts.KindReplace:
			for _, out := range it.out {
				if p.decorators[m] == nil {
					p.decorators[m] = map[string]*item{}
				}
				p.decorators[m][out.Key()] = it
			}
		}
	}
	for _, c := range m.Children {
		p.index(c)
	}
}

func (p *planner) addProvider(scope *fxopts.Module, key string, it *item) {
	if p.providers[scope] == nil {
		p.providers[scope] = map[string][]*item{}
	}
	p.providers[scope][key] = append(p.providers[scope][key], it)
}

// lookup returns the providers of key visible from m, nearest scope first
// as dig's storesToRoot: all of them for a group, else the nearest one.
func (p *planner) lookup(m *fxopts.Module, key string, group bool) []*item {
	var out []*item
	for s := m; s != nil; s = s.Parent {
		found := p.providers[s][key]
		if !group && len(found) > 0 {
			return found[:1]
		}
		out = append(out, found...)
	}
	return out
}

// decoratorFor returns the nearest decorator of key visible from m.
func (p *planner) decoratorFor(m *fxopts.Module, key string) *item {
	for s := m; s != nil; s = s.Parent {
		if d := p.decorators[s][key]; d != nil {
			return d
		}
	}
	return nil
}

// invokeAll runs invokes as fx does: children's first, depth first.
func (p *planner) invokeAll(m *fxopts.Module) {
	for _, c := range m.Children {
		p.invokeAll(c)
	}
	for _, reg := range m.Items {
		if reg.Kind == fxopts.KindInvoke {
			p.call(p.items[reg], "")
		}
	}
}

// call builds it's inputs, then records it as run; key is what it is
// being built for.
func (p *planner) call(it *item, key string) {
	switch p.state[it] {
	case 2:
		return
	case 1:
		p.recordCycle(it, key)
		return
	}
	p.state[it] = 1
	p.stack = append(p.stack, frame{it, key})
	for _, in := range it.in {
		p.build(it, in)
	}
	p.stack = p.stack[:len(p.stack)-1]
	p.state[it] = 2
	p.order = append(p.order, it)
}

// build makes the value of port in for consumer as dig does: a decorator
// of its key, when there is one, builds it (from the providers it takes
// itself, none for a replacement); otherwise its providers do. A required
// key with neither a provider nor an already decorated value is missing.
func (p *planner) build(consumer *item, in port) {
	key := in.Key()
	var dec *item
	if consumer.Kind != fxopts.KindDecorate && consumer.Kind != fxopts.KindReplace {
		dec = p.decoratorFor(consumer.Module, key)
	}
	var provs []*item
	if !in.Soft { // a soft group takes only what other functions built already
		provs = p.lookup(consumer.Module, key, in.Group != "")
	}
	if in.Group != "" {
		for _, prov := range provs {
			p.call(prov, key)
		}
		p.decorate(dec, key)
		return
	}
	decorated := dec != nil && p.decDone[dec]
	if len(provs) == 0 && !in.Optional && !fxBuiltins[key] && !decorated {
		p.recordMissing(in)
		return
	}
	if dec != nil {
		p.decorate(dec, key)
		return
	}
	for _, prov := range provs {
		p.call(prov, key)
	}
}

// decorate runs dec, once.
func (p *planner) decorate(dec *item, key string) {
	if dec != nil && !p.decDone[dec] {
		p.decDone[dec] = true
		p.call(dec, key)
	}
}

// recordMissing notes that the top of the stack needs in, which nothing
// provides, with the chain of what needs it.
func (p *planner) recordMissing(in port) {
	m := Missing{Type: in.typ, Key: in.Key()}
	for i := len(p.stack) - 1; i >= 0; i-- {
		m.Chain = append(m.Chain, p.step(p.stack[i].it, p.stack[i].key))
	}
	p.missing = append(p.missing, m)
}

// recordCycle notes the cycle that calling it (for key) closes.
func (p *planner) recordCycle(it *item, key string) {
	for i, f := range p.stack {
		if f.it != it {
			continue
		}
		var c Cycle
		for j := i; j < len(p.stack); j++ {
			needs := key
			if j+1 < len(p.stack) {
				needs = p.stack[j+1].key
			}
			s := p.step(p.stack[j].it, p.stack[j].key)
			s.Needs, s.Group = needs, strings.Contains(needs, "[group=")
			c.Steps = append(c.Steps, s)
		}
		p.cycles = append(p.cycles, c)
		return
	}
}

func (p *planner) step(it *item, builds string) Step {
	return Step{Node: it.id, Func: it.Label, Module: it.Module.ID, Kind: it.Kind, Builds: builds}
}
