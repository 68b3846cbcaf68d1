package view

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/graph/view/viewtest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.svg.golden from SVG's output")

// SVG's output is compared with testdata/*.svg.golden; `go test
// ./graph/view -run TestSVGGolden -update` rewrites them (they inline
// page/graph.css, so a change there needs it too).
func TestSVGGolden(t *testing.T) {
	for _, tg := range testGraphs() {
		t.Run(tg.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := SVG(context.Background(), tg.g, &buf); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tg.name+".svg.golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run `go test ./graph/view -run TestSVGGolden -update` to create it)", err)
			}
			if got := buf.String(); got != string(want) {
				t.Errorf("%s differs from the golden file (run `go test ./graph/view -run TestSVGGolden -update` and review the diff):\n%s", path, firstDiff(got, string(want)))
			}
		})
	}
}

// firstDiff shows the first differing line of got and want.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + a + "\nwant: " + b
		}
	}
	return "(no difference in lines)"
}

// The same graph gives the same bytes, from its copy too: nothing
// depends on map order or addresses.
func TestSVGDeterministic(t *testing.T) {
	g := syntheticGraph(300)
	var a, b bytes.Buffer
	if err := SVG(context.Background(), g, &a); err != nil {
		t.Fatal(err)
	}
	if err := SVG(context.Background(), g.Clone(), &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("two renderings differ:\n%s", firstDiff(a.String(), b.String()))
	}
}

// The drawing's geometry: no two nodes overlap; a node is inside its
// module's cluster, under the head, and a cluster inside its parent's;
// sibling clusters are apart; every edge runs from its source's box to
// its target's; no label covers a node.
func TestSVGGeometry(t *testing.T) {
	cases := testGraphs()
	cases = append(cases, struct {
		name string
		g    *graph.Graph
	}{"synthetic300", syntheticGraph(300)})
	for _, tg := range cases {
		t.Run(tg.name, func(t *testing.T) {
			d, err := layOut(context.Background(), tg.g)
			if err != nil {
				t.Fatal(err)
			}
			d.setOrigins(d.root, point{})
			checkGeometry(t, d)
		})
	}
}

type rect struct{ x, y, w, h float64 }

func (r rect) overlaps(q rect) bool {
	const eps = 1e-6
	return r.x < q.x+q.w-eps && q.x < r.x+r.w-eps && r.y < q.y+q.h-eps && q.y < r.y+r.h-eps
}

func (r rect) holds(q rect) bool {
	const eps = 1e-6
	return q.x >= r.x-eps && q.y >= r.y-eps && q.x+q.w <= r.x+r.w+eps && q.y+q.h <= r.y+r.h+eps
}

func (r rect) touches(p point) bool { return r.holds(rect{p.x, p.y, 0, 0}) }

func boxOf(e *entity) rect { p := e.at(); return rect{p.x, p.y, e.w, e.h} }

func checkGeometry(t *testing.T, d *drawing) {
	t.Helper()
	for i, e := range d.nodes {
		r := boxOf(e)
		for j := range i {
			if r.overlaps(boxOf(d.nodes[j])) {
				t.Errorf("nodes %s and %s overlap", e.node.ID, d.nodes[j].node.ID)
			}
		}
		if box := e.cont.box; box != nil {
			inner := boxOf(box)
			inner.y, inner.h = inner.y+28, inner.h-28
			if !inner.holds(r) {
				t.Errorf("node %s at %v is not inside module %s at %v", e.node.ID, r, box.sub.id, boxOf(box))
			}
		}
	}
	for _, c := range d.conts {
		for i, e := range c.ents {
			if e.sub == nil {
				continue
			}
			if c.box != nil && !boxOf(c.box).holds(boxOf(e)) {
				t.Errorf("module %s is not inside module %s", e.sub.id, c.id)
			}
			for _, f := range c.ents[:i] {
				if boxOf(e).overlaps(boxOf(f)) {
					t.Errorf("module %s overlaps %s", e.sub.id, f.key())
				}
			}
		}
	}
	for i, e := range d.g.Edges {
		pts, label := d.route(i)
		if e.From == e.To {
			continue
		}
		from, to := d.nodeEntity(e.From), d.nodeEntity(e.To)
		if len(pts) < 2 || !boxOf(from).touches(pts[0]) || !boxOf(to).touches(pts[len(pts)-1]) {
			t.Errorf("edge %d (%s → %s) runs %v → %v, not from %v to %v", i, e.From, e.To, pts[0], pts[len(pts)-1], boxOf(from), boxOf(to))
		}
		if label == nil {
			t.Errorf("edge %d has no label", i)
			continue
		}
		lw := textWidth(e.Key, 10, false) + 6
		lr := rect{label.x - lw/2, label.y - 7, lw, 14}
		for _, n := range d.nodes {
			if lr.overlaps(boxOf(n)) {
				t.Errorf("edge %d: label %v covers node %s at %v", i, lr, n.node.ID, boxOf(n))
			}
		}
	}
}

