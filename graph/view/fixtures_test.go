package view

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/bootgraph/bootgraph/graph"
)

// The renderers here are tested on the graph package's fixtures, read back
// from its golden JSON files, so both packages test the same graphs and
// the JSON form is exercised on the way.
// A fixture that does not load is a broken checkout: panic.
func loadFixture(name string) *graph.Graph {
	f, err := os.Open(filepath.Join("..", "testdata", name+".json.golden"))
	if err != nil {
		panic(err)
	}
	defer f.Close()
	g, err := graph.ReadJSON(f)
	if err != nil {
		panic(fmt.Sprintf("fixture %s: %v", name, err))
	}
	return g
}

func planeGraph() *graph.Graph   { return loadFixture("plane") }
func missingGraph() *graph.Graph { return loadFixture("missing") }
func cycleGraph() *graph.Graph   { return loadFixture("cycle") }
func planeGraphV2() *graph.Graph { return loadFixture("plane-v2") }

// testGraphs are the graphs every renderer is tested on, by name.
func testGraphs() []struct {
	name string
	g    *graph.Graph
} {
	var out []struct {
		name string
		g    *graph.Graph
	}
	for _, name := range []string{"plane", "missing", "cycle", "odd"} {
		out = append(out, struct {
			name string
			g    *graph.Graph
		}{name, loadFixture(name)})
	}
	return out
}
