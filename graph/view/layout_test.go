package view

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bootgraph/bootgraph/graph/view/viewtest"
)

// randomSpec is a container as the drawing makes them, at random: boxes
// with build-order hints (some equal), ports on either side, links in
// both directions (cycles), a few loops and parallel links, labels, and
// ends off the middle of a box (at a nested box's port).
func randomSpec(rnd *rand.Rand) *layoutSpec {
	n, ports := 1+rnd.IntN(30), rnd.IntN(6)
	s := &layoutSpec{}
	for i := 0; i < n; i++ {
		s.nodes = append(s.nodes, specNode{hint: float64(rnd.IntN(n + 5)), w: float64(20 + rnd.IntN(120)), h: float64(16 + rnd.IntN(60))})
	}
	for i := 0; i < ports; i++ {
		side := sideLeft
		if rnd.IntN(2) == 0 {
			side = sideRight
		}
		s.nodes = append(s.nodes, specNode{hint: float64(rnd.IntN(n + 5)), side: side})
	}
	for m := rnd.IntN(2*n + 2*ports + 1); m > 0; m-- {
		e := specEdge{from: rnd.IntN(n), to: rnd.IntN(len(s.nodes))}
		if rnd.IntN(2) == 0 {
			e.from, e.to = e.to, e.from
		}
		if rnd.IntN(10) < 6 {
			e.label = &size{w: float64(20 + rnd.IntN(100)), h: 14}
		}
		// Across the layers, whichever way they run.
		if nd := s.nodes[e.from]; rnd.IntN(3) == 0 {
			e.fromOff = offset{at: float64(rnd.IntN(int(min(nd.w, nd.h)) + 1)), set: true}
		}
		if nd := s.nodes[e.to]; rnd.IntN(3) == 0 {
			e.toOff = offset{at: float64(rnd.IntN(int(min(nd.w, nd.h)) + 1)), set: true}
		}
		s.edges = append(s.edges, e)
	}
	return s
}

func randomOptions(rnd *rand.Rand) placeOptions {
	o := placeOptions{pad: pad{12, 12, 12, 12}, minGap: 44, nodeGap: 16}
	if rnd.IntN(2) == 0 {
		o.pad = pad{16, 16, 40, 14}
		o.minW = float64(rnd.IntN(400))
	}
	if rnd.IntN(3) == 0 {
		o.dir, o.minGap, o.nodeGap = dirTB, 36, 24
	}
	return o
}

// The layout's promises, on random containers in both directions: boxes
// of a layer do not overlap, nor do layers; a port is on its side's
// border; a link starts on its source and ends on its target; labels sit
// between layers, clear of every box; the same input gives the same
// output.
func TestLayoutInvariants(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		spec, opts := randomSpec(rnd), randomOptions(rnd)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			ranks := rank(spec)
			pl := place(spec, ranks, opts)
			checkPlacement(t, spec, ranks, pl, opts)
			if again := place(spec, rank(spec), opts); !placementsEqual(pl, again) {
				t.Error("a second layout of the same container differs")
			}
		})
	}
}

