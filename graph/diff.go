package graph

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Change is how a part of a graph differs between two graphs.
type Change string

// Changes.
const (
	Added   Change = "added"   // only in the second graph
	Removed Change = "removed" // only in the first graph
	// Moved: in both, but in another place of the build or start order
	// relative to what is in both (or, for a node, in another module).
	Moved Change = "moved"
	// Changed: in both, in the same place, with another status.
	Changed Change = "changed"
)

// Diff is what differs between two graphs X and Y (see Compare): parts
// (modules), nodes, edges and the start order, added, removed or moved.
// Nodes are matched by module, kind and function (the n-th of equal ones
// with the n-th), not by ID, so graphs of two compositions compare.
type Diff struct {
	X string `json:"x"` // what X is, e.g. its file name
	Y string `json:"y"`
	// Modules added or removed.
	Modules []ModuleDiff `json:"modules"`
	// Nodes added, removed, moved in the build order or to another
	// module, or whose status changed.
	Nodes []NodeDiff `json:"nodes"`
	// Edges added or removed.
	Edges []EdgeDiff `json:"edges"`
	// Hooks added, removed or moved in the start order.
	Hooks []HookDiff `json:"hooks"`
	// Union is Y with what only X has added (nodes of X get IDs
	// "x:"+ID), for drawing the difference; Marks say what changed.
	Union *Graph    `json:"-"`
	Marks DiffMarks `json:"-"`
}

// DiffMarks say how each part of Diff.Union differs; what is not listed
// is the same in both.
type DiffMarks struct {
	Modules map[string]Change `json:"modules"` // by module ID
	Nodes   map[string]Change `json:"nodes"`   // by node ID of the union
	Edges   map[int]Change    `json:"edges"`   // by index into Union.Edges
}

// ModuleDiff is a module only one graph has.
type ModuleDiff struct {
	Change Change `json:"change"`
	ID     string `json:"id"`
}

// NodeDiff is a node that differs.
type NodeDiff struct {
	Change Change   `json:"change"`
	Name   string   `json:"name"`
	Module string   `json:"module"`
	Kind   NodeKind `json:"kind"`
	// X and Y are its IDs in each graph ("" where it is absent).
	X string `json:"x,omitempty"`
	Y string `json:"y,omitempty"`
	// Detail says what moved or changed: "build #3 → #7", "module a → b",
	// "status ok → needs-missing".
	Detail string `json:"detail,omitempty"`
}

// EdgeDiff is an edge only one graph has.
type EdgeDiff struct {
	Change Change `json:"change"`
	From   string `json:"from"` // the provider's name
	To     string `json:"to"`   // the consumer's name
	Key    string `json:"key"`
	// Infra marks an infrastructure edge (Edge.Infra): a logger, the
	// lifecycle, a registry.
	Infra bool `json:"infra,omitempty"`
	// WithNode is true when an end of the edge is a node added or
	// removed: the edge comes or goes with it.
	WithNode bool `json:"withNode,omitempty"`
}

// HookDiff is a hook that differs in the start order.
type HookDiff struct {
	Change Change `json:"change"`
	Name   string `json:"name"`
	// X and Y are its predicted start positions (Hook.Index); -1 where
	// it is absent.
	X int `json:"x"`
	Y int `json:"y"`
}

