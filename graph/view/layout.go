package view

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
)

// This file and rank.go are page/layout.js in Go, step for step, so that
// the SVG and the page draw a container alike: a layered (Sugiyama)
// drawing, left to right, of one container — the top level, or a module —
// with nested containers laid out first and placed as boxes with ports on
// their borders. Where the two differ in form (indexes for ids, slices for
// objects) they compute the same numbers; TestLayoutMatchesJS holds them
// to it. Change both together.

// portSide pins a port to the first or the last layer of its container.
type portSide int

const (
	sideNone  portSide = iota // an entity: layered by its edges
	sideLeft                  // first layer: edges come in here
	sideRight                 // last layer: edges go out here
)

// layoutDir is the direction the layers run.
type layoutDir int

const (
	dirLR layoutDir = iota // layers left to right
	dirTB                  // layers top to bottom
)

// offset is where along a nested box's border an edge ends: at a port's
// position when set, else at the box's middle.
type offset struct {
	at  float64
	set bool
}

// specNode is an entity (a box of w×h) or a port (side set, w = h = 0).
type specNode struct {
	hint float64 // the build order: what is built first comes first
	side portSide
	w, h float64
}

// specEdge is a link between two nodes of a spec, by index.
type specEdge struct {
	from, to int
	// label is the size of the edge's label, or nil.
	label *size
	// fromOff and toOff are the ends' offsets on nested boxes.
	fromOff, toOff offset
}

type size struct{ w, h float64 }

type point struct{ x, y float64 }

// layoutSpec is what layout.js calls spec.
type layoutSpec struct {
	nodes []specNode
	edges []specEdge
}

// placeOptions are layout.js place's opts.
type placeOptions struct {
	pad             pad
	minGap, nodeGap float64
	dir             layoutDir
	minW            float64 // the least extent across the layers' direction
}

type pad struct{ left, right, top, bottom float64 }

// placement is a laid-out container: its size, each spec node's top-left
// corner, each edge's route (by spec edge index; nil for a self-loop).
type placement struct {
	w, h      float64
	nodes     []point
	edges     []*route
	crossings int
	dir       layoutDir
}

// route is an edge's points from its source to its target and the
// centre of its label, if any.
type route struct {
	points []point
	label  *point
}

// vertex is a node of a layer: a spec node or a dummy of a long edge.
// u runs along the layers and v across them.
type vertex struct {
	du, dv   float64
	side     portSide
	hint     float64
	layer    int
	up, down []adjacent
	dummy    bool
	u, v     float64
	pos      int
	bc       float64
}

// adjacent is a vertex's link to a neighbour in the next or previous
// layer: off is where the link ends on this vertex, offOther where on the
// neighbour.
type adjacent struct {
	n             *vertex
	w             float64
	off, offOther offset
}

// chain is an edge through its dummies, first to last along the layers.
type chain struct {
	edge       int
	rev        bool
	nodes      []*vertex
	aOff, bOff offset
	lab        *labelSlot
	gap        int
}

// labelSlot is where an edge's label goes in the gap after its first end.
type labelSlot struct {
	want, dv, du, v float64
	row             int
	rowDepth        float64
}

