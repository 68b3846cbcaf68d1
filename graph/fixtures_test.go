package graph

// Hand-built graphs shared by the tests. Node IDs are referred to by the
// browser tests: keep them stable.

// planeGraph is a small plane: modules ca, dnscert, grpc and grpc/health,
// two value groups, three hooks and a Run with timings.
//
//	n1 config ─► n3 ca.provideCA ─► n4 ca.provideService ═(grpc.services)═► n7 grpc.provideServer ═(listeners)═► n8 ca.registerRun
//	n2 logger ┄┘         │                                  n6 health ═════╝        ▲
//	                     └─► n5 dnscert.provideIstiod ─► ───────────────────────────┘
func planeGraph() *Graph {
	const bg = "github.com/bootgraph/bootgraph/"
	lc := Port{Type: "fx.Lifecycle"}
	cfg := Port{Type: "*bootgraph.Config"}
	caT := Port{Type: "*ca.CA"}
	svc := Port{Type: "grpc.Service", Group: "grpc.services"}
	lis := Port{Type: "plane.Listener", Group: "bootgraph.listeners"}
	bundle := Port{Type: "*dnscert.Bundle"}
	ms := int64(1e6)
	return &Graph{
		Schema: Schema,
		Modules: []Module{
			{ID: "ca", Name: "ca"},
			{ID: "dnscert", Name: "dnscert"},
			{ID: "grpc", Name: "grpc"},
			{ID: "grpc/health", Name: "health", Parent: "grpc"},
		},
		Nodes: []Node{
			{ID: "n0", Kind: KindBuiltin, Name: "fx.Lifecycle", Func: "go.uber.org/fx.Lifecycle", Outputs: []Port{lc}, Status: StatusOK, Order: -1, Infra: true},
			{ID: "n1", Kind: KindSupply, Name: "bootgraph.Config", Func: bg + "bootgraph.Config", Location: "plane.go:40", Outputs: []Port{cfg}, Status: StatusOK, Order: 0, Ran: true, RuntimeNs: 1500},
			{ID: "n2", Kind: KindSupply, Name: "zap.Logger", Func: "go.uber.org/zap.Logger", Location: "plane.go:41", Outputs: []Port{{Type: "*zap.Logger"}}, Status: StatusOK, Order: 1, Ran: true, RuntimeNs: 900, Infra: true},
			{ID: "n3", Kind: KindConstructor, Name: "ca.provideCA", Func: bg + "modules/ca.provideCA", Module: "ca", Location: "modules/ca/module.go:31",
				Inputs: []Port{cfg, {Type: "*zap.Logger", Optional: true}}, Outputs: []Port{caT}, Status: StatusOK, Order: 2, Ran: true, RuntimeNs: 6 * ms},
			{ID: "n4", Kind: KindConstructor, Name: "ca.provideService", Func: bg + "modules/ca.provideService", Module: "ca", Location: "modules/ca/module.go:32",
				Inputs: []Port{caT}, Outputs: []Port{svc}, Status: StatusOK, Order: 4, Ran: true, RuntimeNs: 200_000},
			{ID: "n5", Kind: KindConstructor, Name: "dnscert.provideIstiod", Func: bg + "modules/dnscert.provideIstiod", Module: "dnscert", Location: "modules/dnscert/module.go:20",
				Inputs: []Port{caT, lc}, Outputs: []Port{bundle}, Status: StatusOK, Order: 3, Ran: true, RuntimeNs: 3 * ms},
			{ID: "n6", Kind: KindConstructor, Name: "health.provide", Func: bg + "modules/grpc/health.provide", Module: "grpc/health",
				Outputs: []Port{svc}, Status: StatusOK, Order: 5, Ran: true, RuntimeNs: 50_000},
			{ID: "n7", Kind: KindConstructor, Name: "grpc.provideServer", Func: bg + "modules/grpc.provideServer", Module: "grpc", Location: "modules/grpc/module.go:25",
				Inputs: []Port{bundle, {Type: "[]grpc.Service", Group: "grpc.services"}, lc}, Outputs: []Port{{Type: "*grpc.Server"}, lis}, Status: StatusOK, Order: 6, Ran: true, RuntimeNs: 1200_000},
			{ID: "n8", Kind: KindInvoke, Name: "ca.registerRun", Func: bg + "modules/ca.registerRun", Module: "ca", Location: "modules/ca/module.go:35",
				Inputs: []Port{caT, {Type: "[]plane.Listener", Group: "bootgraph.listeners"}, lc}, Status: StatusOK, Order: 7, Ran: true, RuntimeNs: 10_000},
			{ID: "n9", Kind: KindConstructor, Name: "dnscert.provideFiles", Func: bg + "modules/dnscert.provideFiles", Module: "dnscert", Private: true,
				Inputs: []Port{cfg}, Outputs: []Port{{Type: "*dnscert.FileBundle"}}, Status: StatusUnused, Order: -1},
		},
		Edges: []Edge{
			{From: "n1", To: "n3", Key: "*bootgraph.Config"},
			{From: "n2", To: "n3", Key: "*zap.Logger", Optional: true, Infra: true},
			{From: "n3", To: "n4", Key: "*ca.CA"},
			{From: "n3", To: "n5", Key: "*ca.CA"},
			{From: "n0", To: "n5", Key: "fx.Lifecycle", Infra: true},
			{From: "n5", To: "n7", Key: "*dnscert.Bundle"},
			{From: "n4", To: "n7", Key: svc.Key(), Group: true},
			{From: "n6", To: "n7", Key: svc.Key(), Group: true},
			{From: "n0", To: "n7", Key: "fx.Lifecycle", Infra: true},
			{From: "n3", To: "n8", Key: "*ca.CA"},
			{From: "n7", To: "n8", Key: lis.Key(), Group: true},
			{From: "n0", To: "n8", Key: "fx.Lifecycle", Infra: true},
			{From: "n1", To: "n9", Key: "*bootgraph.Config"},
		},
		Groups: []Group{
			{Name: "grpc.services", Type: "grpc.Service", Members: []string{"n4", "n6"}, Consumers: []string{"n7"}},
			{Name: "bootgraph.listeners", Type: "plane.Listener", Members: []string{"n7"}, Consumers: []string{"n8"}},
		},
		Hooks: []Hook{
			{Index: 0, Node: "n5", Name: "dnscert.provideIstiod", StartIndex: 0, StopIndex: 2, StartNs: 2 * ms, StopNs: ms / 2},
			{Index: 1, Node: "n7", Name: "grpc.provideServer", StartIndex: 1, StopIndex: 1, StartNs: 5 * ms, StopNs: 40 * ms},
			{Index: 2, Node: "n8", Name: "ca.registerRun", StartIndex: 2, StopIndex: 0, StartNs: ms, StopNs: 3 * ms},
		},
		Run: &Run{BuildNs: 12 * ms, StartNs: 8 * ms, StopNs: 44 * ms},
	}
}