// Compare returns what differs from x to y; xName and yName say what
// they are (file names, say).
func Compare(x, y *Graph, xName, yName string) (*Diff, error) {
	if err := x.Validate(); err != nil {
		return nil, fmt.Errorf("diff %s: %w", xName, err)
	}
	if err := y.Validate(); err != nil {
		return nil, fmt.Errorf("diff %s: %w", yName, err)
	}
	d := &Diff{X: xName, Y: yName, Modules: []ModuleDiff{}, Nodes: []NodeDiff{}, Edges: []EdgeDiff{}, Hooks: []HookDiff{},
		Marks: DiffMarks{Modules: map[string]Change{}, Nodes: map[string]Change{}, Edges: map[int]Change{}}}

	// Modules, by ID.
	ym := map[string]bool{}
	for _, m := range y.ModuleTree().Modules {
		ym[m.ID] = true
	}
	xm := map[string]Module{}
	xTree := x.ModuleTree()
	for _, m := range xTree.Modules {
		xm[m.ID] = m
		if !ym[m.ID] {
			d.Modules = append(d.Modules, ModuleDiff{Change: Removed, ID: m.ID})
			d.Marks.Modules[m.ID] = Removed
		}
	}
	for _, m := range y.ModuleTree().Modules {
		if _, ok := xm[m.ID]; !ok {
			d.Modules = append(d.Modules, ModuleDiff{Change: Added, ID: m.ID})
			d.Marks.Modules[m.ID] = Added
		}
	}

	// Nodes: exact matches first, then the same function in another module.
	match := matchNodes(x, y)
	xi, yi := nodeIndex(x), nodeIndex(y)
	for _, n := range x.Nodes {
		yid, ok := match[n.ID]
		switch {
		case !ok:
			d.Nodes = append(d.Nodes, NodeDiff{Change: Removed, Name: displayName(&n), Module: n.Module, Kind: n.Kind, X: n.ID})
		case y.Nodes[yi[yid]].Module != n.Module:
			d.Nodes = append(d.Nodes, NodeDiff{Change: Moved, Name: displayName(&n), Module: y.Nodes[yi[yid]].Module, Kind: n.Kind, X: n.ID, Y: yid,
				Detail: "module " + moduleName(n.Module) + " → " + moduleName(y.Nodes[yi[yid]].Module)})
		}
	}
	matched := map[string]bool{}
	for _, yid := range match {
		matched[yid] = true
	}
	for _, n := range y.Nodes {
		if !matched[n.ID] {
			d.Nodes = append(d.Nodes, NodeDiff{Change: Added, Name: displayName(&n), Module: n.Module, Kind: n.Kind, Y: n.ID})
		}
	}
	// Build order: among the nodes both run, those off the longest run
	// in the same relative order moved.
	var common []string // X IDs in X's build order
	for _, n := range x.Nodes {
		if yid, ok := match[n.ID]; ok && n.Order >= 0 && y.Nodes[yi[yid]].Order >= 0 {
			common = append(common, n.ID)
		}
	}
	sort.SliceStable(common, func(a, b int) bool { return x.Nodes[xi[common[a]]].Order < x.Nodes[xi[common[b]]].Order })
	ranks := make([]int, len(common))
	for i, id := range common {
		ranks[i] = y.Nodes[yi[match[id]]].Order
	}
	keep := longestIncreasing(ranks)
	for i, id := range common {
		if keep[i] {
			continue
		}
		n, m := &x.Nodes[xi[id]], &y.Nodes[yi[match[id]]]
		d.Nodes = append(d.Nodes, NodeDiff{Change: Moved, Name: displayName(m), Module: m.Module, Kind: m.Kind, X: n.ID, Y: m.ID,
			Detail: "build #" + strconv.Itoa(n.Order) + " → #" + strconv.Itoa(m.Order)})
	}
	for _, n := range x.Nodes {
		yid, ok := match[n.ID]
		if !ok {
			continue
		}
		m := &y.Nodes[yi[yid]]
		switch {
		case (n.Order >= 0) != (m.Order >= 0):
			d.Nodes = append(d.Nodes, NodeDiff{Change: Changed, Name: displayName(m), Module: m.Module, Kind: m.Kind, X: n.ID, Y: m.ID,
				Detail: runsText(n.Order) + " → " + runsText(m.Order)})
		case n.Status != m.Status:
			d.Nodes = append(d.Nodes, NodeDiff{Change: Changed, Name: displayName(m), Module: m.Module, Kind: m.Kind, X: n.ID, Y: m.ID,
				Detail: "status " + string(n.Status) + " → " + string(m.Status)})
		}
	}

	// Edges, by the matched ends and key.
	edgeKey := func(from, to, key string) string { return from + "\x00" + to + "\x00" + key }
	yEdges := map[string][]int{}
	for i, e := range y.Edges {
		k := edgeKey(e.From, e.To, e.Key)
		yEdges[k] = append(yEdges[k], i)
	}
	usedY := map[int]bool{}
	var removedEdges []int
	for i, e := range x.Edges {
		from, okf := match[e.From]
		to, okt := match[e.To]
		if okf && okt {
			if c := yEdges[edgeKey(from, to, e.Key)]; len(c) > 0 {
				usedY[c[0]] = true
				yEdges[edgeKey(from, to, e.Key)] = c[1:]
				continue
			}
		}
		removedEdges = append(removedEdges, i)
		d.Edges = append(d.Edges, EdgeDiff{Change: Removed, From: displayName(&x.Nodes[xi[e.From]]), To: displayName(&x.Nodes[xi[e.To]]), Key: e.Key, Infra: e.Infra, WithNode: !okf || !okt})
	}
	for i, e := range y.Edges {
		if !usedY[i] {
			d.Edges = append(d.Edges, EdgeDiff{Change: Added, From: displayName(&y.Nodes[yi[e.From]]), To: displayName(&y.Nodes[yi[e.To]]), Key: e.Key, Infra: e.Infra, WithNode: !matched[e.From] || !matched[e.To]})
			d.Marks.Edges[i] = Added
		}
	}

	d.compareHooks(x, y, match)
	d.union(x, y, match, removedEdges)
	return d, nil
}