// place orders the layers and computes coordinates (layout.js place).
func place(spec *layoutSpec, ranks *ranking, opts placeOptions) *placement {
	tb := opts.dir == dirTB
	nl := ranks.layers
	layers := make([][]*vertex, nl)
	verts := make([]*vertex, len(spec.nodes))
	var all []*vertex
	for i, n := range spec.nodes {
		v := &vertex{du: n.w, dv: n.h, side: n.side, hint: n.hint, layer: ranks.layer[i]}
		if tb {
			v.du, v.dv = n.h, n.w
		}
		verts[i] = v
		all = append(all, v)
		layers[v.layer] = append(layers[v.layer], v)
	}
	// Chains of dummy nodes for edges longer than one layer.
	var chains []*chain
	for i, e := range spec.edges {
		if e.from == e.to {
			continue
		}
		rev := ranks.reversed[i]
		a, b := verts[e.from], verts[e.to] // a before b
		ch := &chain{edge: i, rev: rev, aOff: e.fromOff, bOff: e.toOff}
		if l := e.label; l != nil {
			ch.lab = &labelSlot{dv: l.h, du: l.w}
			if tb {
				ch.lab.dv, ch.lab.du = l.w, l.h
			}
		}
		if rev {
			a, b = b, a
			ch.aOff, ch.bOff = e.toOff, e.fromOff
		}
		ch.nodes = append(ch.nodes, a)
		for k := a.layer + 1; k < b.layer; k++ {
			d := &vertex{layer: k, dummy: true}
			all = append(all, d)
			layers[k] = append(layers[k], d)
			ch.nodes = append(ch.nodes, d)
		}
		ch.nodes = append(ch.nodes, b)
		for j := 0; j+1 < len(ch.nodes); j++ {
			x, y := ch.nodes[j], ch.nodes[j+1]
			w := 1.0
			switch {
			case x.dummy && y.dummy:
				w = 8
			case x.dummy || y.dummy:
				w = 2
			}
			// The ends of an edge at a port of a nested box are off its middle.
			var xo, yo offset
			if j == 0 {
				xo = ch.aOff
			}
			if j+2 == len(ch.nodes) {
				yo = ch.bOff
			}
			x.down = append(x.down, adjacent{n: y, w: w, off: xo, offOther: yo})
			y.up = append(y.up, adjacent{n: x, w: w, off: yo, offOther: xo})
		}
		chains = append(chains, ch)
	}
	best := orderLayers(layers, len(all))
	pl := &placement{crossings: best, dir: opts.dir}
	across(layers, len(all), opts)
	gapDepth := placeLabels(chains, nl, tb)
	colU, colD, extentU := along(layers, gapDepth, opts)

	// v extent: nodes and labels, shifted to start at the padding.
	vPad0, vPad1 := opts.pad.top, opts.pad.bottom
	if tb {
		vPad0, vPad1 = opts.pad.left, opts.pad.right
	}
	minV, maxV := math.Inf(1), math.Inf(-1)
	for _, v := range all {
		minV, maxV = math.Min(minV, v.v), math.Max(maxV, v.v+v.dv)
	}
	for _, ch := range chains {
		if ch.lab != nil {
			minV, maxV = math.Min(minV, ch.lab.v-ch.lab.dv/2), math.Max(maxV, ch.lab.v+ch.lab.dv/2)
		}
	}
	if math.IsInf(minV, 1) {
		minV, maxV = 0, 0
	}
	shift := vPad0 - minV
	for _, v := range all {
		v.v += shift
	}
	for _, ch := range chains {
		if ch.lab != nil {
			ch.lab.v += shift
		}
	}
	extentV := maxV - minV + vPad0 + vPad1
	if tb {
		extentV = math.Max(extentV, opts.minW)
	}

	xy := func(u, v float64) point {
		if tb {
			return point{v, u}
		}
		return point{u, v}
	}
	pl.edges = make([]*route, len(spec.edges))
	for _, ch := range chains {
		pl.edges[ch.edge] = edgeRoute(ch, colU, colD, tb, xy)
	}
	pl.nodes = make([]point, len(spec.nodes))
	for i, v := range verts {
		pl.nodes[i] = xy(v.u, v.v)
	}
	pl.w, pl.h = extentU, extentV
	if tb {
		pl.w, pl.h = extentV, extentU
	}
	return pl
}

// orderLayers orders each layer: by hint, then barycentre sweeps, keeping
// the order with the fewest crossings, which it returns.
func orderLayers(layers [][]*vertex, total int) int {
	for _, ls := range layers {
		slices.SortStableFunc(ls, func(a, b *vertex) int { return cmp.Compare(a.hint, b.hint) })
	}
	index(layers)
	best := crossings(layers)
	bestOrder := cloneLayers(layers)
	rounds := 12
	switch {
	case total > 3000:
		rounds = 3
	case total > 800:
		rounds = 6
	}
	for r := 0; r < rounds && best > 0; r++ {
		sweep(layers, r%2 == 0)
		if c := crossings(layers); c < best {
			best, bestOrder = c, cloneLayers(layers)
		}
	}
	copy(layers, bestOrder)
	index(layers)
	return best
}

func index(layers [][]*vertex) {
	for _, ls := range layers {
		for i, v := range ls {
			v.pos = i
		}
	}
}