func checkPlacement(t *testing.T, spec *layoutSpec, ranks *ranking, pl *placement, opts placeOptions) {
	t.Helper()
	tb := opts.dir == dirTB
	// u along the layers, v across.
	uv := func(p point) (float64, float64) {
		if tb {
			return p.y, p.x
		}
		return p.x, p.y
	}
	extent := func(n specNode) (du, dv float64) {
		if tb {
			return n.h, n.w
		}
		return n.w, n.h
	}
	w, h := pl.w, pl.h
	const eps = 1e-6
	for i, n := range spec.nodes {
		u, v := uv(pl.nodes[i])
		du, dv := extent(n)
		extU, extV := w, h
		if tb {
			extU, extV = h, w
		}
		if u < -eps || v < -eps || u+du > extU+eps || v+dv > extV+eps {
			t.Errorf("node %d at %v+%vx%v outside %vx%v", i, pl.nodes[i], n.w, n.h, w, h)
		}
		switch n.side {
		case sideLeft:
			if u != 0 {
				t.Errorf("left port %d at u=%v", i, u)
			}
		case sideRight:
			if math.Abs(u-extU) > eps {
				t.Errorf("right port %d at u=%v, extent %v", i, u, extU)
			}
		}
		for j := range i {
			m := spec.nodes[j]
			if n.side != sideNone || m.side != sideNone {
				continue
			}
			u2, v2 := uv(pl.nodes[j])
			du2, dv2 := extent(m)
			if ranks.layer[i] == ranks.layer[j] && v < v2+dv2-eps && v2 < v+dv-eps {
				t.Errorf("nodes %d and %d of layer %d overlap", i, j, ranks.layer[i])
			}
			if ranks.layer[i] != ranks.layer[j] && u < u2+du2-eps && u2 < u+du-eps {
				t.Errorf("nodes %d and %d of layers %d, %d overlap along the layers", i, j, ranks.layer[i], ranks.layer[j])
			}
		}
	}
	on := func(p point, i int) bool {
		q, n := pl.nodes[i], spec.nodes[i]
		return p.x >= q.x-eps && p.x <= q.x+n.w+eps && p.y >= q.y-eps && p.y <= q.y+n.h+eps
	}
	for k, e := range spec.edges {
		r := pl.edges[k]
		if e.from == e.to {
			if r != nil {
				t.Errorf("loop %d has a route", k)
			}
			continue
		}
		if r == nil || len(r.points) < 2 {
			t.Fatalf("edge %d: no route", k)
		}
		if !on(r.points[0], e.from) || !on(r.points[len(r.points)-1], e.to) {
			t.Errorf("edge %d (%d→%d) runs %v → %v, not between its ends %v, %v", k, e.from, e.to, r.points[0], r.points[len(r.points)-1], pl.nodes[e.from], pl.nodes[e.to])
		}
		if (r.label != nil) != (e.label != nil) {
			t.Errorf("edge %d: label %v, want one: %v", k, r.label, e.label != nil)
		}
		if r.label == nil {
			continue
		}
		for i, n := range spec.nodes {
			q := pl.nodes[i]
			lw, lh := e.label.w, e.label.h
			if r.label.x-lw/2 < q.x+n.w-eps && q.x < r.label.x+lw/2-eps && r.label.y-lh/2 < q.y+n.h-eps && q.y < r.label.y+lh/2-eps {
				t.Errorf("edge %d: label at %v over node %d at %v", k, *r.label, i, q)
			}
		}
	}
}

func placementsEqual(a, b *placement) bool {
	if a.w != b.w || a.h != b.h || a.crossings != b.crossings || !slices.Equal(a.nodes, b.nodes) || len(a.edges) != len(b.edges) {
		return false
	}
	for i := range a.edges {
		x, y := a.edges[i], b.edges[i]
		if (x == nil) != (y == nil) {
			return false
		}
		if x != nil && (!slices.Equal(x.points, y.points) || (x.label == nil) != (y.label == nil) || x.label != nil && *x.label != *y.label) {
			return false
		}
	}
	return true
}

// Cycles are broken against the build order, and what is built first
// comes first.
func TestRankCycles(t *testing.T) {
	spec := &layoutSpec{
		nodes: []specNode{{hint: 2}, {hint: 0}, {hint: 1}, {hint: 3, side: sideLeft}},
		edges: []specEdge{{from: 1, to: 2}, {from: 2, to: 0}, {from: 0, to: 1}, {from: 3, to: 1}},
	}
	r := rank(spec)
	if want := []int{3, 1, 2, 0}; !slices.Equal(r.layer, want) {
		t.Errorf("layers %v, want %v", r.layer, want)
	}
	if want := []bool{false, false, true, false}; !slices.Equal(r.reversed, want) {
		t.Errorf("reversed %v, want %v", r.reversed, want)
	}
	if r.layers != 4 {
		t.Errorf("%d layers, want 4", r.layers)
	}
}