func nodeIndex(g *Graph) map[string]int {
	m := make(map[string]int, len(g.Nodes))
	for i, n := range g.Nodes {
		m[n.ID] = i
	}
	return m
}

func displayName(n *Node) string {
	if n.Name != "" {
		return n.Name
	}
	return ShortName(n.Func)
}

func moduleName(id string) string {
	if id == "" {
		return "(top level)"
	}
	return id
}

func runsText(order int) string {
	if order < 0 {
		return "does not run"
	}
	return "build #" + strconv.Itoa(order)
}

// nodeIdentity is what matches a node across graphs: kind and function
// (or, for a node without one, its name), and module when exact.
func nodeIdentity(n *Node, withModule bool) string {
	f := n.Func
	if f == "" {
		f = n.Name
	}
	id := string(n.Kind) + "\x00" + f
	if withModule {
		id = n.Module + "\x00" + id
	}
	return id
}

// matchNodes maps X's node IDs to Y's: the n-th node of an identity in X
// to the n-th in Y, with modules first, then without.
func matchNodes(x, y *Graph) map[string]string {
	match := map[string]string{}
	taken := map[string]bool{}
	for _, withModule := range []bool{true, false} {
		queue := map[string][]string{}
		for i := range y.Nodes {
			if n := &y.Nodes[i]; !taken[n.ID] {
				k := nodeIdentity(n, withModule)
				queue[k] = append(queue[k], n.ID)
			}
		}
		for i := range x.Nodes {
			n := &x.Nodes[i]
			if _, ok := match[n.ID]; ok {
				continue
			}
			k := nodeIdentity(n, withModule)
			if q := queue[k]; len(q) > 0 {
				match[n.ID], taken[q[0]] = q[0], true
				queue[k] = q[1:]
			}
		}
	}
	return match
}

// longestIncreasing marks the members of one longest strictly increasing
// subsequence of s.
func longestIncreasing(s []int) []bool {
	keep := make([]bool, len(s))
	if len(s) == 0 {
		return keep
	}
	tails := []int{} // index into s of the smallest tail of each length
	prev := make([]int, len(s))
	for i, v := range s {
		j := sort.Search(len(tails), func(k int) bool { return s[tails[k]] >= v })
		if j > 0 {
			prev[i] = tails[j-1]
		} else {
			prev[i] = -1
		}
		if j == len(tails) {
			tails = append(tails, i)
		} else {
			tails[j] = i
		}
	}
	for i := tails[len(tails)-1]; i >= 0; i = prev[i] {
		keep[i] = true
	}
	return keep
}