func cloneLayers(layers [][]*vertex) [][]*vertex {
	out := make([][]*vertex, len(layers))
	for i, ls := range layers {
		out[i] = slices.Clone(ls)
	}
	return out
}

// crossings counts the crossings of the links between adjacent layers.
func crossings(layers [][]*vertex) int {
	c := 0
	var pairs [][2]int
	var ends []int
	for l := 0; l+1 < len(layers); l++ {
		pairs = pairs[:0]
		for _, v := range layers[l] {
			for _, d := range v.down {
				pairs = append(pairs, [2]int{v.pos, d.n.pos})
			}
		}
		slices.SortFunc(pairs, func(p, q [2]int) int { return cmp.Or(p[0]-q[0], p[1]-q[1]) })
		ends = ends[:0]
		for _, p := range pairs {
			ends = append(ends, p[1])
		}
		c += inversions(ends)
	}
	return c
}

// sweep reorders each layer by the barycentre of its neighbours in the
// layer before it (down) or after it.
func sweep(layers [][]*vertex, down bool) {
	if len(layers) == 0 {
		return // an empty container: nothing to order
	}
	from, to, step := 1, len(layers), 1
	if !down {
		from, to, step = len(layers)-2, -1, -1
	}
	for l := from; l != to; l += step {
		ls := layers[l]
		for _, v := range ls {
			nb := v.down
			if down {
				nb = v.up
			}
			if len(nb) == 0 {
				v.bc = float64(v.pos)
				continue
			}
			s, w := 0.0, 0.0
			for _, x := range nb {
				s += float64(x.n.pos) * x.w
				w += x.w
			}
			v.bc = s / w
		}
		slices.SortFunc(ls, func(a, b *vertex) int { return cmp.Or(cmp.Compare(a.bc, b.bc), a.pos-b.pos) })
		for i, v := range ls {
			v.pos = i
		}
	}
}

// across places the vertices across the layers: stacked, then each pulled
// towards its neighbours (weighted mean of their ends) keeping order and
// gaps (isotonic regression).
func across(layers [][]*vertex, total int, opts placeOptions) {
	spacing := func(a, b *vertex) float64 {
		if a.dummy || b.dummy {
			return 6
		}
		return opts.nodeGap
	}
	for _, ls := range layers {
		y := 0.0
		for i, v := range ls {
			if i > 0 {
				y += spacing(ls[i-1], v)
			}
			v.v = y
			y += v.dv
		}
	}
	relax := func(down bool) {
		if len(layers) == 0 {
			return
		}
		from, to, step := 1, len(layers), 1
		if !down {
			from, to, step = len(layers)-2, -1, -1
		}
		for l := from; l != to; l += step {
			ls := layers[l]
			if len(ls) == 0 {
				continue
			}
			want := make([]float64, len(ls))
			h := make([]float64, len(ls))
			for i, v := range ls {
				h[i] = v.dv
				nb := v.down
				if down {
					nb = v.up
				}
				if len(nb) == 0 {
					want[i] = v.v
					continue
				}
				s, w := 0.0, 0.0
				for _, x := range nb {
					s += (x.n.v + anchor(x.n, x.offOther) - anchor(v, x.off)) * x.w
					w += x.w
				}
				want[i] = s / w
			}
			y := pack(h, want, func(i int) float64 { return spacing(ls[i-1], ls[i]) })
			for i, v := range ls {
				v.v = y[i]
			}
		}
	}
	passes := 8
	if total > 3000 {
		passes = 4
	}
	for p := 0; p < passes; p++ {
		relax(p%2 == 0)
	}
	relax(true)
}

// anchor is where across a vertex a link ends.
func anchor(v *vertex, off offset) float64 {
	if !off.set {
		return v.dv / 2
	}
	return off.at
}

