package bootgraph_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/bootgraph/bootgraph/graph"
)

// fxConstructor is a constructor as fx.DotGraph (dig.Visualize) draws it.
type fxConstructor struct {
	name    string          // "provideCA", "makeFuncStub" for supplied values
	pkg     string          // "github.com/bootgraph/bootgraph/modules/ca"
	outputs map[string]bool // result keys: "*ca.CA", "component.Listener[group=bootgraph.listeners]"
	inputs  map[string]bool // parameter keys
}

var (
	dotCluster  = regexp.MustCompile(`(?s)subgraph (cluster_\d+) \{\s*label = "([^"]*)";\s*(constructor_\d+) \[shape=plaintext label="([^"]*)"\];(.*?)\n\t\}`)
	dotResult   = regexp.MustCompile(`\n\t\t"([^"]+)" \[label=`)
	dotEdge     = regexp.MustCompile(`\n\t(constructor_\d+) -> "([^"]+)"`)
	dotGroupKey = regexp.MustCompile(`^\[type=(\S+) group=(\S+)\]$`)
	dotIndexed  = regexp.MustCompile(`^(.*\[group=[^\]]+\])\d+$`)
)

// parseDotGraph reads the constructors and their edges from fx's DOT.
func parseDotGraph(dot string) map[string]*fxConstructor {
	ctors := map[string]*fxConstructor{}
	for _, m := range dotCluster.FindAllStringSubmatch(dot, -1) {
		c := &fxConstructor{pkg: m[2], name: m[4], outputs: map[string]bool{}, inputs: map[string]bool{}}
		for _, r := range dotResult.FindAllStringSubmatch(m[5], -1) {
			c.outputs[digKey(r[1])] = true
		}
		ctors[m[3]] = c
	}
	for _, m := range dotEdge.FindAllStringSubmatch(dot, -1) {
		if c := ctors[m[1]]; c != nil {
			c.inputs[digKey(m[2])] = true
		}
	}
	return ctors
}

// digKey turns dig's node names into graph.Port keys.
func digKey(s string) string {
	if m := dotGroupKey.FindStringSubmatch(s); m != nil {
		return m[1] + "[group=" + m[2] + "]"
	}
	if m := dotIndexed.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return s
}

// Everything fx.DotGraph shows of the plane — each constructor and each
// edge from it to what it needs — our graph shows too.
func TestGraphCoversFxDotGraph(t *testing.T) {
	var dot fx.DotGraph
	p, err := localConfig(t).Build(fx.Populate(&dot))
	require.NoError(t, err)
	g, err := p.Graph()
	require.NoError(t, err)

	ctors := parseDotGraph(string(dot))
	require.Greater(t, len(ctors), 10, "parsed too little of fx's DOT: %s", dot)
	for id, c := range ctors {
		if c.pkg == "go.uber.org/fx" {
			continue // fx's own Lifecycle, Shutdowner, DotGraph: our builtins
		}
		n := nodeWithOutputs(g, c.outputs)
		if !assert.NotNil(t, n, "fx's %s (%s.%s, outputs %v) is not in our graph", id, c.pkg, c.name, c.outputs) {
			continue
		}
		if c.name != "makeFuncStub" {
			assert.Equal(t, c.pkg+"."+c.name, n.Func, "constructor name")
		}
		for key := range c.inputs {
			assert.True(t, hasEdgeInto(g, n.ID, key) || consumesGroup(g, n.ID, key),
				"fx's edge %s.%s needs %s: not in our graph", c.pkg, c.name, key)
		}
	}
}

func nodeWithOutputs(g *graph.Graph, outputs map[string]bool) *graph.Node {
	for i, n := range g.Nodes {
		if n.Kind != graph.KindConstructor && n.Kind != graph.KindSupply {
			continue
		}
		keys := map[string]bool{}
		for _, o := range n.Outputs {
			keys[o.Key()] = true
		}
		if len(keys) == len(outputs) && containsAll(keys, outputs) {
			return &g.Nodes[i]
		}
	}
	return nil
}

func containsAll(have, want map[string]bool) bool {
	for k := range want {
		if !have[k] {
			return false
		}
	}
	return true
}

// consumesGroup reports whether the graph lists node id among the consumers
// of group key (a group without members has no edges to draw).
func consumesGroup(g *graph.Graph, id, key string) bool {
	for _, grp := range g.Groups {
		if grp.Type+"[group="+grp.Name+"]" == key {
			for _, c := range grp.Consumers {
				if c == id {
					return true
				}
			}
		}
	}
	return false
}

func hasEdgeInto(g *graph.Graph, to, key string) bool {
	for _, e := range g.Edges {
		if e.To == to && strings.EqualFold(e.Key, key) {
			return true
		}
	}
	return false
}