// compareHooks diffs the predicted start order: hooks match by their
// node and position among that node's hooks.
func (d *Diff) compareHooks(x, y *Graph, match map[string]string) {
	ident := func(g *Graph, node func(string) string) ([]string, []Hook) {
		hooks := append([]Hook(nil), g.Hooks...)
		sort.SliceStable(hooks, func(a, b int) bool { return hooks[a].Index < hooks[b].Index })
		seen := map[string]int{}
		ids := make([]string, len(hooks))
		for i, h := range hooks {
			n := node(h.Node) + "\x00" + h.Name
			ids[i] = n + "\x00" + strconv.Itoa(seen[n])
			seen[n]++
		}
		return ids, hooks
	}
	xIDs, xHooks := ident(x, func(id string) string {
		if m, ok := match[id]; ok {
			return m
		}
		return "x:" + id
	})
	yIDs, yHooks := ident(y, func(id string) string { return id })
	yPos := map[string]int{}
	for i, id := range yIDs {
		yPos[id] = i
	}
	xPos := map[string]int{}
	var common []int // positions in Y, in X's order
	var commonX []int
	for i, id := range xIDs {
		xPos[id] = i
		if j, ok := yPos[id]; ok {
			common = append(common, j)
			commonX = append(commonX, i)
		} else {
			d.Hooks = append(d.Hooks, HookDiff{Change: Removed, Name: xHooks[i].Name, X: xHooks[i].Index, Y: -1})
		}
	}
	for j, id := range yIDs {
		if _, ok := xPos[id]; !ok {
			d.Hooks = append(d.Hooks, HookDiff{Change: Added, Name: yHooks[j].Name, X: -1, Y: yHooks[j].Index})
		}
	}
	keep := longestIncreasing(common)
	for k, j := range common {
		if !keep[k] {
			i := commonX[k]
			d.Hooks = append(d.Hooks, HookDiff{Change: Moved, Name: yHooks[j].Name, X: xHooks[i].Index, Y: yHooks[j].Index})
		}
	}
}

// union builds Diff.Union and the marks of its nodes and of X's edges.
func (d *Diff) union(x, y *Graph, match map[string]string, removedEdges []int) {
	u := y.Clone()
	have := map[string]bool{}
	for _, m := range u.Modules {
		have[m.ID] = true
	}
	for _, m := range x.ModuleTree().Modules {
		if !have[m.ID] && d.Marks.Modules[m.ID] == Removed {
			u.Modules = append(u.Modules, m)
			have[m.ID] = true
		}
	}
	xid := func(id string) string {
		if m, ok := match[id]; ok {
			return m
		}
		return "x:" + id
	}
	for _, n := range x.Nodes {
		if _, ok := match[n.ID]; ok {
			continue
		}
		c := n
		c.ID = "x:" + n.ID
		c.Inputs = append([]Port(nil), n.Inputs...)
		c.Outputs = append([]Port(nil), n.Outputs...)
		u.Nodes = append(u.Nodes, c)
	}
	for _, i := range removedEdges {
		e := x.Edges[i]
		e.From, e.To = xid(e.From), xid(e.To)
		d.Marks.Edges[len(u.Edges)] = Removed
		u.Edges = append(u.Edges, e)
	}
	for _, nd := range d.Nodes {
		id := nd.Y
		if nd.Change == Removed {
			id = "x:" + nd.X
		}
		// Moved wins over changed; added and removed are alone.
		if prev, ok := d.Marks.Nodes[id]; !ok || prev == Changed {
			d.Marks.Nodes[id] = nd.Change
		}
	}
	d.Union = u
}

// Empty reports whether the graphs are the same in every respect Diff
// compares.
func (d *Diff) Empty() bool {
	return len(d.Modules) == 0 && len(d.Nodes) == 0 && len(d.Edges) == 0 && len(d.Hooks) == 0
}

// Summary is the difference in one line: "1 part removed, 4 nodes
// removed, 2 moved, ...", or "no difference".
func (d *Diff) Summary() string {
	if d.Empty() {
		return "no difference"
	}
	var parts []string
	counts := func(what string, changes []Change) {
		c := map[Change]int{}
		for _, ch := range changes {
			c[ch]++
		}
		var s []string
		for _, ch := range []Change{Added, Removed, Moved, Changed} {
			if c[ch] > 0 {
				s = append(s, strconv.Itoa(c[ch])+" "+string(ch))
			}
		}
		if len(s) > 0 {
			parts = append(parts, what+": "+strings.Join(s, ", "))
		}
	}
	var ch []Change
	for _, m := range d.Modules {
		ch = append(ch, m.Change)
	}
	counts("parts", ch)
	ch = ch[:0]
	for _, n := range d.Nodes {
		ch = append(ch, n.Change)
	}
	counts("nodes", ch)
	ch = ch[:0]
	for _, e := range d.Edges {
		ch = append(ch, e.Change)
	}
	counts("edges", ch)
	ch = ch[:0]
	for _, h := range d.Hooks {
		ch = append(ch, h.Change)
	}
	counts("start order", ch)
	return strings.Join(parts, "; ")
}