// missingGraph lacks *dns.Resolver: the missing node n1 and the two nodes
// that need it, directly (n2) and through n2 (n3). It was only planned.
func missingGraph() *Graph {
	return &Graph{
		Schema: Schema,
		Modules: []Module{
			{ID: "ca", Name: "ca"},
			{ID: "dns", Name: "dns"},
		},
		Nodes: []Node{
			{ID: "n0", Kind: KindConstructor, Name: "ca.provideCA", Func: "github.com/bootgraph/bootgraph/modules/ca.provideCA", Module: "ca",
				Outputs: []Port{{Type: "*ca.CA"}}, Status: StatusOK, Order: 0},
			{ID: "n1", Kind: KindMissing, Name: "*dns.Resolver", Module: "dns", Outputs: []Port{{Type: "*dns.Resolver"}}, Status: StatusMissing, Order: -1},
			{ID: "n2", Kind: KindConstructor, Name: "dns.provideServer", Func: "github.com/bootgraph/bootgraph/modules/dns.provideServer", Module: "dns",
				Inputs: []Port{{Type: "*ca.CA"}, {Type: "*dns.Resolver"}}, Outputs: []Port{{Type: "*dns.Server"}}, Status: StatusNeedsMissed, Order: -1},
			{ID: "n3", Kind: KindInvoke, Name: "dns.register", Func: "github.com/bootgraph/bootgraph/modules/dns.register", Module: "dns",
				Inputs: []Port{{Type: "*dns.Server"}}, Status: StatusNeedsMissed, Order: -1},
		},
		Edges: []Edge{
			{From: "n0", To: "n2", Key: "*ca.CA"},
			{From: "n1", To: "n2", Key: "*dns.Resolver"},
			{From: "n2", To: "n3", Key: "*dns.Server"},
		},
		Problems: []Problem{
			{Kind: ProblemMissing, Message: "missing type: *dns.Resolver (needed by dns.provideServer in module dns)", Nodes: []string{"n1"}},
		},
	}
}

