package view

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/bootgraph/bootgraph/graph"
)

// syntheticGraph is a plausible composition of n functions in 10 modules
// (two of them nested): a builtin Lifecycle and a supplied config that
// many functions take, constructors that mostly take one to three values
// of their own module and sometimes another module's, a value group per
// module, invokes at the end, hooks on a tenth of the functions, and a graph.Run
// with timings. The same n gives the same graph.
func syntheticGraph(n int) *graph.Graph {
	rnd := rand.New(rand.NewPCG(uint64(n), 42))
	g := &graph.Graph{Schema: graph.Schema}
	const nmod = 10
	for m := 0; m < nmod; m++ {
		id, name, parent := "mod"+strconv.Itoa(m), "mod"+strconv.Itoa(m), ""
		if m >= 8 { // two nested modules
			parent = "mod" + strconv.Itoa(m-8)
			id = parent + "/" + name
		}
		g.Modules = append(g.Modules, graph.Module{ID: id, Name: name, Parent: parent})
	}
	lc := graph.Port{Type: "fx.Lifecycle"}
	cfg := graph.Port{Type: "*config.Config"}
	g.Nodes = append(g.Nodes,
		graph.Node{ID: "n0", Kind: graph.KindBuiltin, Name: "fx.Lifecycle", Func: "go.uber.org/fx.Lifecycle", Outputs: []graph.Port{lc}, Status: graph.StatusOK, Order: -1},
		graph.Node{ID: "n1", Kind: graph.KindSupply, Name: "config.Config", Func: "example.com/config.Config", Outputs: []graph.Port{cfg}, Status: graph.StatusOK, Order: 0, Ran: true, RuntimeNs: 1000},
	)
	byModule := make([][]int, nmod)
	order := 1
	for i := 2; i < n; i++ {
		m := (i*nmod/n + rnd.IntN(2)) % nmod // mostly in blocks, some mixing
		mod := g.Modules[m]
		id := "n" + strconv.Itoa(i)
		kind := graph.KindConstructor
		if i > n*9/10 && rnd.IntN(3) == 0 {
			kind = graph.KindInvoke
		}
		name := mod.Name + ".provide" + strconv.Itoa(i)
		node := graph.Node{ID: id, Kind: kind, Name: name, Func: "example.com/" + mod.ID + "." + name[len(mod.Name)+1:], Module: mod.ID,
			Location: mod.ID + "/module.go:" + strconv.Itoa(10+i), Status: graph.StatusOK, Order: order, Ran: true, RuntimeNs: int64(1000 + rnd.IntN(2_000_000))}
		order++
		seen := map[string]bool{}
		addInput := func(from int, p graph.Port, group bool) {
			if from >= i || seen[g.Nodes[from].ID] {
				return
			}
			seen[g.Nodes[from].ID] = true
			in := p
			if group {
				in.Type = "[]" + p.Type
			}
			node.Inputs = append(node.Inputs, in)
			g.Edges = append(g.Edges, graph.Edge{From: g.Nodes[from].ID, To: id, Key: p.Key(), Group: group, Optional: p.Optional})
		}
		if rnd.IntN(5) == 0 {
			addInput(0, lc, false)
		}
		if rnd.IntN(5) == 0 {
			addInput(1, cfg, false)
		}
		for k := 1 + rnd.IntN(3); k > 0; k-- {
			var from int
			if own := byModule[m]; len(own) > 0 && rnd.IntN(10) < 7 {
				from = own[rnd.IntN(len(own))]
			} else {
				from = 1 + rnd.IntN(i-1)
			}
			if out := g.Nodes[from].Outputs; len(out) > 0 && out[0].Group == "" {
				p := out[0]
				p.Optional = rnd.IntN(10) == 0
				addInput(from, p, false)
			}
		}
		if kind == graph.KindConstructor {
			if rnd.IntN(20) == 0 {
				node.Outputs = []graph.Port{{Type: "http.Handler", Group: mod.Name + ".handlers"}}
			} else {
				node.Outputs = []graph.Port{{Type: "*" + mod.Name + ".T" + strconv.Itoa(i)}}
			}
		}
		if rnd.IntN(10) == 0 {
			g.Hooks = append(g.Hooks, graph.Hook{Index: len(g.Hooks), Node: id, Name: name, StartIndex: len(g.Hooks), StopIndex: -1, StartNs: int64(rnd.IntN(5_000_000))})
		}
		g.Nodes = append(g.Nodes, node)
		byModule[m] = append(byModule[m], i)
	}
	// Each group is consumed by the last function of its module.
	for m := range g.Modules {
		name := g.Modules[m].Name + ".handlers"
		gr := graph.Group{Name: name, Type: "http.Handler"}
		for _, i := range byModule[m] {
			if out := g.Nodes[i].Outputs; len(out) > 0 && out[0].Group == name {
				gr.Members = append(gr.Members, g.Nodes[i].ID)
			}
		}
		if len(gr.Members) == 0 || len(byModule[m]) == 0 {
			continue
		}
		last := byModule[m][len(byModule[m])-1]
		consumer := &g.Nodes[last]
		consumer.Inputs = append(consumer.Inputs, graph.Port{Type: "[]http.Handler", Group: name})
		gr.Consumers = []string{consumer.ID}
		for _, member := range gr.Members {
			if member != consumer.ID {
				g.Edges = append(g.Edges, graph.Edge{From: member, To: consumer.ID, Key: graph.Port{Type: "http.Handler", Group: name}.Key(), Group: true})
			}
		}
		g.Groups = append(g.Groups, gr)
	}
	for i := range g.Hooks {
		g.Hooks[i].StopIndex = len(g.Hooks) - 1 - i
	}
	g.Run = &graph.Run{BuildNs: 1e9, StartNs: 2e9, StopNs: 1e9}
	return g
}

func TestSyntheticGraph(t *testing.T) {
	for _, n := range []int{100, 1000} {
		g := syntheticGraph(n)
		if err := g.Validate(); err != nil {
			t.Fatal(err)
		}
		if len(g.Nodes) != n {
			t.Errorf("syntheticGraph(%d) has %d nodes", n, len(g.Nodes))
		}
		t.Logf("syntheticGraph(%d): %s, %d groups", n, g, len(g.Groups))
	}
}

var benchSizes = []int{100, 1000}

func BenchmarkSVG(b *testing.B) {
	for _, n := range benchSizes {
		g := syntheticGraph(n)
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			for b.Loop() {
				if err := SVG(context.Background(), g, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkHTML(b *testing.B) {
	for _, n := range benchSizes {
		g := syntheticGraph(n)
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			for b.Loop() {
				if err := HTML(context.Background(), g, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkText covers the renderers that need no layout.
func BenchmarkText(b *testing.B) {
	g := syntheticGraph(1000)
	for name, r := range map[string]func(*graph.Graph, io.Writer) error{"dot": graph.DOT, "mermaid": graph.Mermaid, "json": graph.JSON} {
		b.Run(name+"/nodes=1000", func(b *testing.B) {
			for b.Loop() {
				if err := r(g, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
