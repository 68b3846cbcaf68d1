package graph

import (
	"errors"
	"fmt"
)

// Validate reports whether g is consistent enough to render: node IDs are
// unique and non-empty, module IDs are unique, and every edge, group,
// hook and problem names nodes that exist. It joins every violation found.
// The renderers call it first, so a dangling reference is an error instead
// of a silently wrong picture.
func (g *Graph) Validate() error {
	if g == nil {
		return errors.New("graph: nil graph")
	}
	var errs []error
	nodes := make(map[string]bool, len(g.Nodes))
	for i, n := range g.Nodes {
		switch {
		case n.ID == "":
			errs = append(errs, fmt.Errorf("node %d (%s): empty id", i, n.Name))
		case nodes[n.ID]:
			errs = append(errs, fmt.Errorf("node %d (%s): duplicate id %q", i, n.Name, n.ID))
		}
		nodes[n.ID] = true
	}
	modules := make(map[string]bool, len(g.Modules))
	for i, m := range g.Modules {
		switch {
		case m.ID == "":
			errs = append(errs, fmt.Errorf("module %d (%s): empty id (the root module is not listed)", i, m.Name))
		case modules[m.ID]:
			errs = append(errs, fmt.Errorf("module %d (%s): duplicate id %q", i, m.Name, m.ID))
		}
		modules[m.ID] = true
	}
	ref := func(what, id string) {
		if !nodes[id] {
			errs = append(errs, fmt.Errorf("%s: unknown node %q", what, id))
		}
	}
	for i, e := range g.Edges {
		what := fmt.Sprintf("edge %d (%s -> %s)", i, e.From, e.To)
		ref(what, e.From)
		ref(what, e.To)
	}
	for _, gr := range g.Groups {
		for _, id := range gr.Members {
			ref(fmt.Sprintf("group %q member", gr.Name), id)
		}
		for _, id := range gr.Consumers {
			ref(fmt.Sprintf("group %q consumer", gr.Name), id)
		}
	}
	for _, h := range g.Hooks {
		if h.Node != "" {
			ref(fmt.Sprintf("hook %d (%s)", h.Index, h.Name), h.Node)
		}
	}
	for i, p := range g.Problems {
		for _, id := range p.Nodes {
			ref(fmt.Sprintf("problem %d (%s)", i, p.Kind), id)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("graph: invalid: %w", errors.Join(errs...))
	}
	return nil
}