func TestPack(t *testing.T) {
	for _, tc := range []struct {
		h, want, out []float64
	}{
		{[]float64{10, 10}, []float64{0, 50}, []float64{0, 50}},       // room: each where it wants
		{[]float64{10, 10}, []float64{20, 20}, []float64{13.5, 26.5}}, // a clash: both move, half each
		{[]float64{10, 10, 10}, []float64{30, 0, 100}, []float64{8.5, 21.5, 100}},
		{nil, nil, []float64{}},
	} {
		got := pack(tc.h, tc.want, func(int) float64 { return 3 })
		if !slices.Equal(got, tc.out) {
			t.Errorf("pack(%v, %v) = %v, want %v", tc.h, tc.want, got, tc.out)
		}
	}
}

func TestInversions(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 40; n++ {
		a := make([]int, n)
		for i := range a {
			a[i] = rnd.IntN(8)
		}
		want := 0
		for i := range a {
			for j := i + 1; j < n; j++ {
				if a[j] < a[i] {
					want++
				}
			}
		}
		if got := inversions(slices.Clone(a)); got != want {
			t.Errorf("inversions(%v) = %d, want %d", a, got, want)
		}
	}
}

// The Go layout is page/layout.js's: the same layers, order and
// coordinates, run by Chromium on the same containers — random ones and
// those of real drawings.
func TestLayoutMatchesJS(t *testing.T) {
	type job struct {
		spec *layoutSpec
		opts placeOptions
	}
	jobs := []job{{&layoutSpec{}, placeOptions{pad: pad{16, 16, 40, 14}, minGap: 44, nodeGap: 16, minW: 100}}} // an empty module
	rnd := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 150; i++ {
		jobs = append(jobs, job{randomSpec(rnd), randomOptions(rnd)})
	}
	graphs := []*drawing{}
	for _, tg := range testGraphs() {
		d, err := layOut(context.Background(), tg.g)
		if err != nil {
			t.Fatal(err)
		}
		graphs = append(graphs, d)
	}
	d, err := layOut(context.Background(), syntheticGraph(300))
	if err != nil {
		t.Fatal(err)
	}
	graphs = append(graphs, d)
	for _, d := range graphs {
		for _, c := range d.conts {
			p := pad{16, 16, 40, 14}
			if c.box == nil {
				p = pad{12, 12, 12, 12}
			}
			jobs = append(jobs, job{c.spec, placeOptions{pad: p, minGap: 44, nodeGap: 16, minW: c.minW}})
		}
	}
	var in []any
	for _, j := range jobs {
		in = append(in, specJS(j.spec, j.opts))
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}

	b := viewtest.New(t, viewtest.Options{})
	b.Open("layout.html", []byte("<!doctype html><html><body><script>"+mustRead("page/layout.js")+"</script></body></html>"))
	out := eval[string](b, `(() => {
		const L = window.bgLayout, jobs = `+string(data)+`;
		return JSON.stringify(jobs.map(j => {
			const r = L.rank(j.spec), p = L.place(j.spec, r, j.opts);
			return {
				layer: j.spec.nodes.map(n => r.layer[n.id]), reversed: j.spec.edges.map(e => !!r.reversed[e.id]), layers: r.layers,
				w: p.w, h: p.h, crossings: p.crossings, nodes: j.spec.nodes.map(n => [p.nodes[n.id].x, p.nodes[n.id].y]),
				edges: j.spec.edges.map(e => { const x = p.edges[e.id]; return x ? {points: x.points, label: x.label ? [x.label.x, x.label.y] : null, path: L.path(x.points, p.dir)} : null; }),
			};
		}));
	})()`)
	b.NoErrors()
	var js []struct {
		Layer     []int
		Reversed  []bool
		Layers    int
		W, H      float64
		Crossings int
		Nodes     [][2]float64
		Edges     []*struct {
			Points [][2]float64
			Label  *[2]float64
			Path   string
		}
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatal(err)
	}
	if len(js) != len(jobs) {
		t.Fatalf("%d results from JS, want %d", len(js), len(jobs))
	}
	const eps = 1e-6
	near := func(a, b float64) bool { return math.Abs(a-b) <= eps*math.Max(1, math.Abs(a)) }
	for i, j := range jobs {
		want := js[i]
		r := rank(j.spec)
		p := place(j.spec, r, j.opts)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Errorf("container %d (%d nodes, %d edges): "+format, append([]any{i, len(j.spec.nodes), len(j.spec.edges)}, args...)...)
		}
		if !slices.Equal(r.layer, want.Layer) || !slices.Equal(r.reversed, want.Reversed) || r.layers != want.Layers {
			fail("ranks differ:\nGo %v %v %d\nJS %v %v %d", r.layer, r.reversed, r.layers, want.Layer, want.Reversed, want.Layers)
			continue
		}
		if !near(p.w, want.W) || !near(p.h, want.H) || p.crossings != want.Crossings {
			fail("size %vx%v, %d crossings; JS %vx%v, %d", p.w, p.h, p.crossings, want.W, want.H, want.Crossings)
		}
		for k, q := range p.nodes {
			if !near(q.x, want.Nodes[k][0]) || !near(q.y, want.Nodes[k][1]) {
				fail("node %d at %v; JS %v", k, q, want.Nodes[k])
				break
			}
		}
		for k, e := range p.edges {
			we := want.Edges[k]
			if (e == nil) != (we == nil) {
				fail("edge %d: route %v; JS %v", k, e != nil, we != nil)
				continue
			}
			if e == nil {
				continue
			}
			if path := svgPath(e.points, j.opts.dir); path != we.Path {
				fail("edge %d: path\n%s\nJS\n%s", k, path, we.Path)
			}
			if (e.label == nil) != (we.Label == nil) || e.label != nil && (!near(e.label.x, we.Label[0]) || !near(e.label.y, we.Label[1])) {
				fail("edge %d: label %v; JS %v", k, e.label, we.Label)
			}
		}
	}
}

