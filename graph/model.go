package graph

import (
	"fmt"
	"strings"
)

// Schema is the version of the JSON form of a Graph.
const Schema = "bootgraph.dev/graph/v1"

// Graph is a composition: its modules, functions, edges, groups and hooks.
type Graph struct {
	Schema  string   `json:"schema"`
	Modules []Module `json:"modules"`
	Nodes   []Node   `json:"nodes"`
	Edges   []Edge   `json:"edges"`
	Groups  []Group  `json:"groups,omitempty"`
	Hooks   []Hook   `json:"hooks,omitempty"`
	// Problems are composition errors: missing types and cycles.
	Problems []Problem `json:"problems,omitempty"`
	// Run is what a real start recorded; nil when the graph was only planned.
	Run *Run `json:"run,omitempty"`
}

// Module is an fx.Module; the root module has ID "" and is not listed.
type Module struct {
	ID     string `json:"id"`     // path of names from the root, e.g. "ca" or "outer/inner"
	Name   string `json:"name"`   // the fx.Module name
	Parent string `json:"parent"` // the enclosing module's ID, "" at the top
}

// NodeKind says what registered a node.
type NodeKind string

// Node kinds.
const (
	KindConstructor NodeKind = "constructor" // fx.Provide
	KindDecorator   NodeKind = "decorator"   // fx.Decorate
	KindInvoke      NodeKind = "invoke"      // fx.Invoke (fx.Populate too)
	KindSupply      NodeKind = "supply"      // fx.Supply
	KindReplace     NodeKind = "replace"     // fx.Replace
	KindMissing     NodeKind = "missing"     // a type that nothing provides
	KindAbsent      NodeKind = "absent"      // an optional type that nothing provides
	KindBuiltin     NodeKind = "builtin"     // provided by fx itself: Lifecycle, Shutdowner, DotGraph
)

// Status of a node in the composition.
type Status string

// Node statuses.
const (
	StatusOK          Status = "ok"
	StatusUnused      Status = "unused"  // no invoke reaches it: fx never runs it
	StatusMissing     Status = "missing" // a KindMissing node
	StatusAbsent      Status = "absent"  // a KindAbsent node: fine, the input is optional
	StatusNeedsMissed Status = "needs-missing"
	StatusCycle       Status = "cycle"  // part of a dependency cycle
	StatusFailed      Status = "failed" // returned an error when it ran
)

// Node is one function (or value) of the composition.
type Node struct {
	ID   string   `json:"id"` // stable within one graph: "n0", "n1", ...
	Kind NodeKind `json:"kind"`
	Name string   `json:"name"` // short: "ca.provideCA"
	Func string   `json:"func"` // full: "github.com/bootgraph/bootgraph/modules/ca.provideCA"
	// Key is fx's own name for it in its events and logs, e.g.
	// "github.com/bootgraph/bootgraph/modules/ca.provideCA()" or "stub(ca.Options)".
	Key    string `json:"key,omitempty"`
	Module string `json:"module"`
	// Location is where it was registered, "file:line", when known.
	Location string `json:"location,omitempty"`
	Private  bool   `json:"private,omitempty"`
	Inputs   []Port `json:"inputs,omitempty"`
	Outputs  []Port `json:"outputs,omitempty"`
	Status   Status `json:"status"`
	// Order is the predicted position among the functions that run when
	// the composition is built (0 first); -1 when it never runs.
	Order int `json:"order"`
	// Runtime is what a real build measured, in nanoseconds (the
	// function's own time, excluding its dependencies).
	RuntimeNs int64  `json:"runtimeNs,omitempty"`
	Ran       bool   `json:"ran,omitempty"`
	Error     string `json:"error,omitempty"`
	// Infra marks infrastructure every plane has (the logger, the
	// lifecycle, metrics registries, the engine's own decorators and
	// supplies, fx's builtins): pages hide it until asked. See MarkInfra.
	Infra bool `json:"infra,omitempty"`
}

// Port is a type a node takes or provides, with its dig qualifiers.
type Port struct {
	Type     string `json:"type"` // e.g. "*ca.CA", "plane.Listener"
	Name     string `json:"name,omitempty"`
	Group    string `json:"group,omitempty"`
	Optional bool   `json:"optional,omitempty"`
	// Soft marks a soft group input; Flatten a flattened group output.
	Soft    bool `json:"soft,omitempty"`
	Flatten bool `json:"flatten,omitempty"`
}

// Key identifies what a port matches: the type and its name or group, as
// dig writes it ("*ca.CA", "plane.Listener[group=bootgraph.listeners]").
func (p Port) Key() string {
	switch {
	case p.Group != "":
		return p.Type + "[group=" + p.Group + "]"
	case p.Name != "":
		return p.Type + "[name=" + p.Name + "]"
	default:
		return p.Type
	}
}