// cycleGraph has a.newA and b.newB needing each other, and an invoke
// needing a.newA.
func cycleGraph() *Graph {
	return &Graph{
		Schema:  Schema,
		Modules: []Module{{ID: "a", Name: "a"}, {ID: "b", Name: "b"}},
		Nodes: []Node{
			{ID: "n0", Kind: KindConstructor, Name: "a.newA", Func: "example.com/a.newA", Module: "a",
				Inputs: []Port{{Type: "*b.B"}}, Outputs: []Port{{Type: "*a.A"}}, Status: StatusCycle, Order: -1},
			{ID: "n1", Kind: KindConstructor, Name: "b.newB", Func: "example.com/b.newB", Module: "b",
				Inputs: []Port{{Type: "*a.A"}}, Outputs: []Port{{Type: "*b.B"}}, Status: StatusCycle, Order: -1},
			{ID: "n2", Kind: KindInvoke, Name: "main.run", Func: "example.com/main.run",
				Inputs: []Port{{Type: "*a.A"}}, Status: StatusOK, Order: -1},
		},
		Edges: []Edge{
			{From: "n1", To: "n0", Key: "*b.B", Cycle: true},
			{From: "n0", To: "n1", Key: "*a.A", Cycle: true},
			{From: "n0", To: "n2", Key: "*a.A"},
		},
		Problems: []Problem{
			{Kind: ProblemCycle, Message: "cycle detected: a.newA -> b.newB -> a.newA", Nodes: []string{"n0", "n1"}},
		},
	}
}

// oddGraph uses Mermaid and DOT keywords as IDs and names, and names and
// types full of characters that need escaping; one node failed in a Run.
func oddGraph() *Graph {
	return &Graph{
		Schema: Schema,
		Modules: []Module{
			{ID: "end", Name: "end"},
			{ID: "end/subgraph", Name: `sub"graph<b>|x|`, Parent: "end"},
			{ID: "style class", Name: "click & style; %% #1"},
		},
		Nodes: []Node{
			{ID: "end", Kind: KindConstructor, Name: `pkg.(*T).end-fm`, Func: `example.com/x/pkg.(*T).end-fm`, Module: "end",
				Outputs: []Port{{Type: "[]plane.Listener"}, {Type: "*ca.CA", Name: `a"b`}}, Status: StatusOK, Order: 0, Ran: true, RuntimeNs: 1234},
			{ID: "graph", Kind: KindDecorator, Name: `pkg.<decorate>|x|`, Func: `example.com/pkg.func1`, Module: "end/subgraph",
				Inputs: []Port{{Type: "[]plane.Listener"}}, Outputs: []Port{{Type: "[]plane.Listener"}}, Status: StatusOK, Order: 1, Ran: true, RuntimeNs: 99},
			{ID: "subgraph", Kind: KindInvoke, Name: "a \\N \\\" `code` {x} (y) [z] 'q'", Func: "example.com/pkg.run", Module: "style class",
				Inputs: []Port{{Type: "map[string]<-chan int"}, {Type: "*ca.CA", Name: `a"b`}}, Status: StatusFailed, Order: 2, Ran: true, RuntimeNs: 5, Error: `boom: "quoted" <b>bold</b> & more`},
			{ID: "style", Kind: KindReplace, Name: "x;y:z#w%%v", Func: "example.com/pkg.x", Module: "style class",
				Outputs: []Port{{Type: "map[string]<-chan int"}}, Status: StatusOK, Order: 3, Ran: true},
			{ID: "class", Kind: KindBuiltin, Name: "fx.Shutdowner", Func: "go.uber.org/fx.Shutdowner", Outputs: []Port{{Type: "fx.Shutdowner"}}, Status: StatusUnused, Order: -1, Infra: true},
			{ID: "a b/c_d", Kind: KindSupply, Name: "ünïcødé → 世界", Func: "example.com/ü.x", Module: "unlisted/inner",
				Outputs: []Port{{Type: "func() error"}}, Status: StatusOK, Order: 4, Ran: true, RuntimeNs: 7},
		},
		Edges: []Edge{
			{From: "end", To: "graph", Key: "[]plane.Listener"},
			{From: "graph", To: "subgraph", Key: "map[string]<-chan int"},
			{From: "end", To: "subgraph", Key: `*ca.CA[name=a"b]`, Optional: true},
			{From: "style", To: "subgraph", Key: "map[string]<-chan int"},
			{From: "a b/c_d", To: "end", Key: "func() error"},
		},
		Hooks: []Hook{
			{Index: 0, Node: "subgraph", Name: "a \\N hook", StartIndex: 0, StopIndex: -1, StartNs: 300, Error: "start <failed>"},
		},
		Run: &Run{BuildNs: 2000, StartNs: 300, Error: "start <failed>"},
	}
}