// placeLabels puts labels in the gap after the first end of their edge
// along u and returns how deep each gap must be. Left to right, labels
// are short across the layers: they are packed across (v). Top down, they
// are long across: they keep their place and overlapping ones take rows
// of their own along u.
func placeLabels(chains []*chain, nl int, tb bool) []float64 {
	byGap := make([][]*labelSlot, nl)
	for _, ch := range chains {
		if ch.lab == nil {
			continue
		}
		ns := ch.nodes
		a, b := ns[0], ns[1]
		if ch.rev {
			a, b = ns[len(ns)-2], ns[len(ns)-1]
		}
		ch.gap = a.layer
		va := a.v
		switch {
		case a == ns[0]:
			va += anchor(a, ch.aOff)
		case !a.dummy:
			va += anchor(a, offset{})
		}
		vb := b.v
		switch {
		case b == ns[len(ns)-1]:
			vb += anchor(b, ch.bOff)
		case !b.dummy:
			vb += anchor(b, offset{})
		}
		ch.lab.want = (va + vb) / 2
		byGap[ch.gap] = append(byGap[ch.gap], ch.lab)
	}
	gapDepth := make([]float64, nl)
	for gi, ls := range byGap {
		if len(ls) == 0 {
			continue
		}
		slices.SortStableFunc(ls, func(a, b *labelSlot) int { return cmp.Compare(a.want, b.want) })
		depth := 0.0
		for _, l := range ls {
			depth = math.Max(depth, l.du)
		}
		if !tb {
			h, want := make([]float64, len(ls)), make([]float64, len(ls))
			for i, l := range ls {
				h[i], want[i] = l.dv, l.want-l.dv/2
			}
			y := pack(h, want, func(int) float64 { return 3 })
			for i, l := range ls {
				l.v = y[i] + l.dv/2
			}
			gapDepth[gi] = depth + 28
			continue
		}
		var ends []float64
		for _, l := range ls {
			lo, r := l.want-l.dv/2-6, 0
			for r < len(ends) && ends[r] > lo {
				r++
			}
			if r == len(ends) {
				ends = append(ends, 0)
			}
			ends[r] = l.want + l.dv/2 + 6
			l.row, l.v, l.rowDepth = r, l.want, depth+3
		}
		gapDepth[gi] = float64(len(ends))*(depth+3) + 20
	}
	return gapDepth
}

// along places the layers along u: a band per layer, as deep as its
// deepest node, then its gap. It returns each band's start and depth and
// the container's extent along u.
func along(layers [][]*vertex, gapDepth []float64, opts placeOptions) (colU, colD []float64, extentU float64) {
	tb := opts.dir == dirTB
	uPad0, uPad1 := opts.pad.left, opts.pad.right
	if tb {
		uPad0, uPad1 = opts.pad.top, opts.pad.bottom
	}
	nl := len(layers)
	colU, colD = make([]float64, nl), make([]float64, nl)
	u := uPad0
	for li, ls := range layers {
		cd := 0.0
		for _, v := range ls {
			cd = math.Max(cd, v.du)
		}
		colU[li], colD[li] = u, cd
		u += cd + math.Max(opts.minGap, gapDepth[li])
	}
	if nl > 0 {
		extentU = colU[nl-1] + colD[nl-1]
	}
	extentU += uPad1
	if !tb {
		extentU = math.Max(extentU, opts.minW)
	}
	for li, ls := range layers {
		for _, v := range ls {
			v.u = colU[li] + (colD[li]-v.du)/2
			switch v.side {
			case sideLeft:
				v.u = 0
			case sideRight:
				v.u = extentU
			}
		}
	}
	return colU, colD, extentU
}

// edgeRoute runs an edge through its dummies, with a straight run under
// its label; a reversed edge is drawn from its source back to its target.
func edgeRoute(ch *chain, colU, colD []float64, tb bool, xy func(u, v float64) point) *route {
	ns := ch.nodes
	first, last := ns[0], ns[len(ns)-1]
	pts := [][2]float64{{first.u + first.du, first.v + anchor(first, ch.aOff)}}
	for _, d := range ns[1 : len(ns)-1] {
		pts = append(pts, [2]float64{colU[d.layer], d.v}, [2]float64{colU[d.layer] + colD[d.layer], d.v})
	}
	pts = append(pts, [2]float64{last.u, last.v + anchor(last, ch.bOff)})
	r := &route{}
	if l := ch.lab; l != nil {
		gi, idx := ch.gap, 0
		if ch.rev {
			idx = len(pts) - 2
		}
		g0, g1 := colU[gi]+colD[gi], colU[gi+1]
		cu := (g0 + g1) / 2
		if tb {
			cu = g0 + 10 + float64(l.row)*l.rowDepth + l.du/2
		}
		c := xy(cu, l.v)
		r.label = &c
		pts = slices.Insert(pts, idx+1, [2]float64{cu - l.du/2 - 4, l.v}, [2]float64{cu + l.du/2 + 4, l.v})
	}
	if ch.rev {
		slices.Reverse(pts)
	}
	r.points = make([]point, len(pts))
	for i, p := range pts {
		r.points[i] = xy(p[0], p[1])
	}
	return r
}

