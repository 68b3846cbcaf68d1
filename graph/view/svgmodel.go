package view

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/bootgraph/bootgraph/graph"
)

// The SVG's drawing is the page's (page.js buildView, rankAll, placeAll)
// with every module expanded and infrastructure shown, and one change:
// the page merges the links between two boxes into one, labelled with
// the types that cross; here every edge stays an element of its own
// ("edge-<i>", labelled with its key), so links that share their ends
// share the ports on module borders but are routed, and labelled, apart.

// drawing is a graph made into containers: the top level and one per
// module, each holding boxes (nodes and the clusters of its child
// modules), ports on its border, and the links between them.
type drawing struct {
	g      *graph.Graph
	root   *container
	conts  []*container      // in module tree order, the top level first
	nodes  []*entity         // by index in g.Nodes
	index  map[string]int    // node ID to index in g.Nodes
	labels map[string]string // module ID to the name shown
	edges  [][]piece         // by index in g.Edges: its links, source to target
	hooks  map[string][]graph.Hook
	timing map[string]graph.BuildStep
}

// container is the top level or an expanded module.
type container struct {
	id     string // module ID; "" is the top level
	box    *entity
	ents   []*entity
	ports  []*port
	portBy map[string]*port
	links  []*link
	spec   *layoutSpec
	ranks  *ranking
	lay    *placement
	minW   float64
	origin point // the top left corner, in the drawing
}

// entity is a box in a container: a node, or a module's cluster.
type entity struct {
	cont  *container
	idx   int // in cont's spec
	node  *graph.Node
	sub   *container // a cluster's contents
	hint  float64
	w, h  float64
	lines []textLine
	// the cluster's head: the module's name and what it holds
	title, counts string
}

// port is where links cross a module's border, one per box on the other
// side (as on the page: "in:<box>", "out:<box>").
type port struct {
	idx  int // in its container's spec
	hint float64
	side portSide
}

// link is an edge's run within one container, between two of its boxes
// or a box and a port of the container; an end on a cluster is at one of
// the cluster's ports (fromPort, toPort).
type link struct {
	from, to         int // spec indexes
	fromPort, toPort *port
	label            *size // on the link in the container where the edge's ends meet
}

// piece is a link of an edge: the container and the link's index there.
type piece struct {
	c    *container
	link int
}

// textLine is a line of a box's text.
type textLine struct {
	text  string
	px    float64
	bold  bool
	class string
}

// newDrawing makes g into containers, boxes, ports and links.
func newDrawing(g *graph.Graph) *drawing {
	tree := g.ModuleTree()
	d := &drawing{
		g:      g,
		nodes:  make([]*entity, len(g.Nodes)),
		index:  make(map[string]int, len(g.Nodes)),
		labels: make(map[string]string, len(tree.Modules)),
		edges:  make([][]piece, len(g.Edges)),
		hooks:  make(map[string][]graph.Hook),
		timing: make(map[string]graph.BuildStep),
	}
	for i, n := range g.Nodes {
		d.index[n.ID] = i
	}
	for _, h := range g.Hooks {
		d.hooks[h.Node] = append(d.hooks[h.Node], h)
	}
	for _, hs := range d.hooks {
		slices.SortStableFunc(hs, func(a, b graph.Hook) int { return a.Index - b.Index })
	}
	if g.Run != nil {
		for _, s := range g.Timing().Build {
			d.timing[s.Node] = s
		}
	}
	for _, m := range tree.Modules {
		d.labels[m.ID] = m.Label()
	}
	d.root = d.addContainer("")
	d.fill(tree, d.root)
	for i := range g.Edges {
		d.link(i)
	}
	return d
}

func (d *drawing) addContainer(id string) *container {
	c := &container{id: id, portBy: make(map[string]*port)}
	d.conts = append(d.conts, c)
	return c
}

// fill adds c's child modules, as clusters, and its nodes, recursively.
func (d *drawing) fill(tree *graph.ModuleTree, c *container) []*graph.Node {
	var deep []*graph.Node
	for _, id := range tree.Children[c.id] {
		e := &entity{cont: c, idx: len(c.ents)}
		c.ents = append(c.ents, e)
		e.sub = d.addContainer(id)
		e.sub.box = e
		inside := d.fill(tree, e.sub)
		e.hint = orderHint(inside)
		e.title, e.counts = d.labels[id], kindCounts(inside)
		deep = append(deep, inside...)
	}
	for _, i := range tree.Nodes[c.id] {
		n := &d.g.Nodes[i]
		e := &entity{cont: c, idx: len(c.ents), node: n, hint: 1e6 + float64(i)}
		if n.Order >= 0 {
			e.hint = float64(n.Order)
		}
		e.lines = d.nodeLines(n)
		e.w, e.h = boxSize(e.lines, 90)
		c.ents = append(c.ents, e)
		d.nodes[i] = e
		deep = append(deep, n)
	}
	return deep
}

