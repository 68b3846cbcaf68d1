package graph

import (
	"sort"
)

// Timing explains where a start's time went: each function of the build
// with its own time and, for an invoke, what it waited for; each OnStart
// hook with what it needed and what it merely queued behind; and the
// critical path of the start.
type Timing struct {
	// Predicted is true when no run was recorded: the steps are in the
	// predicted order, without times, and the critical path is the chain
	// with the most hooks.
	Predicted bool `json:"predicted,omitempty"`
	// Build is every function that runs, in build order.
	Build []BuildStep `json:"build"`
	// Start is every hook, in start order (observed, else predicted).
	Start []StartStep `json:"start"`
	// Critical is the critical path of the start, node IDs from first to
	// last: the chain of dependencies with the longest own build time plus
	// OnStart time. Nothing on it can begin before what precedes it has
	// finished, so the start takes at least CriticalNs however the rest is
	// arranged. Infrastructure (Node.Infra) is left out.
	Critical []string `json:"critical"`
	// CriticalNs is the length of the critical path; 0 when predicted.
	CriticalNs int64 `json:"criticalNs,omitempty"`
}

// BuildStep is one function of the build.
type BuildStep struct {
	Node  string `json:"node"`
	Order int    `json:"order"`
	// OwnNs is the function's own time: Node.RuntimeNs, except for an
	// invoke, whose measured time includes building what it needs; its
	// own time is what remains.
	OwnNs int64 `json:"ownNs,omitempty"`
	// WaitNs is, for an invoke, the time spent building what it needs
	// (the functions in Waits).
	WaitNs int64 `json:"waitNs,omitempty"`
	// Waits are, for an invoke, the functions fx built for it, in build
	// order: those after the previous invoke.
	Waits    []string `json:"waits,omitempty"`
	Ran      bool     `json:"ran,omitempty"`
	Critical bool     `json:"critical,omitempty"`
}

// StartStep is one OnStart hook.
type StartStep struct {
	// Hook is the index of the hook in Graph.Hooks.
	Hook int    `json:"hook"`
	Node string `json:"node"`
	// StartNs is how long OnStart took.
	StartNs int64 `json:"startNs,omitempty"`
	// AtNs is when it began, from the beginning of the start: hooks run
	// one after the other.
	AtNs int64 `json:"atNs,omitempty"`
	// Needs are the hooks (indexes in Graph.Hooks) it waits for because
	// its function needs, directly or not, the function that appended
	// them; only the nearest are listed (not those they need in turn).
	Needs []int `json:"needs,omitempty"`
	// NeedsNs is the time of every hook it needs, transitively; QueuedNs
	// the rest of AtNs: hooks before it that it does not need (fx starts
	// hooks one at a time, in order).
	NeedsNs  int64 `json:"needsNs,omitempty"`
	QueuedNs int64 `json:"queuedNs,omitempty"`
	Ran      bool  `json:"ran,omitempty"`
	Critical bool  `json:"critical,omitempty"`
}

// Timing returns the timing of g's build and start (see Timing).
func (g *Graph) Timing() *Timing {
	t := &Timing{Predicted: g.Run == nil, Build: []BuildStep{}, Start: []StartStep{}, Critical: []string{}}
	index := make(map[string]int, len(g.Nodes))
	for i, n := range g.Nodes {
		index[n.ID] = i
	}
	// Build steps, in order; an invoke waits for what runs since the
	// previous invoke.
	var order []int
	for i, n := range g.Nodes {
		if n.Order >= 0 {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return g.Nodes[order[a]].Order < g.Nodes[order[b]].Order })
	own := make(map[string]int64, len(order))
	var pending []int // steps since the previous invoke
	for _, i := range order {
		n := &g.Nodes[i]
		s := BuildStep{Node: n.ID, Order: n.Order, OwnNs: n.RuntimeNs, Ran: n.Ran}
		if n.Kind == KindInvoke {
			for _, j := range pending {
				w := &t.Build[j]
				if !w.Ran && !t.Predicted {
					continue
				}
				s.Waits = append(s.Waits, w.Node)
				s.WaitNs += w.OwnNs
			}
			s.OwnNs = max(0, n.RuntimeNs-s.WaitNs)
			pending = pending[:0]
		} else {
			pending = append(pending, len(t.Build))
		}
		own[n.ID] = s.OwnNs
		t.Build = append(t.Build, s)
	}

	// Start steps, in start order.
	hooks := make([]int, len(g.Hooks))
	for i := range hooks {
		hooks[i] = i
	}
	started := func(h Hook) bool { return !t.Predicted && h.StartIndex >= 0 }
	sort.SliceStable(hooks, func(a, b int) bool {
		x, y := g.Hooks[hooks[a]], g.Hooks[hooks[b]]
		if started(x) != started(y) {
			return started(x)
		}
		if started(x) && x.StartIndex != y.StartIndex {
			return x.StartIndex < y.StartIndex
		}
		return x.Index < y.Index
	})
	needs := make(map[string][]string, len(g.Nodes)) // node → what it needs
	for _, e := range g.Edges {
		if !e.Cycle {
			needs[e.To] = append(needs[e.To], e.From)
		}
	}
	upstream := map[string]map[string]bool{}
	up := func(id string) map[string]bool {
		if u, ok := upstream[id]; ok {
			return u
		}
		u := reach(id, needs)
		upstream[id] = u
		return u
	}
	pos := make(map[int]int, len(hooks)) // Graph.Hooks index → position in start order
	for p, h := range hooks {
		pos[h] = p
	}
	var at int64
	allNeeds := make([]map[int]bool, len(hooks))
	for p, hi := range hooks {
		h := g.Hooks[hi]
		s := StartStep{Hook: hi, Node: h.Node, Ran: started(h)}
		if s.Ran {
			s.StartNs, s.AtNs = h.StartNs, at
			at += h.StartNs
		}
		all := map[int]bool{}
		if h.Node != "" {
			u := up(h.Node)
			for q := 0; q < p; q++ {
				if other := g.Hooks[hooks[q]]; other.Node != "" && u[other.Node] {
					all[q] = true
				}
			}
		}
		allNeeds[p] = all
		implied := map[int]bool{}
		for q := range all {
			for r := range allNeeds[q] {
				implied[r] = true
			}
		}
		for q := 0; q < p; q++ {
			if all[q] {
				if !implied[q] {
					s.Needs = append(s.Needs, hooks[q])
				}
				if s.Ran {
					s.NeedsNs += t.startNs(g, hooks[q])
				}
			}
		}
		if s.Ran {
			s.QueuedNs = max(0, s.AtNs-s.NeedsNs)
		}
		t.Start = append(t.Start, s)
	}

	t.critical(g, index, own)
	onPath := make(map[string]bool, len(t.Critical))
	for _, id := range t.Critical {
		onPath[id] = true
	}
	for i := range t.Build {
		t.Build[i].Critical = onPath[t.Build[i].Node]
	}
	for i := range t.Start {
		t.Start[i].Critical = onPath[t.Start[i].Node]
	}
	return t
}

