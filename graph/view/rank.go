package view

import (
	"cmp"
	"math"
	"slices"
)

// Ranking, the first half of page/layout.js (rank): each node of a
// container gets a layer, cycles broken against the build order. See
// layout.go.

// ranking is what rank returns: each node's layer, the edges drawn
// against the layers' direction, the number of layers.
type ranking struct {
	layer    []int
	reversed []bool
	layers   int
}

// rank assigns layers (layout.js rank).
func rank(spec *layoutSpec) *ranking {
	n := len(spec.nodes)
	isInner := make([]bool, n)
	var inner []int
	for i, nd := range spec.nodes {
		if nd.side == sideNone {
			isInner[i] = true
			inner = append(inner, i)
		}
	}
	order := slices.Clone(inner)
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(spec.nodes[a].hint, spec.nodes[b].hint) })
	// Cycle removal: only edges within a strongly connected component can
	// close a cycle; there, an edge against the hint order (the build
	// order: what is built first comes first) is reversed.
	pos := make([]int, n)
	adj := make([][]int, n)
	for i, id := range inner {
		pos[id] = i
	}
	internal := func(e specEdge) bool { return e.from != e.to && isInner[e.from] && isInner[e.to] }
	for _, e := range spec.edges {
		if internal(e) {
			adj[e.from] = append(adj[e.from], e.to)
		}
	}
	comp := scc(inner, adj)
	before := func(a, b int) bool {
		x, y := spec.nodes[a].hint, spec.nodes[b].hint
		return x < y || x == y && pos[a] < pos[b]
	}
	reversed := make([]bool, len(spec.edges))
	for i, e := range spec.edges {
		if internal(e) && comp[e.from] == comp[e.to] && !before(e.from, e.to) {
			reversed[i] = true
		}
	}
	layer := longestPath(spec, order, internal, reversed)
	hasLeft := false
	for _, nd := range spec.nodes {
		hasLeft = hasLeft || nd.side == sideLeft
	}
	base := 0
	if hasLeft {
		base = 1
	}
	for _, id := range inner {
		layer[id] += base
	}
	last := base - 1
	for _, id := range inner {
		last = max(last, layer[id])
	}
	last = max(last, base)
	count := 0
	for i, nd := range spec.nodes {
		switch nd.side {
		case sideLeft:
			layer[i] = 0
		case sideRight:
			layer[i] = last + 1
		}
		count = max(count, layer[i]+1)
	}
	// Edges now pointing backwards (into a left port, out of a right one)
	// are reversed too.
	for i, e := range spec.edges {
		switch {
		case layer[e.from] > layer[e.to]:
			reversed[i] = true
		case layer[e.from] < layer[e.to]:
			reversed[i] = false
		}
	}
	return &ranking{layer: layer, reversed: reversed, layers: count}
}

// longestPath layers the inner nodes from 0 by the longest path from the
// sources over the acyclic edges, in topological order (Kahn), then pulls
// each towards what it feeds: just before its nearest successor, unless
// nothing follows it. (layout.js starts at base; the caller adds it, which
// is the same: every layer is base plus a longest path.)
func longestPath(spec *layoutSpec, order []int, internal func(specEdge) bool, reversed []bool) []int {
	n := len(spec.nodes)
	succ, pred, deg := make([][]int, n), make([][]int, n), make([]int, n)
	for i, e := range spec.edges {
		if !internal(e) {
			continue
		}
		f, t := e.from, e.to
		if reversed[i] {
			f, t = t, f
		}
		succ[f] = append(succ[f], t)
		pred[t] = append(pred[t], f)
		deg[t]++
	}
	var queue []int
	for _, id := range order {
		if deg[id] == 0 {
			queue = append(queue, id)
		}
	}
	layer := make([]int, n)
	for qi := 0; qi < len(queue); qi++ {
		id := queue[qi]
		l := 0
		for _, p := range pred[id] {
			l = max(l, layer[p]+1)
		}
		layer[id] = l
		for _, s := range succ[id] {
			deg[s]--
			if deg[s] == 0 {
				queue = append(queue, s)
			}
		}
	}
	for i := len(queue) - 1; i >= 0; i-- {
		v := queue[i]
		if len(succ[v]) == 0 {
			continue
		}
		m := math.MaxInt
		for _, s := range succ[v] {
			m = min(m, layer[s]-1)
		}
		if m > layer[v] {
			layer[v] = m
		}
	}
	return layer
}

// scc numbers the strongly connected components of a graph (Tarjan,
// without recursion); comp is indexed like adj.
func scc(ids []int, adj [][]int) []int {
	n := len(adj)
	idx, low := make([]int, n), make([]int, n)
	on, seen := make([]bool, n), make([]bool, n)
	comp := make([]int, n)
	var stack []int
	next, nc := 0, 0
	type frame struct{ v, i int }
	for _, root := range ids {
		if seen[root] {
			continue
		}
		work := []frame{{root, 0}}
		seen[root], idx[root], low[root] = true, next, next
		next++
		stack = append(stack, root)
		on[root] = true
		for len(work) > 0 {
			top := &work[len(work)-1]
			v := top.v
			if top.i < len(adj[v]) {
				w := adj[v][top.i]
				top.i++
				switch {
				case !seen[w]:
					seen[w], idx[w], low[w] = true, next, next
					next++
					stack = append(stack, w)
					on[w] = true
					work = append(work, frame{w, 0})
				case on[w]:
					low[v] = min(low[v], idx[w])
				}
				continue
			}
			work = work[:len(work)-1]
			if len(work) > 0 {
				u := work[len(work)-1].v
				low[u] = min(low[u], low[v])
			}
			if low[v] == idx[v] {
				for {
					x := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					on[x] = false
					comp[x] = nc
					if x == v {
						break
					}
				}
				nc++
			}
		}
	}
	return comp
}