// orderHint is the build's hint of order for a module: the first of its
// functions that runs.
func orderHint(nodes []*graph.Node) float64 {
	best, anyOrder := math.Inf(1), math.Inf(1)
	for _, n := range nodes {
		if n.Order < 0 {
			continue
		}
		anyOrder = math.Min(anyOrder, float64(n.Order))
		if n.Kind != graph.KindSupply && !n.Infra {
			best = math.Min(best, float64(n.Order))
		}
	}
	switch {
	case !math.IsInf(best, 1):
		return best
	case !math.IsInf(anyOrder, 1):
		return anyOrder + 0.5
	}
	return 1e6
}

// link routes edge i: in the container where its ends meet, between the
// boxes that hold them, and in each container below, between the end and
// the port on the border towards the other box.
func (d *drawing) link(i int) {
	e := &d.g.Edges[i]
	a, b := d.nodeEntity(e.From), d.nodeEntity(e.To)
	if a == b {
		return // a loop on a node, drawn on its own
	}
	lca := commonContainer(a, b)
	A, B := entityAt(a, lca), entityAt(b, lca)
	outName, inName := "out:"+B.key(), "in:"+A.key()
	var fromPort, toPort *port
	if A != a {
		fromPort = A.sub.port(outName, B.hint, sideRight)
	}
	if B != b {
		toPort = B.sub.port(inName, A.hint, sideLeft)
	}
	label := &size{w: math.Ceil(textWidth(e.Key, 10, false)) + 6, h: 14}
	top := piece{lca, lca.addLink(&link{from: A.idx, to: B.idx, fromPort: fromPort, toPort: toPort, label: label})}
	var up, down []piece
	for x := a; x.cont != lca; x = x.cont.box {
		c := x.cont
		l := &link{from: x.idx, to: c.port(outName, B.hint, sideRight).idx}
		if x != a {
			l.fromPort = x.sub.port(outName, B.hint, sideRight)
		}
		up = append(up, piece{c, c.addLink(l)})
	}
	for x := b; x.cont != lca; x = x.cont.box {
		c := x.cont
		l := &link{from: c.port(inName, A.hint, sideLeft).idx, to: x.idx}
		if x != b {
			l.toPort = x.sub.port(inName, A.hint, sideLeft)
		}
		down = append(down, piece{c, c.addLink(l)})
	}
	slices.Reverse(down)
	d.edges[i] = append(append(up, top), down...)
}

func (d *drawing) nodeEntity(id string) *entity { return d.nodes[d.index[id]] }

// key names a box among its container's.
func (e *entity) key() string {
	if e.node != nil {
		return "n:" + e.node.ID
	}
	return "m:" + e.sub.id
}

// port returns c's port name, made with side and hint if new.
func (c *container) port(name string, hint float64, side portSide) *port {
	if p, ok := c.portBy[name]; ok {
		return p
	}
	p := &port{idx: len(c.ents) + len(c.ports), hint: hint, side: side}
	c.ports = append(c.ports, p)
	c.portBy[name] = p
	return p
}

func (c *container) addLink(l *link) int {
	c.links = append(c.links, l)
	return len(c.links) - 1
}

// commonContainer is the innermost container that holds both boxes, at
// any depth.
func commonContainer(a, b *entity) *container {
	in := map[*container]bool{}
	for c := b.cont; ; c = c.box.cont {
		in[c] = true
		if c.box == nil {
			break
		}
	}
	c := a.cont
	for !in[c] {
		c = c.box.cont
	}
	return c
}

// entityAt is the box of container c that holds e.
func entityAt(e *entity, c *container) *entity {
	for e.cont != c {
		e = e.cont.box
	}
	return e
}

