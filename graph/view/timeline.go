package view

import (
	"strconv"
	"strings"

	"github.com/bootgraph/bootgraph/graph"
)

// timelineBar is one row of the HTML page's start timeline: a hook in
// start order or a function in build order, drawn as a bar on the time
// axis of its phase (hooks run one after the other, and so do the
// functions of the build), with what it waited for drawn as a wait.
type timelineBar struct {
	Node  string // the node's ID, "" when the hook names none
	Hook  int    // the hook's predicted Index; -1 for a function
	Label string // "#0 servingcert.provideIstiod"
	Time  string // "2.00ms", "predicted", "did not run", "failed"
	Wait  string // what it waited for, in words: "needs #0 servingcert.provideIstiod"
	Title string // tooltip: everything known about the row
	Class string // extra classes: bg-bar-predicted, bg-bar-failed, bg-bar-skipped, bg-critical, bg-bar-invoke
	Left  string // CSS offset of its own time, "12.5%"
	Width string // CSS width of its own time, "25%"
	// WaitLeft and WaitWidth place the wait drawn before it; WaitWidth is
	// "" when it waited for nothing.
	WaitLeft, WaitWidth string
}

// timeline is both parts of the start timeline and the critical path.
type timeline struct {
	Predicted bool          // no Run: bars are the predicted order, equal widths
	Hooks     []timelineBar // one per hook, in start order
	Build     []timelineBar // one per function that runs, in build order
	// Critical is the critical path in words, "a → b → c"; CriticalTime
	// its length and share of the start ("18.2ms of 20.1ms"), "" when
	// predicted.
	Critical     string
	CriticalTime string
}

func newTimeline(g *graph.Graph, t *graph.Timing) timeline {
	tl := timeline{Predicted: t.Predicted}
	name := func(id string) string {
		if n := g.Node(id); n != nil {
			if n.Name != "" {
				return n.Name
			}
			return graph.ShortName(n.Func)
		}
		return id
	}
	var path []string
	for _, id := range t.Critical {
		path = append(path, name(id))
	}
	tl.Critical = strings.Join(path, " → ")
	if !t.Predicted && g.Run != nil {
		tl.CriticalTime = graph.FormatDuration(t.CriticalNs) + " of the " + graph.FormatDuration(g.Run.BuildNs+g.Run.StartNs) + " build and start"
	}
	tl.Hooks = hookBars(g, t, name)
	tl.Build = buildBars(g, t, name)
	return tl
}

// hookBars are the hooks in start order: after a run, widths ∝ StartNs
// on the start's time axis; before one, equal widths.
func hookBars(g *graph.Graph, t *graph.Timing, name func(string) string) []timelineBar {
	bars := make([]timelineBar, len(t.Start))
	var total int64
	for _, s := range t.Start {
		total += s.StartNs
	}
	for i, s := range t.Start {
		h := g.Hooks[s.Hook]
		b := timelineBar{Node: h.Node, Hook: h.Index, Label: "#" + strconv.Itoa(h.Index) + " " + h.Name}
		b.Title = "OnStart hook #" + strconv.Itoa(h.Index) + " of " + h.Name
		var needs []string
		for _, n := range s.Needs {
			nh := g.Hooks[n]
			needs = append(needs, "#"+strconv.Itoa(nh.Index)+" "+nh.Name)
		}
		switch {
		case len(needs) > 0:
			b.Wait = "needs " + strings.Join(needs, ", ")
		case i > 0:
			b.Wait = "needs no other hook"
		}
		switch {
		case t.Predicted:
			b.Time, b.Class = "predicted", "bg-bar-predicted"
			b.Left, b.Width = percent(100*float64(i)/float64(len(bars))), percent(100/float64(len(bars)))
		case !s.Ran:
			b.Time, b.Class = "did not run", "bg-bar-skipped"
			b.Left, b.Width = percent(100), "0%"
		default:
			b.Time = graph.FormatDuration(s.StartNs)
			b.Left, b.Width = share(s.AtNs, total), share(s.StartNs, total)
			if s.AtNs > 0 {
				b.WaitLeft, b.WaitWidth = "0%", share(s.AtNs, total)
			}
			b.Title += "\nstarted " + strconv.Itoa(h.StartIndex) + ", after " + graph.FormatDuration(s.AtNs) + ", took " + graph.FormatDuration(s.StartNs)
			if s.AtNs > 0 {
				b.Title += "\nwaited " + graph.FormatDuration(s.NeedsNs) + " for the hooks it needs and " + graph.FormatDuration(s.QueuedNs) + " queued behind others (hooks start one at a time)"
			}
			if h.StopIndex >= 0 {
				b.Title += "\nstopped " + strconv.Itoa(h.StopIndex) + ", took " + graph.FormatDuration(h.StopNs)
			}
		}
		if b.Wait != "" {
			b.Title += "\n" + b.Wait
		}
		if h.Error != "" {
			b.Time, b.Class = "failed", "bg-bar-failed"
			b.Title += "\nerror: " + h.Error
		}
		if s.Critical {
			b.Class = strings.TrimSpace(b.Class + " bg-critical")
		}
		bars[i] = b
	}
	return bars
}