// diffSign is the mark of a change in text: + added, - removed, ~ moved,
// ! changed.
func diffSign(c Change) string {
	switch c {
	case Added:
		return "+"
	case Removed:
		return "-"
	case Moved:
		return "~"
	default:
		return "!"
	}
}

// WriteText writes the difference for people, a section per kind of
// part, each line signed: "+" added (only in Y), "-" removed (only in X),
// "~" moved, "!" changed.
func (d *Diff) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "--- %s\n+++ %s\n%s\n", d.X, d.Y, d.Summary())
	if len(d.Modules) > 0 {
		fmt.Fprint(bw, "\nparts:\n")
		for _, m := range d.Modules {
			fmt.Fprintf(bw, "  %s %s\n", diffSign(m.Change), m.ID)
		}
	}
	if len(d.Nodes) > 0 {
		fmt.Fprint(bw, "\nnodes:\n")
		width := 0
		for _, n := range d.Nodes {
			width = max(width, len(n.Name))
		}
		for _, n := range d.Nodes {
			line := fmt.Sprintf("  %s %-*s  [%s] %s", diffSign(n.Change), width, n.Name, moduleName(n.Module), n.Kind)
			if n.Detail != "" {
				line += ": " + n.Detail
			}
			fmt.Fprint(bw, line+"\n")
		}
	}
	d.writeEdges(bw, false, "edges between nodes in both")
	d.writeEdges(bw, true, "edges of the nodes added or removed")
	if len(d.Hooks) > 0 {
		fmt.Fprint(bw, "\nstart order (OnStart hooks):\n")
		for _, h := range d.Hooks {
			switch h.Change {
			case Added:
				fmt.Fprintf(bw, "  + %s: #%d\n", h.Name, h.Y)
			case Removed:
				fmt.Fprintf(bw, "  - %s: was #%d\n", h.Name, h.X)
			default:
				fmt.Fprintf(bw, "  ~ %s: #%d → #%d\n", h.Name, h.X, h.Y)
			}
		}
	}
	return bw.Flush()
}

// DiffSchema names the JSON form of a Diff (WriteJSON).
const DiffSchema = "bootgraph.dev/graph-diff/v1"

// WriteJSON writes d as JSON: {"schema", "x", "y", "summary", "modules",
// "nodes", "edges", "hooks"}, indented by two spaces.
func (d *Diff) WriteJSON(w io.Writer) error {
	return writeIndented(w, struct {
		Schema  string `json:"schema"`
		Summary string `json:"summary"`
		*Diff
	}{DiffSchema, d.Summary(), d})
}

// uniq is s sorted, without repeats.
func uniq(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// writeEdges writes a section of the edges whose WithNode is withNode;
// infrastructure edges are counted, not listed.
func (d *Diff) writeEdges(bw *bufio.Writer, withNode bool, title string) {
	infra := map[Change][]string{}
	head := false
	for _, e := range d.Edges {
		if e.WithNode != withNode {
			continue
		}
		if !head {
			fmt.Fprint(bw, "\n"+title+":\n")
			head = true
		}
		if e.Infra {
			infra[e.Change] = append(infra[e.Change], e.Key)
			continue
		}
		fmt.Fprintf(bw, "  %s %s -> %s: %s\n", diffSign(e.Change), e.From, e.To, e.Key)
	}
	for _, c := range []Change{Added, Removed} {
		if keys := infra[c]; len(keys) > 0 {
			fmt.Fprintf(bw, "  %s %d infrastructure edge%s (%s)\n", diffSign(c), len(keys), plural(len(keys)), strings.Join(uniq(keys), ", "))
		}
	}
}