// specJS is a container and options as layout.js takes them.
func specJS(s *layoutSpec, o placeOptions) map[string]any {
	var nodes, edges []map[string]any
	for i, n := range s.nodes {
		m := map[string]any{"id": fmt.Sprintf("v%d", i), "hint": n.hint, "w": n.w, "h": n.h}
		switch n.side {
		case sideLeft:
			m["side"] = "left"
		case sideRight:
			m["side"] = "right"
		}
		nodes = append(nodes, m)
	}
	off := func(o offset) any {
		if !o.set {
			return nil
		}
		return o.at
	}
	for i, e := range s.edges {
		m := map[string]any{"id": fmt.Sprintf("e%d", i), "from": fmt.Sprintf("v%d", e.from), "to": fmt.Sprintf("v%d", e.to),
			"fromOff": off(e.fromOff), "toOff": off(e.toOff), "label": nil}
		if e.label != nil {
			m["label"] = map[string]float64{"w": e.label.w, "h": e.label.h}
		}
		edges = append(edges, m)
	}
	dir := "LR"
	if o.dir == dirTB {
		dir = "TB"
	}
	return map[string]any{
		"spec": map[string]any{"nodes": nonNil(nodes), "edges": nonNil(edges)},
		"opts": map[string]any{"pad": map[string]float64{"left": o.pad.left, "right": o.pad.right, "top": o.pad.top, "bottom": o.pad.bottom},
			"minGap": o.minGap, "nodeGap": o.nodeGap, "dir": dir, "minW": o.minW},
	}
}

func nonNil(s []map[string]any) []map[string]any {
	if s == nil {
		return []map[string]any{}
	}
	return s
}