// buildBars are the functions that run when the graph is built, in
// order; after a run, each bar is its own time on the build's time axis,
// and an invoke's wait spans the functions fx built for it.
func buildBars(g *graph.Graph, t *graph.Timing, name func(string) string) []timelineBar {
	bars := make([]timelineBar, len(t.Build))
	var total int64
	for _, s := range t.Build {
		total += s.OwnNs
	}
	at := make(map[string]int64, len(t.Build)) // start of each function's own time
	var clock int64
	for i, s := range t.Build {
		n := g.Node(s.Node)
		b := timelineBar{Node: n.ID, Hook: -1, Label: "#" + strconv.Itoa(n.Order) + " " + name(n.ID)}
		b.Title = string(n.Kind) + " " + n.Func
		if n.Module != "" {
			b.Title += "\nmodule " + n.Module
		}
		if n.Kind == graph.KindInvoke {
			b.Class = "bg-bar-invoke"
			if len(s.Waits) > 0 {
				b.Wait = "waits for " + strconv.Itoa(len(s.Waits)) + " function" + plural(len(s.Waits)) + " built for it"
			}
		}
		switch {
		case t.Predicted:
			b.Time, b.Class = "predicted", strings.TrimSpace(b.Class+" bg-bar-predicted")
			b.Left, b.Width = percent(100*float64(i)/float64(len(bars))), percent(100/float64(len(bars)))
		case !s.Ran:
			b.Time, b.Class = "did not run", strings.TrimSpace(b.Class+" bg-bar-skipped")
			b.Left, b.Width = share(clock, total), "0%"
		default:
			at[n.ID] = clock
			b.Left, b.Width = share(clock, total), share(s.OwnNs, total)
			b.Time = graph.FormatDuration(s.OwnNs)
			b.Title += "\nran in " + graph.FormatDuration(s.OwnNs) + " of its own"
			if len(s.Waits) > 0 {
				first := at[s.Waits[0]]
				b.WaitLeft, b.WaitWidth = share(first, total), share(clock-first, total)
				b.Time = graph.FormatDuration(s.WaitNs) + " wait + " + graph.FormatDuration(s.OwnNs)
				var names []string
				for _, w := range s.Waits {
					names = append(names, name(w))
				}
				b.Title += "\nwaited " + graph.FormatDuration(s.WaitNs) + " while fx built what it needs: " + strings.Join(names, ", ")
				b.Title += "\n(fx reports " + graph.FormatDuration(n.RuntimeNs) + " for the invoke: both together)"
			}
			clock += s.OwnNs
		}
		if n.Error != "" {
			b.Time, b.Class = "failed", strings.TrimSpace(b.Class+" bg-bar-failed")
			b.Title += "\nerror: " + n.Error
		}
		if s.Critical {
			b.Class = strings.TrimSpace(b.Class + " bg-critical")
		}
		bars[i] = b
	}
	return bars
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// share is part as a percentage of total; 0% when total is 0.
func share(part, total int64) string {
	if total <= 0 {
		return "0%"
	}
	return percent(100 * float64(part) / float64(total))
}

// percent formats a CSS percentage with at most three decimals: "12.5%".
func percent(v float64) string {
	v = max(0, min(v, 100))
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}