// rankAll layers every container, top-down: the ports of a cluster take
// the side its links come from in the container around it.
func (d *drawing) rankAll(c *container) {
	c.spec = &layoutSpec{}
	for _, e := range c.ents {
		c.spec.nodes = append(c.spec.nodes, specNode{hint: e.hint})
	}
	for _, p := range c.ports {
		c.spec.nodes = append(c.spec.nodes, specNode{hint: p.hint, side: p.side})
	}
	for _, l := range c.links {
		c.spec.edges = append(c.spec.edges, specEdge{from: l.from, to: l.to})
	}
	c.ranks = rank(c.spec)
	for i, l := range c.links {
		rev := c.ranks.reversed[i]
		if l.fromPort != nil {
			l.fromPort.side = sideRight
			if rev {
				l.fromPort.side = sideLeft
			}
		}
		if l.toPort != nil {
			l.toPort.side = sideLeft
			if rev {
				l.toPort.side = sideRight
			}
		}
	}
	for _, e := range c.ents {
		if e.sub != nil {
			d.rankAll(e.sub)
		}
	}
}

// placeAll places every container, bottom-up: a cluster's size and the
// places of its ports come from its contents.
func (d *drawing) placeAll(ctx context.Context, c *container) error {
	for _, e := range c.ents {
		if e.sub == nil {
			continue
		}
		e.sub.minW = textWidth(e.title, 13, true) + textWidth(e.counts, 10, false) + 40
		if err := d.placeAll(ctx, e.sub); err != nil {
			return err
		}
		e.w, e.h = e.sub.lay.w, e.sub.lay.h
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for i, e := range c.ents {
		c.spec.nodes[i].w, c.spec.nodes[i].h = e.w, e.h
	}
	// A link's end on a cluster is at the cluster's port.
	at := func(ent int, p *port) offset {
		if p == nil {
			return offset{}
		}
		return offset{at: c.ents[ent].sub.lay.nodes[p.idx].y, set: true}
	}
	for i, l := range c.links {
		se := &c.spec.edges[i]
		se.label = l.label
		se.fromOff, se.toOff = at(l.from, l.fromPort), at(l.to, l.toPort)
	}
	p := pad{left: 16, right: 16, top: 40, bottom: 14}
	if c.box == nil {
		p = pad{left: 12, right: 12, top: 12, bottom: 12}
	}
	c.lay = place(c.spec, c.ranks, placeOptions{pad: p, minGap: 44, nodeGap: 16, dir: dirLR, minW: c.minW})
	return nil
}

// setOrigins sets each container's top left corner in the drawing.
func (d *drawing) setOrigins(c *container, origin point) {
	c.origin = origin
	for _, e := range c.ents {
		if e.sub != nil {
			p := c.lay.nodes[e.idx]
			d.setOrigins(e.sub, point{origin.x + p.x, origin.y + p.y})
		}
	}
}

// at is where a box's top left corner is in the drawing.
func (e *entity) at() point {
	p := e.cont.lay.nodes[e.idx]
	return point{e.cont.origin.x + p.x, e.cont.origin.y + p.y}
}

// route is edge i's points in the drawing, source to target, and its
// label's centre; nil for a loop.
func (d *drawing) route(i int) ([]point, *point) {
	var pts []point
	var label *point
	for _, pc := range d.edges[i] {
		r := pc.c.lay.edges[pc.link]
		o := pc.c.origin
		for _, p := range r.points {
			q := point{o.x + p.x, o.y + p.y}
			// Links meet at ports: one point, computed on both sides.
			if n := len(pts); n > 0 && math.Abs(pts[n-1].x-q.x) < 1e-6 && math.Abs(pts[n-1].y-q.y) < 1e-6 {
				continue
			}
			pts = append(pts, q)
		}
		if r.label != nil {
			label = &point{o.x + r.label.x, o.y + r.label.y}
		}
	}
	return pts, label
}

// ---- text, as the page writes it ----------------------------------------

// nodeLines are the lines of a node's box (page.js nodeLines, without
// live status and differences).
func (d *drawing) nodeLines(n *graph.Node) []textLine {
	kind := string(n.Kind)
	if n.Private {
		kind += " (private)"
	}
	if n.Infra {
		kind += " · infrastructure"
	}
	lines := []textLine{{text: kind, px: 10, class: "bg-t-kind"}}
	name := n.Name
	if name == "" {
		name = n.Func
	}
	switch {
	case n.Kind == graph.KindMissing:
		name = "missing " + name
	case n.Order >= 0:
		name = "#" + strconv.Itoa(n.Order) + " " + name
	}
	lines = append(lines, textLine{text: name, px: 12, bold: true, class: "bg-t-name"})
	if hk := d.hookText(n); hk != "" {
		lines = append(lines, textLine{text: hk, px: 10, class: "bg-t-hook"})
	}
	switch {
	case d.g.Run != nil && n.Error != "":
		lines = append(lines, textLine{text: "failed: " + clip(n.Error, 50), px: 10, class: "bg-t-bad"})
	case d.g.Run != nil && n.Ran:
		t := "built in " + graph.FormatDuration(n.RuntimeNs)
		if tm, ok := d.timing[n.ID]; ok && len(tm.Waits) > 0 {
			t = "waited " + graph.FormatDuration(tm.WaitNs) + " for " + strconv.Itoa(len(tm.Waits)) + " function" + plural(len(tm.Waits)) + ", own " + graph.FormatDuration(tm.OwnNs)
		}
		lines = append(lines, textLine{text: t, px: 10, class: "bg-t-run"})
	case d.g.Run != nil:
		if n.Kind != graph.KindMissing && n.Kind != graph.KindBuiltin && n.Kind != graph.KindAbsent {
			lines = append(lines, textLine{text: "did not run", px: 10, class: "bg-t-muted"})
		}
	case n.Status != graph.StatusOK:
		class := "bg-t-bad"
		if n.Status == graph.StatusUnused || n.Status == graph.StatusAbsent {
			class = "bg-t-muted"
		}
		lines = append(lines, textLine{text: string(n.Status), px: 10, class: class})
	}
	return lines
}

// hookText lists a node's hooks and, after a run, their start time.
func (d *drawing) hookText(n *graph.Node) string {
	hs := d.hooks[n.ID]
	if len(hs) == 0 {
		return ""
	}
	idx := make([]string, len(hs))
	var startNs int64
	for i, h := range hs {
		idx[i] = "#" + strconv.Itoa(h.Index)
		startNs += h.StartNs
	}
	t := "hooks " + strings.Join(idx, ", ")
	if len(hs) == 1 {
		t = "hook " + idx[0]
	}
	if d.g.Run != nil {
		t += " · started in " + graph.FormatDuration(startNs)
	}
	return t
}

// nodeTitle is a node's tooltip (page.js nodeTitle).
func nodeTitle(n *graph.Node) string {
	var b strings.Builder
	b.WriteString(cmp.Or(n.Func, n.Name))
	if n.Location != "" {
		b.WriteString("\n" + n.Location)
	}
	b.WriteString("\nmodule " + cmp.Or(n.Module, "(top level)"))
	b.WriteString("\nstatus " + string(n.Status))
	for _, p := range n.Inputs {
		b.WriteString("\nneeds " + p.Key())
		if p.Optional {
			b.WriteString(" (optional)")
		}
	}
	for _, p := range n.Outputs {
		b.WriteString("\nprovides " + p.Key())
	}
	if n.Error != "" {
		b.WriteString("\nerror: " + n.Error)
	}
	return b.String()
}

// kindCounts says what a module holds: "3 constructors · 1 invoke".
func kindCounts(nodes []*graph.Node) string {
	count := map[graph.NodeKind]int{}
	for _, n := range nodes {
		count[n.Kind]++
	}
	var out []string
	for _, k := range []graph.NodeKind{graph.KindConstructor, graph.KindInvoke, graph.KindDecorator, graph.KindSupply,
		graph.KindReplace, graph.KindBuiltin, graph.KindMissing, graph.KindAbsent} {
		switch c := count[k]; {
		case c == 1:
			out = append(out, "1 "+string(k))
		case c > 1 && k == graph.KindSupply:
			out = append(out, strconv.Itoa(c)+" supplies")
		case c > 1:
			out = append(out, strconv.Itoa(c)+" "+string(k)+"s")
		}
	}
	return strings.Join(out, " · ")
}

// clip shortens s to max characters, the last an ellipsis.
func clip(s string, max int) string {
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max-1]) + "…"
}

// boxSize is the size of a box around lines (page.js box).
func boxSize(lines []textLine, minW float64) (w, h float64) {
	w, h = minW, 10
	for _, l := range lines {
		w = math.Max(w, textWidth(l.text, l.px, l.bold)+18)
		h += l.px + 4
	}
	return math.Ceil(w), math.Ceil(h)
}
