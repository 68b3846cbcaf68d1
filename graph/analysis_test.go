package graph

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// checkGolden compares got with testdata/name; -update rewrites it.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./graph -update` to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (run `go test ./graph -update` and review the diff):\n%s", path, firstDiff(string(got), string(want)))
	}
}

func jsonOf(t *testing.T, g *Graph) string {
	t.Helper()
	var buf bytes.Buffer
	if err := JSON(g, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestMarkInfra: the fixtures carry exactly the marks MarkInfra sets, by
// type, and marking again changes nothing.
func TestMarkInfra(t *testing.T) {
	for _, tg := range testGraphs() {
		bare := tg.g.Clone()
		for i := range bare.Nodes {
			bare.Nodes[i].Infra = false
		}
		for i := range bare.Edges {
			bare.Edges[i].Infra = false
		}
		want := jsonOf(t, tg.g)
		if got := jsonOf(t, bare.MarkInfra()); got != want {
			t.Errorf("%s: MarkInfra differs from the fixture's marks:\n%s", tg.name, firstDiff(got, want))
		}
		if got := jsonOf(t, tg.g.Clone().MarkInfra()); got != want {
			t.Errorf("%s: a second MarkInfra changed the graph:\n%s", tg.name, firstDiff(got, want))
		}
	}
	for typ, want := range map[string]bool{
		"*zap.Logger": true, "fx.Lifecycle": true, "prometheus.Registerer[name=x]": true, "prometheus.Gatherer": true,
		"graph.Source": true, "*ca.CA": false, "[]*zap.Logger": false, "zap.Logger": false, "plane.Listener[group=bootgraph.listeners]": false,
	} {
		if IsInfraType(typ) != want {
			t.Errorf("IsInfraType(%q) = %v", typ, !want)
		}
	}
	// A missing logger is a problem to show, not infrastructure.
	g := &Graph{Nodes: []Node{{ID: "n0", Kind: KindMissing, Outputs: []Port{{Type: "*zap.Logger"}}}, {ID: "n1", Kind: KindInvoke, Inputs: []Port{{Type: "*zap.Logger"}}}},
		Edges: []Edge{{From: "n0", To: "n1", Key: "*zap.Logger"}}}
	g.MarkInfra()
	if g.Nodes[0].Infra || g.Nodes[1].Infra || !g.Edges[0].Infra {
		t.Errorf("missing logger: nodes %v %v, edge %v; want the nodes shown and the edge marked", g.Nodes[0].Infra, g.Nodes[1].Infra, g.Edges[0].Infra)
	}
}

// TestWithoutInfra: the plane without its infrastructure keeps everything
// else, and is valid.
func TestWithoutInfra(t *testing.T) {
	g := planeGraph().WithoutInfra()
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range g.Nodes {
		ids = append(ids, n.ID)
	}
	if want := []string{"n1", "n3", "n4", "n5", "n6", "n7", "n8", "n9"}; !slices.Equal(ids, want) {
		t.Errorf("nodes %v, want %v", ids, want)
	}
	for _, e := range g.Edges {
		if e.Infra {
			t.Errorf("edge %v kept", e)
		}
	}
	if len(g.Edges) != 9 || len(g.Hooks) != 3 {
		t.Errorf("%d edges, %d hooks; want 9, 3", len(g.Edges), len(g.Hooks))
	}
	if len(planeGraph().Nodes) != 10 {
		t.Error("WithoutInfra changed its receiver")
	}
}

// TestTiming: own times, what an invoke waited for, what each hook needs
// and the critical path, on the plane fixture.
func TestTiming(t *testing.T) {
	tm := planeGraph().Timing()
	if tm.Predicted {
		t.Fatal("predicted, but the fixture has a run")
	}
	if len(tm.Build) != 8 || tm.Build[0].Node != "n1" || tm.Build[7].Node != "n8" {
		t.Fatalf("build steps %+v", tm.Build)
	}
	inv := tm.Build[7] // ca.registerRun waited for everything before it
	if len(inv.Waits) != 7 || inv.WaitNs != 1500+900+6e6+3e6+200_000+50_000+1_200_000 || inv.OwnNs != 0 {
		t.Errorf("ca.registerRun: waits %v (%d ns), own %d", inv.Waits, inv.WaitNs, inv.OwnNs)
	}
	// grpc needs the bundle's hook; ca.registerRun needs grpc's (and,
	// through it, the bundle's: only the nearest is listed).
	if s := tm.Start[1]; s.Node != "n7" || !slices.Equal(s.Needs, []int{0}) || s.NeedsNs != 2e6 || s.QueuedNs != 0 {
		t.Errorf("grpc's hook: %+v", s)
	}
	if s := tm.Start[2]; s.Node != "n8" || !slices.Equal(s.Needs, []int{1}) || s.AtNs != 7e6 || s.NeedsNs != 7e6 {
		t.Errorf("ca.registerRun's hook: %+v", s)
	}
	want := []string{"n1", "n3", "n5", "n7", "n8"}
	if !slices.Equal(tm.Critical, want) {
		t.Errorf("critical path %v, want %v", tm.Critical, want)
	}
	// bootgraph.Config, ca.provideCA, dnscert.provideIstiod and its hook,
	// grpc.provideServer and its hook, ca.registerRun's own time (none) and hook.
	if tm.CriticalNs != 1500+6e6+(3e6+2e6)+(1_200_000+5e6)+(0+1e6) {
		t.Errorf("critical path length %d", tm.CriticalNs)
	}
	for _, s := range tm.Build {
		if s.Critical != slices.Contains(want, s.Node) {
			t.Errorf("build step %s: critical %v", s.Node, s.Critical)
		}
	}

	p := planeGraphV2().Timing()
	if !p.Predicted || p.CriticalNs != 0 {
		t.Errorf("planned: predicted %v, length %d", p.Predicted, p.CriticalNs)
	}
	if want := []string{"n1", "n3", "n5", "n10", "n8"}; !slices.Equal(p.Critical, want) {
		t.Errorf("planned critical path %v, want %v (the chain with most hooks)", p.Critical, want)
	}
	for _, tg := range testGraphs() {
		tg.g.Timing() // no panic on odd graphs, cycles, missing nodes
	}
}

// TestWhyGolden: `bootgraph graph why` answers, on the plane fixture.
func TestWhyGolden(t *testing.T) {
	for _, tc := range []struct{ name, a, b string }{
		{"chain", "ca.provideCA", "grpc.provideServer"},
		{"modules", "ca", "grpc"},
		{"type", "*ca.CA", "n8"},
		{"unordered", "health.provide", "dnscert.provideIstiod"},
		{"reverse", "ca.registerRun", "dnscert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := planeGraph().Why(tc.a, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := w.WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "why-"+tc.name+".txt.golden", buf.Bytes())
			if tc.name == "modules" {
				buf.Reset()
				if err := w.WriteJSON(&buf); err != nil {
					t.Fatal(err)
				}
				checkGolden(t, "why-"+tc.name+".json.golden", buf.Bytes())
			}
		})
	}
	for _, tc := range []struct{ a, b, want string }{
		{"nope", "ca", `nothing in the graph is called "nope"`},
		{"ca", "ca", "are the same"},
		{"", "ca", "empty"},
	} {
		if _, err := planeGraph().Why(tc.a, tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Why(%q, %q) = %v, want an error containing %q", tc.a, tc.b, err, tc.want)
		}
	}
}

// TestDiffGolden: `bootgraph graph diff` of the plane and its second
// version, in text and JSON; and of a graph with itself.
func TestDiffGolden(t *testing.T) {
	d, err := Compare(planeGraph(), planeGraphV2(), "plane.json", "plane-v2.json")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := d.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "diff.txt.golden", buf.Bytes())
	buf.Reset()
	if err := d.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "diff.json.golden", buf.Bytes())
	// The second version as JSON, for the CLI's tests of diff.
	buf.Reset()
	if err := JSON(planeGraphV2(), &buf); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "plane-v2.json.golden", buf.Bytes())

	if err := d.Union.Validate(); err != nil {
		t.Fatalf("union: %v", err)
	}
	for id, want := range map[string]Change{"x:n6": Removed, "n10": Added, "n5": Moved} {
		if got := d.Marks.Nodes[id]; got != want {
			t.Errorf("union node %s marked %q, want %q", id, got, want)
		}
	}
	if d.Marks.Modules["grpc/health"] != Removed || d.Marks.Modules["dns"] != Added {
		t.Errorf("module marks %v", d.Marks.Modules)
	}
	var removed, added int
	for i, c := range d.Marks.Edges {
		e := d.Union.Edges[i]
		switch c {
		case Removed:
			removed++
			if e.From != "x:n6" && e.To != "n9" {
				t.Errorf("removed edge %+v", e)
			}
		case Added:
			added++
			if e.From != "n10" && e.To != "n10" && e.To != "n7" {
				t.Errorf("added edge %+v", e)
			}
		}
	}
	if removed != 2 || added != 4 {
		t.Errorf("%d removed and %d added edges, want 2 and 4", removed, added)
	}

	same, err := Compare(planeGraph(), planeGraph(), "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	if !same.Empty() || same.Summary() != "no difference" {
		t.Errorf("a graph differs from itself: %s", same.Summary())
	}
}

func TestLongestIncreasing(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want []bool
	}{
		{nil, []bool{}},
		{[]int{0, 1, 2}, []bool{true, true, true}},
		{[]int{1, 0, 2, 3}, []bool{false, true, true, true}},
		{[]int{0, 3, 1, 2}, []bool{true, false, true, true}},
	} {
		if got := longestIncreasing(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("longestIncreasing(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
