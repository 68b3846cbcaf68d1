package view

import (
	"sort"
	"strconv"
	"strings"

	"github.com/bootgraph/bootgraph/graph"
)

// timelineBar is one row of the HTML page's start timeline: a hook in
// start order or a function in build order, drawn as a bar whose offset and
// width are shares of the whole (a waterfall: each starts where the one
// before ended).
type timelineBar struct {
	Node  string // the node's ID, "" when the hook names none
	Hook  int    // the hook's predicted Index; -1 for a function
	Label string // "#0 dnscert.provideIstiod"
	Time  string // "2.00ms", "predicted", "did not run", "failed"
	Title string // tooltip: everything known about the row
	Class string // extra classes: bg-bar-predicted, bg-bar-failed, bg-bar-skipped
	Left  string // CSS offset, "12.5%"
	Width string // CSS width, "25%"
}

// timeline is both parts of the start timeline.
type timeline struct {
	Predicted bool          // no Run: bars are the predicted order, equal widths
	Hooks     []timelineBar // one per hook, in start order
	Build     []timelineBar // one per function that runs, in build order
}

func newTimeline(g *graph.Graph) timeline {
	t := timeline{Predicted: g.Run == nil}
	t.Hooks = hookBars(g, t.Predicted)
	t.Build = buildBars(g, t.Predicted)
	return t
}

// hookBars are the hooks in start order: after a run, those that started
// by StartIndex (then those that did not, by Index), widths ∝ StartNs;
// before one, by Index with equal widths.
func hookBars(g *graph.Graph, predicted bool) []timelineBar {
	hooks := append([]graph.Hook(nil), g.Hooks...)
	ran := func(h graph.Hook) bool { return !predicted && h.StartIndex >= 0 }
	sort.SliceStable(hooks, func(i, j int) bool {
		a, b := hooks[i], hooks[j]
		if ran(a) != ran(b) {
			return ran(a)
		}
		if ran(a) && a.StartIndex != b.StartIndex {
			return a.StartIndex < b.StartIndex
		}
		return a.Index < b.Index
	})
	bars := make([]timelineBar, len(hooks))
	ns := make([]int64, len(hooks))
	for i, h := range hooks {
		b := timelineBar{Node: h.Node, Hook: h.Index, Label: "#" + strconv.Itoa(h.Index) + " " + h.Name}
		b.Title = "OnStart hook #" + strconv.Itoa(h.Index) + " of " + h.Name
		ns[i] = -1
		switch {
		case predicted:
			b.Time, b.Class = "predicted", "bg-bar-predicted"
		case h.StartIndex < 0:
			b.Time, b.Class = "did not run", "bg-bar-skipped"
		default:
			ns[i] = h.StartNs
			b.Time = graph.FormatDuration(h.StartNs)
			b.Title += "\nstarted " + strconv.Itoa(h.StartIndex) + ", took " + graph.FormatDuration(h.StartNs)
			if h.StopIndex >= 0 {
				b.Title += "\nstopped " + strconv.Itoa(h.StopIndex) + ", took " + graph.FormatDuration(h.StopNs)
			}
		}
		if h.Error != "" {
			b.Time, b.Class = "failed", "bg-bar-failed"
			b.Title += "\nerror: " + h.Error
		}
		bars[i] = b
	}
	waterfall(bars, ns, predicted)
	return bars
}

// buildBars are the functions that run when the graph is built (Order ≥
// 0), in Order; after a run, widths ∝ RuntimeNs.
func buildBars(g *graph.Graph, predicted bool) []timelineBar {
	var nodes []*graph.Node
	for i := range g.Nodes {
		if g.Nodes[i].Order >= 0 {
			nodes = append(nodes, &g.Nodes[i])
		}
	}
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].Order < nodes[j].Order })
	bars := make([]timelineBar, len(nodes))
	ns := make([]int64, len(nodes))
	for i, n := range nodes {
		b := timelineBar{Node: n.ID, Hook: -1, Label: "#" + strconv.Itoa(n.Order) + " " + n.Name}
		b.Title = string(n.Kind) + " " + n.Func
		ns[i] = -1
		switch {
		case predicted:
			b.Time, b.Class = "predicted", "bg-bar-predicted"
		case !n.Ran:
			b.Time, b.Class = "did not run", "bg-bar-skipped"
		default:
			ns[i] = n.RuntimeNs
			b.Time = graph.FormatDuration(n.RuntimeNs)
			b.Title += "\nran in " + graph.FormatDuration(n.RuntimeNs)
		}
		if n.Error != "" {
			b.Time, b.Class = "failed", "bg-bar-failed"
			b.Title += "\nerror: " + n.Error
		}
		bars[i] = b
	}
	waterfall(bars, ns, predicted)
	return bars
}

// waterfall sets each bar's offset and width: shares of the total of ns
// (a bar with ns < 0 did not run and has no width), or equal shares when
// predicted or nothing took any time.
func waterfall(bars []timelineBar, ns []int64, predicted bool) {
	var total int64
	for _, d := range ns {
		if d > 0 {
			total += d
		}
	}
	var left float64
	for i := range bars {
		var w float64
		switch {
		case predicted || total == 0:
			w = 100 / float64(len(bars))
		case ns[i] > 0:
			w = 100 * float64(ns[i]) / float64(total)
		}
		bars[i].Left, bars[i].Width = percent(left), percent(w)
		left += w
	}
}

// percent formats a CSS percentage with at most three decimals: "12.5%".
func percent(v float64) string {
	v = max(0, min(v, 100))
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}