// A browser draws the SVG as laid out: it loads as a document without
// errors, and every line of text is inside its node's box.
func TestBrowserSVG(t *testing.T) {
	b := viewtest.New(t, viewtest.Options{})
	for _, tg := range testGraphs() {
		var buf bytes.Buffer
		if err := SVG(context.Background(), tg.g, &buf); err != nil {
			t.Fatal(err)
		}
		b.Open(tg.name+".svg", buf.Bytes())
		out := eval[[]string](b, `(() => {
			const bad = [];
			document.querySelectorAll('g.bg-node').forEach(g => {
				const r = g.querySelector('rect').getBBox();
				g.querySelectorAll('text').forEach(t => {
					const q = t.getBBox();
					if (q.x < r.x - 0.5 || q.x + q.width > r.x + r.width + 0.5 || q.y < r.y - 0.5 || q.y + q.height > r.y + r.height + 0.5) {
						bad.push(g.id + ': "' + t.textContent + '" ' + JSON.stringify([q.x, q.y, q.width, q.height]) + ' outside ' + JSON.stringify([r.x, r.y, r.width, r.height]));
					}
				});
			});
			if (document.querySelectorAll('g.bg-node').length === 0) { bad.push('no nodes drawn'); }
			return bad;
		})()`)
		for _, s := range out {
			t.Errorf("%s: %s", tg.name, s)
		}
		b.NoErrors()
		viewtest.WriteArtifact(t, tg.name+".svg", buf.Bytes())
	}
}

// countdownCtx is cancelled once its Err has been asked n times.
type countdownCtx struct {
	context.Context
	n int
}

func (c *countdownCtx) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

// SVG stops at whichever check between its phases first sees the context
// cancelled, and returns its error; it checks more than once.
func TestSVGCancelled(t *testing.T) {
	g := syntheticGraph(100)
	checks := 0
	for ; ; checks++ {
		ctx := &countdownCtx{Context: context.Background(), n: checks}
		var buf bytes.Buffer
		err := SVG(ctx, g, &buf)
		if err == nil {
			break
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("after %d checks: %v, want context.Canceled", checks, err)
		}
		if buf.Len() != 0 {
			t.Fatalf("after %d checks: wrote %d bytes of a cancelled drawing", checks, buf.Len())
		}
	}
	if checks < 5 {
		t.Errorf("SVG checked its context %d times, want one per phase and module", checks)
	}
}

// Graphs at the edges of the layout: nothing at all, an empty module
// (and one named only by its node), and an edge from a node to itself
// (which fx reports as a cycle), drawn as a loop on the node with its key.
func TestSVGSmallGraphs(t *testing.T) {
	loop := graph.Node{ID: "n0", Kind: graph.KindConstructor, Name: "a.newA", Module: "a/b", Status: graph.StatusCycle, Order: -1}
	for name, g := range map[string]*graph.Graph{
		"empty":        {Schema: graph.Schema},
		"empty module": {Schema: graph.Schema, Modules: []graph.Module{{ID: "m", Name: "m"}}},
		"loop": {Schema: graph.Schema, Nodes: []graph.Node{loop},
			Edges: []graph.Edge{{From: "n0", To: "n0", Key: "*a.A", Cycle: true}}},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := SVG(context.Background(), g, &buf); err != nil {
				t.Fatal(err)
			}
			ids, text := svgElements(t, buf.Bytes())
			for _, m := range g.Modules {
				if _, ok := ids[graph.ModuleElementID(m.ID)]; !ok {
					t.Errorf("no module %s", m.ID)
				}
			}
			for i, e := range g.Edges {
				if class := ids[graph.EdgeElementID(i)]; !strings.Contains(class, "bg-edge-cycle") {
					t.Errorf("edge %d: class %q", i, class)
				}
				if !strings.Contains(text, e.Key) {
					t.Errorf("edge %d: no key", i)
				}
			}
			for _, n := range g.Nodes {
				if _, ok := ids[graph.ModuleElementID(n.Module)]; !ok {
					t.Errorf("no cluster for module %s, named by node %s", n.Module, n.ID)
				}
			}
		})
	}
}