func (t *Timing) startNs(g *Graph, hook int) int64 {
	if h := g.Hooks[hook]; !t.Predicted && h.StartIndex >= 0 {
		return h.StartNs
	}
	return 0
}

// critical finds the longest path through the nodes that run (not
// infrastructure), each weighing its own build time plus its hooks'
// OnStart times; predicted, each weighs one plus a thousand per hook.
func (t *Timing) critical(g *Graph, index map[string]int, own map[string]int64) {
	in := map[string]bool{}
	for _, n := range g.Nodes {
		if n.Order >= 0 && !n.Infra && (t.Predicted || n.Ran) {
			in[n.ID] = true
		}
	}
	weight := make(map[string]int64, len(in))
	for id := range in {
		if t.Predicted {
			weight[id] = 1
		} else {
			weight[id] = own[id]
		}
	}
	for i, h := range g.Hooks {
		if !in[h.Node] {
			continue
		}
		if t.Predicted {
			weight[h.Node] += 1000
		} else {
			weight[h.Node] += t.startNs(g, i)
		}
	}
	succ := map[string][]string{}
	indeg := map[string]int{}
	for _, e := range g.Edges {
		if e.Cycle || e.Infra || !in[e.From] || !in[e.To] || e.From == e.To {
			continue
		}
		succ[e.From] = append(succ[e.From], e.To)
		indeg[e.To]++
	}
	// Kahn's order, ready nodes by build order: deterministic.
	var ready []string
	for _, n := range g.Nodes {
		if in[n.ID] && indeg[n.ID] == 0 {
			ready = append(ready, n.ID)
		}
	}
	byOrder := func(s []string) {
		sort.SliceStable(s, func(a, b int) bool { return g.Nodes[index[s[a]]].Order < g.Nodes[index[s[b]]].Order })
	}
	byOrder(ready)
	best := map[string]int64{}
	prev := map[string]string{}
	var end string
	for len(ready) > 0 {
		id := ready[0]
		ready = ready[1:]
		best[id] += weight[id]
		if end == "" || best[id] > best[end] {
			end = id
		}
		var next []string
		for _, s := range succ[id] {
			if prev[s] == "" || best[id] > best[s] {
				best[s], prev[s] = best[id], id
			}
			if indeg[s]--; indeg[s] == 0 {
				next = append(next, s)
			}
		}
		ready = append(ready, next...)
		byOrder(ready)
	}
	for id := end; id != ""; id = prev[id] {
		t.Critical = append(t.Critical, id)
	}
	for i, j := 0, len(t.Critical)-1; i < j; i, j = i+1, j-1 {
		t.Critical[i], t.Critical[j] = t.Critical[j], t.Critical[i]
	}
	if !t.Predicted && end != "" {
		t.CriticalNs = best[end]
	}
}

// reach is every node reachable from start along adj, start excluded.
func reach(start string, adj map[string][]string) map[string]bool {
	seen := map[string]bool{}
	stack := []string{start}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, x := range adj[id] {
			if !seen[x] {
				seen[x] = true
				stack = append(stack, x)
			}
		}
	}
	delete(seen, start)
	return seen
}
