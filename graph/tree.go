package graph

// ModuleTree is a graph's modules as a tree, for renderers that group
// nodes by module. Modules a node names but the graph does not list are
// made up from their path.
type ModuleTree struct {
	// Modules in tree order: a parent before its children, siblings in
	// Graph.Modules order.
	Modules []Module
	// Children lists each module's children by ID; "" is the top level.
	Children map[string][]string
	// Nodes lists each module's own nodes as indexes into Graph.Nodes.
	Nodes map[string][]int
}

// ModuleTree returns the graph's modules as a tree.
func (g *Graph) ModuleTree() *ModuleTree {
	l := newLayout(g)
	return &ModuleTree{Modules: l.modules, Children: l.children, Nodes: l.nodes}
}

// Label is how renderers name a module: its name, or its ID when unnamed.
func (m Module) Label() string { return moduleLabel(m) }