// pack returns positions y as near as it can to want, in order, items of
// sizes h with gap(i) between items i-1 and i: pool-adjacent-violators on
// the offsets from a tight stack.
func pack(h, want []float64, gap func(i int) float64) []float64 {
	n := len(h)
	c, t := make([]float64, n), make([]float64, n)
	acc := 0.0
	for i := 0; i < n; i++ {
		if i > 0 {
			acc += h[i-1] + gap(i)
		}
		c[i], t[i] = acc, want[i]-acc
	}
	type block struct {
		sum   float64
		count int
		start int
	}
	var blocks []block
	for j := 0; j < n; j++ {
		blocks = append(blocks, block{t[j], 1, j})
		for len(blocks) > 1 {
			b, a := &blocks[len(blocks)-1], &blocks[len(blocks)-2]
			if a.sum/float64(a.count) <= b.sum/float64(b.count) {
				break
			}
			a.sum += b.sum
			a.count += b.count
			blocks = blocks[:len(blocks)-1]
		}
	}
	y := make([]float64, n)
	for _, b := range blocks {
		z := b.sum / float64(b.count)
		for k := b.start; k < b.start+b.count; k++ {
			y[k] = z + c[k]
		}
	}
	return y
}

// inversions counts the pairs out of order in a (merge sort); it sorts a.
func inversions(a []int) int {
	if len(a) < 2 {
		return 0
	}
	tmp := make([]int, len(a))
	count := 0
	var sort func(lo, hi int)
	sort = func(lo, hi int) {
		if hi-lo < 2 {
			return
		}
		mid := (lo + hi) >> 1
		sort(lo, mid)
		sort(mid, hi)
		i, j, k := lo, mid, lo
		for i < mid && j < hi {
			if a[j] < a[i] {
				count += mid - i
				tmp[k] = a[j]
				j++
			} else {
				tmp[k] = a[i]
				i++
			}
			k++
		}
		k += copy(tmp[k:], a[i:mid])
		copy(tmp[k:], a[j:hi])
		copy(a[lo:hi], tmp[lo:hi])
	}
	sort(0, len(a))
	return count
}

// svgPath is an SVG path through points, smooth, level along the layers
// at every point (horizontal for LR, vertical for TB) (layout.js path).
func svgPath(points []point, dir layoutDir) string {
	tb := dir == dirTB
	var b strings.Builder
	b.WriteByte('M')
	writePoint(&b, points[0])
	for i := 1; i < len(points); i++ {
		a, p := points[i-1], points[i]
		if tb && a.x == p.x || !tb && a.y == p.y {
			b.WriteByte('L')
			writePoint(&b, p)
			continue
		}
		c1, c2 := point{a.x + (p.x-a.x)/2, a.y}, point{p.x - (p.x-a.x)/2, p.y}
		if tb {
			c1, c2 = point{a.x, a.y + (p.y-a.y)/2}, point{p.x, p.y - (p.y-a.y)/2}
		}
		b.WriteByte('C')
		writePoint(&b, c1)
		b.WriteByte(' ')
		writePoint(&b, c2)
		b.WriteByte(' ')
		writePoint(&b, p)
	}
	return b.String()
}

func writePoint(b *strings.Builder, p point) {
	b.WriteString(num(p.x))
	b.WriteByte(',')
	b.WriteString(num(p.y))
}

// num formats a coordinate to a tenth, as layout.js's f does
// (Math.round rounds halves up).
func num(v float64) string {
	r := math.Floor(v*10+0.5) / 10
	if r == 0 {
		r = 0 // no "-0"
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}