// Edge says that From provides what To takes. Direction is the data flow;
// To needs From.
type Edge struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Key      string `json:"key"` // the Port.Key carried
	Optional bool   `json:"optional,omitempty"`
	Group    bool   `json:"group,omitempty"`
	Cycle    bool   `json:"cycle,omitempty"` // part of a dependency cycle
	// Infra marks an edge that carries infrastructure (a logger, the
	// lifecycle, a metrics registry) or ends at an infrastructure node.
	Infra bool `json:"infra,omitempty"`
}

// Group is a value group, its members and its consumers.
type Group struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Members   []string `json:"members"`   // node IDs that provide into it
	Consumers []string `json:"consumers"` // node IDs that take it
}

// Hook is a lifecycle hook in start order.
type Hook struct {
	// Index is the hook's position in the predicted start order.
	Index int `json:"index"`
	// Node registers the hook (the constructor or invoke that appends it).
	Node string `json:"node"`
	// Name is the registering function.
	Name string `json:"name"`
	// Observed fields come from a real start; StartIndex and StopIndex
	// are -1 when the hook did not run.
	StartIndex int    `json:"startIndex"`
	StopIndex  int    `json:"stopIndex"`
	StartNs    int64  `json:"startNs,omitempty"`
	StopNs     int64  `json:"stopNs,omitempty"`
	Error      string `json:"error,omitempty"`
}

// ProblemKind is a kind of composition error.
type ProblemKind string

// Problem kinds.
const (
	ProblemMissing ProblemKind = "missing"
	ProblemCycle   ProblemKind = "cycle"
	// ProblemError is an error the composition carries (fx.Error, an
	// fx.Annotate that failed): fx fails with it before running anything.
	ProblemError ProblemKind = "error"
	// ProblemUnknown is an fx option the planner could not read: what it
	// registers is not drawn.
	ProblemUnknown ProblemKind = "unknown-option"
)

// Problem is a composition error, drawn on the graph and said in words.
type Problem struct {
	Kind    ProblemKind `json:"kind"`
	Message string      `json:"message"`
	Nodes   []string    `json:"nodes"` // the missing node and its consumer, or the cycle in order
}

// Run is what a real start recorded.
type Run struct {
	BuildNs int64  `json:"buildNs"` // building the graph: every constructor
	StartNs int64  `json:"startNs"` // every OnStart hook
	StopNs  int64  `json:"stopNs,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Clone returns a deep copy of g, for a caller that changes it.
func (g *Graph) Clone() *Graph {
	c := *g
	c.Modules = append([]Module{}, g.Modules...)
	c.Nodes = make([]Node, len(g.Nodes))
	for i, n := range g.Nodes {
		n.Inputs = append([]Port(nil), n.Inputs...)
		n.Outputs = append([]Port(nil), n.Outputs...)
		c.Nodes[i] = n
	}
	c.Edges = append([]Edge{}, g.Edges...)
	c.Groups = make([]Group, len(g.Groups))
	for i, grp := range g.Groups {
		grp.Members = append([]string{}, grp.Members...)
		grp.Consumers = append([]string(nil), grp.Consumers...)
		c.Groups[i] = grp
	}
	c.Hooks = append([]Hook(nil), g.Hooks...)
	c.Problems = make([]Problem, len(g.Problems))
	for i, pr := range g.Problems {
		pr.Nodes = append([]string{}, pr.Nodes...)
		c.Problems[i] = pr
	}
	if g.Problems == nil {
		c.Problems = nil
	}
	if g.Run != nil {
		run := *g.Run
		c.Run = &run
	}
	return &c
}

// Node returns the node with id, or nil.
func (g *Graph) Node(id string) *Node {
	for i := range g.Nodes {
		if g.Nodes[i].ID == id {
			return &g.Nodes[i]
		}
	}
	return nil
}

// ShortName turns a full function name into "pkg.Func", keeping receiver
// and closure suffixes: "github.com/x/y/modules/ca.provideCA" → "ca.provideCA".
func ShortName(full string) string {
	full = strings.TrimSuffix(full, "()")
	slash := strings.LastIndex(full, "/")
	return full[slash+1:]
}

// String summarises the graph for logs and test failures.
func (g *Graph) String() string {
	return fmt.Sprintf("graph{%d modules, %d nodes, %d edges, %d hooks, %d problems}",
		len(g.Modules), len(g.Nodes), len(g.Edges), len(g.Hooks), len(g.Problems))
}

// Source gives a graph on demand, e.g. a running plane's, with the
// timings of its start.
type Source interface {
	Graph() (*Graph, error)
}
