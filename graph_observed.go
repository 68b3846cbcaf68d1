package bootgraph

import (
	"path"
	"time"

	"github.com/bootgraph/bootgraph/graph"
)

// runTimes are the durations of the plane's phases.
type runTimes struct {
	build, start, stop time.Duration
	err                error
}

// Graph returns the plane's graph: the planned structure and predicted
// order of its composition, and what this plane's build and start recorded
// — each function's duration, each hook's start and stop order and time,
// failures. It can be called at any time; before Start the hooks have not
// run.
func (p *Plane) Graph() (*graph.Graph, error) {
	g := p.plan.Clone().MarkInfra()
	mergeRuns(g, p.build.records())
	mergeHooks(g, p.hooks.records())
	p.mu.Lock()
	t := p.times
	p.mu.Unlock()
	g.Run = &graph.Run{BuildNs: int64(t.build), StartNs: int64(t.start), StopNs: int64(t.stop)}
	if t.err != nil {
		g.Run.Error = t.err.Error()
	}
	return g, nil
}

// Plan returns the plan of the plane's composition: its structure and the
// order predicted from the graph alone, with nothing of this plane's run.
//
// Graph and Plan mark the infrastructure the engine adds to every plane
// (its logger and Prometheus registry supplies, the hook tracker's
// fx.Lifecycle decorator, the plane as a graph.Source, fx's event logger,
// fx's builtins) and the edges that carry it: see graph.MarkInfra.
func (p *Plane) Plan() *graph.Graph { return p.plan.Clone().MarkInfra() }

// nodeQueue finds nodes by fx's name and module name, first unmatched first.
type nodeQueue map[string][]*graph.Node

func newNodeQueue(g *graph.Graph) nodeQueue {
	q := nodeQueue{}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if n.Key != "" {
			k := n.Key + "\x00" + path.Base("/"+n.Module)
			q[k] = append(q[k], n)
		}
	}
	return q
}

func (q nodeQueue) take(name, module string) *graph.Node {
	k := name + "\x00" + path.Base("/"+module)
	if len(q[k]) == 0 {
		return nil
	}
	n := q[k][0]
	q[k] = q[k][1:]
	return n
}

// mergeRuns marks the nodes that ran with their runtime and error.
func mergeRuns(g *graph.Graph, runs []ConstructorRecord) {
	q := newNodeQueue(g)
	for _, r := range runs {
		n := q.take(r.Name, r.Module)
		if n == nil {
			continue
		}
		n.Ran, n.RuntimeNs = true, int64(r.Runtime)
		if r.Err != nil {
			n.Error, n.Status = r.Err.Error(), graph.StatusFailed
		}
	}
}

// mergeHooks fills the planned hooks with what happened to the hooks each
// registrar appended; hooks beyond the plan (a registrar appending several)
// are added with Index -1.
func mergeHooks(g *graph.Graph, hooks []HookRecord) {
	byKey := map[string]string{}
	for _, n := range g.Nodes {
		if n.Key != "" {
			byKey[n.Key] = n.ID
		}
	}
	used := map[int]bool{}
	for _, h := range hooks {
		nodeID := byKey[h.Name]
		i := -1
		for j := range g.Hooks {
			if !used[j] && g.Hooks[j].Node == nodeID && nodeID != "" {
				i = j
				break
			}
		}
		if i < 0 {
			g.Hooks = append(g.Hooks, graph.Hook{Index: -1, Node: nodeID, Name: graph.ShortName(h.Name)})
			i = len(g.Hooks) - 1
		}
		used[i] = true
		hk := &g.Hooks[i]
		hk.StartIndex, hk.StopIndex = -1, h.StopOrder
		if h.Started || h.Err != nil {
			hk.StartIndex = h.Index
		}
		hk.StartNs, hk.StopNs = int64(h.StartTime), int64(h.StopTime)
		if h.Err != nil {
			hk.Error = h.Err.Error()
		}
	}
}
