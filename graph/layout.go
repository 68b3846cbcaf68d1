package graph

import (
	"sort"
	"strings"
)

// layout is what every renderer needs to walk a graph: the module tree
// (listed modules plus any a node names without listing), the nodes of each
// module and the hooks of each node. Order follows the graph's slices, so
// rendering is deterministic for a given graph.
type layout struct {
	g *Graph
	// modules in tree order (byParent before children, siblings in
	// Graph.Modules order, then unlisted ones by ID).
	modules []Module
	module  map[string]Module
	// children of each module ID; "" is the root.
	children map[string][]string
	// nodes of each module ID, as indexes into Graph.Nodes.
	nodes map[string][]int
	// hooks registered by each node ID, in Hook.Index order.
	hooks map[string][]Hook
}

func newLayout(g *Graph) *layout {
	l := &layout{
		g:        g,
		module:   make(map[string]Module, len(g.Modules)),
		children: make(map[string][]string),
		nodes:    make(map[string][]int),
		hooks:    make(map[string][]Hook),
	}
	var listed []Module
	for _, m := range g.Modules {
		if m.ID == "" {
			continue
		}
		l.module[m.ID] = m
		listed = append(listed, m)
	}
	// A node may name a module the graph does not list (or a listed
	// module a parent that is not): make one up from its path.
	var unlisted []string
	var addUnlisted func(id string)
	addUnlisted = func(id string) {
		if id == "" {
			return
		}
		if _, ok := l.module[id]; ok {
			return
		}
		parent := ""
		if i := strings.LastIndex(id, "/"); i > 0 {
			parent = id[:i]
		}
		l.module[id] = Module{ID: id, Name: id[strings.LastIndex(id, "/")+1:], Parent: parent}
		unlisted = append(unlisted, id)
		addUnlisted(parent)
	}
	for _, m := range listed {
		addUnlisted(m.Parent)
	}
	for i, n := range g.Nodes {
		addUnlisted(n.Module)
		l.nodes[n.Module] = append(l.nodes[n.Module], i)
	}
	sort.Strings(unlisted)
	byParent := make(map[string][]string)
	for _, m := range listed {
		byParent[m.Parent] = append(byParent[m.Parent], m.ID)
	}
	for _, id := range unlisted {
		m := l.module[id]
		byParent[m.Parent] = append(byParent[m.Parent], id)
	}
	// Walk the tree from the root; l.children keeps only the edges
	// walked, so each module appears once even if the input's parent
	// links loop (such modules hang from the root, cut where they close).
	seen := map[string]bool{"": true}
	var walk func(parent, id string)
	walk = func(parent, id string) {
		seen[id] = true
		l.modules = append(l.modules, l.module[id])
		l.children[parent] = append(l.children[parent], id)
		for _, c := range byParent[id] {
			if !seen[c] {
				walk(id, c)
			}
		}
	}
	for _, c := range byParent[""] {
		if !seen[c] {
			walk("", c)
		}
	}
	for _, m := range listed {
		if !seen[m.ID] {
			walk("", m.ID)
		}
	}
	hooks := append([]Hook(nil), g.Hooks...)
	sort.SliceStable(hooks, func(i, j int) bool { return hooks[i].Index < hooks[j].Index })
	for _, h := range hooks {
		l.hooks[h.Node] = append(l.hooks[h.Node], h)
	}
	return l
}

// moduleLabel is the name shown for a module.
func moduleLabel(m Module) string {
	if m.Name != "" {
		return m.Name
	}
	return m.ID
}