// planeGraphV2 is planeGraph changed as a new config would change it: the
// grpc/health module is gone, a dns module with a listener (and its hook)
// is new, ca.provideService now builds before dnscert.provideIstiod,
// grpc.provideServer takes the config and dnscert.provideFiles no longer
// does, and it was only planned.
func planeGraphV2() *Graph {
	g := planeGraph()
	g.Run = nil
	g.Modules = []Module{{ID: "ca", Name: "ca"}, {ID: "dnscert", Name: "dnscert"}, {ID: "grpc", Name: "grpc"}, {ID: "dns", Name: "dns"}}
	var nodes []Node
	for _, n := range g.Nodes {
		n.Ran, n.RuntimeNs = false, 0
		switch n.ID {
		case "n6":
			continue
		case "n4":
			n.Order = 3
		case "n5":
			n.Order = 4
		case "n7":
			n.Order = 7
		case "n8":
			n.Order = 8
		case "n9":
			n.Inputs = nil
		}
		if n.ID == "n7" {
			n.Inputs = append([]Port{{Type: "*bootgraph.Config"}}, n.Inputs...)
		}
		nodes = append(nodes, n)
	}
	lis := Port{Type: "plane.Listener", Group: "bootgraph.listeners"}
	g.Nodes = append(nodes, Node{ID: "n10", Kind: KindConstructor, Name: "dns.provideServer", Func: "github.com/bootgraph/bootgraph/modules/dns.provideServer", Module: "dns",
		Inputs: []Port{{Type: "*dnscert.Bundle"}, {Type: "fx.Lifecycle"}}, Outputs: []Port{{Type: "*dns.Server"}, lis}, Status: StatusOK, Order: 5})
	var edges []Edge
	for _, e := range g.Edges {
		if e.From != "n6" && e.To != "n9" {
			edges = append(edges, e)
		}
	}
	g.Edges = append(edges,
		Edge{From: "n1", To: "n7", Key: "*bootgraph.Config"},
		Edge{From: "n5", To: "n10", Key: "*dnscert.Bundle"},
		Edge{From: "n0", To: "n10", Key: "fx.Lifecycle", Infra: true},
		Edge{From: "n10", To: "n8", Key: lis.Key(), Group: true},
	)
	g.Groups[0].Members = []string{"n4"}
	g.Groups[1].Members = []string{"n7", "n10"}
	g.Hooks = []Hook{
		{Index: 0, Node: "n5", Name: "dnscert.provideIstiod", StartIndex: -1, StopIndex: -1},
		{Index: 1, Node: "n10", Name: "dns.provideServer", StartIndex: -1, StopIndex: -1},
		{Index: 2, Node: "n7", Name: "grpc.provideServer", StartIndex: -1, StopIndex: -1},
		{Index: 3, Node: "n8", Name: "ca.registerRun", StartIndex: -1, StopIndex: -1},
	}
	return g
}

// testGraphs are the graphs every renderer is tested on, by name.
func testGraphs() []struct {
	name string
	g    *Graph
} {
	return []struct {
		name string
		g    *Graph
	}{
		{"plane", planeGraph()},
		{"missing", missingGraph()},
		{"cycle", cycleGraph()},
		{"odd", oddGraph()},
	}
}
