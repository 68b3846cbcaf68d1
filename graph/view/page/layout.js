// bootgraph layout: a layered (Sugiyama) drawing of one container — the
// top level, or an expanded module — left to right. Nested containers are
// laid out first and placed here as boxes with ports on their borders.
// No dependencies, no network. Exposed as window.bgLayout. layout.go is
// this file in Go, for the SVG renderer; TestLayoutMatchesJS holds the
// two to the same results: change both together.
(function () {
  'use strict';

  // rank assigns layers. spec: {nodes: [{id, hint, side}], edges: [{id,
  // from, to}]}; side 'left'/'right' pins a port to the first/last layer.
  // Returns {layer: {id: n}, reversed: {edgeId: true}, layers: count}.
  function rank(spec) {
    var ids = [], byId = {};
    spec.nodes.forEach(function (n) { ids.push(n.id); byId[n.id] = n; });
    var reversed = {};
    var inner = spec.nodes.filter(function (n) { return !n.side; });
    var order = inner.slice().sort(function (a, b) { return a.hint - b.hint; });
    // Cycle removal: only edges within a strongly connected component can
    // close a cycle; there, an edge against the hint order (the build
    // order: what is built first comes first) is reversed.
    var adj = {}, rank = {};
    inner.forEach(function (n, i) { adj[n.id] = []; rank[n.id] = i; });
    spec.edges.forEach(function (e) {
      if (e.from === e.to || !adj[e.from] || !adj[e.to]) { return; }
      adj[e.from].push(e.to);
    });
    var comp = scc(inner.map(function (n) { return n.id; }), adj);
    function before(a, b) { var x = byId[a], y = byId[b]; return x.hint < y.hint || x.hint === y.hint && rank[a] < rank[b]; }
    spec.edges.forEach(function (e) {
      if (e.from === e.to || !adj[e.from] || !adj[e.to]) { return; }
      if (comp[e.from] === comp[e.to] && !before(e.from, e.to)) { reversed[e.id] = true; }
    });
    // Longest path from the sources over the acyclic edges, in topological
    // order (Kahn).
    var succ = {}, pred = {}, deg = {};
    inner.forEach(function (n) { succ[n.id] = []; pred[n.id] = []; deg[n.id] = 0; });
    spec.edges.forEach(function (e) {
      if (!adj[e.from] || !adj[e.to] || e.from === e.to) { return; }
      var f = reversed[e.id] ? e.to : e.from, t = reversed[e.id] ? e.from : e.to;
      succ[f].push(t); pred[t].push(f); deg[t]++;
    });
    var layer = {}, topo = [], queue = order.filter(function (n) { return deg[n.id] === 0; }).map(function (n) { return n.id; });
    var hasLeft = spec.nodes.some(function (n) { return n.side === 'left'; });
    var base = hasLeft ? 1 : 0;
    for (var qi = 0; qi < queue.length; qi++) {
      var id = queue[qi];
      topo.push(id);
      var l = base;
      pred[id].forEach(function (p) { l = Math.max(l, layer[p] + 1); });
      layer[id] = l;
      succ[id].forEach(function (s) { if (--deg[s] === 0) { queue.push(s); } });
    }
    // Pull nodes towards what they feed: a node sits just before its
    // nearest successor, unless nothing follows it.
    for (var i = topo.length - 1; i >= 0; i--) {
      var v = topo[i];
      if (!succ[v].length) { continue; }
      var m = Infinity;
      succ[v].forEach(function (s) { m = Math.min(m, layer[s] - 1); });
      if (m > layer[v]) { layer[v] = m; }
    }
    var max = base - 1;
    inner.forEach(function (n) { max = Math.max(max, layer[n.id]); });
    if (max < base) { max = base; }
    spec.nodes.forEach(function (n) {
      if (n.side === 'left') { layer[n.id] = 0; }
      if (n.side === 'right') { layer[n.id] = max + 1; }
    });
    var count = 0;
    ids.forEach(function (id) { count = Math.max(count, layer[id] + 1); });
    // Edges now pointing backwards (into a left port, out of a right one)
    // are reversed too.
    spec.edges.forEach(function (e) {
      if (layer[e.from] > layer[e.to]) { reversed[e.id] = true; } else if (layer[e.from] < layer[e.to]) { delete reversed[e.id]; }
    });
    return {layer: layer, reversed: reversed, layers: count};
  }

  // place orders the layers and computes coordinates, left to right (dir
  // 'LR') or top to bottom ('TB'). spec.nodes carry w, h (a port has
  // w = h = 0), spec.edges carry label {w, h} or null and fromOff/toOff:
  // a port's offset along a nested box's border (else its middle).
  // opts: {pad: {left, right, top, bottom}, minGap, nodeGap, dir}.
  // Inside, u runs along the layers and v across them.
  function place(spec, ranks, opts) {
    var tb = opts.dir === 'TB';
    var layer = ranks.layer, nl = ranks.layers;
    var N = {}, layers = [];
    for (var l = 0; l < nl; l++) { layers.push([]); }
    spec.nodes.forEach(function (n) {
      var v = {id: n.id, du: tb ? n.h : n.w, dv: tb ? n.w : n.h, side: n.side, hint: n.hint, layer: layer[n.id], up: [], down: [], dummy: false, v: 0};
      N[n.id] = v;
      layers[v.layer].push(v);
    });
    // Chains of dummy nodes for edges longer than one layer.
    var chains = [];
    spec.edges.forEach(function (e) {
      if (e.from === e.to || !N[e.from] || !N[e.to]) { return; }
      var rev = !!ranks.reversed[e.id];
      var a = rev ? N[e.to] : N[e.from], b = rev ? N[e.from] : N[e.to]; // a before b
      var chain = {edge: e, rev: rev, nodes: [a]};
      for (var k = a.layer + 1; k < b.layer; k++) {
        var d = {id: e.id + '~' + k, du: 0, dv: 0, layer: k, up: [], down: [], dummy: true, v: 0, hint: 0};
        N[d.id] = d;
        layers[k].push(d);
        chain.nodes.push(d);
      }
      chain.nodes.push(b);
      chain.aOff = rev ? e.toOff : e.fromOff;
      chain.bOff = rev ? e.fromOff : e.toOff;
      for (var j = 0; j + 1 < chain.nodes.length; j++) {
        var x = chain.nodes[j], y = chain.nodes[j + 1];
        var w = x.dummy && y.dummy ? 8 : (x.dummy || y.dummy ? 2 : 1);
        // The ends of an edge at a port of a nested box are off its middle.
        var xo = j === 0 ? chain.aOff : null, yo = j + 2 === chain.nodes.length ? chain.bOff : null;
        x.down.push({n: y, w: w, off: xo, offOther: yo});
        y.up.push({n: x, w: w, off: yo, offOther: xo});
      }
      chains.push(chain);
    });
    // Order: start by hint, then barycentre sweeps, keeping the best.
    layers.forEach(function (ls) { ls.sort(function (a, b) { return a.hint - b.hint; }); });
    function index() { layers.forEach(function (ls) { ls.forEach(function (v, i) { v.pos = i; }); }); }
    index();
    function crossings() {
      var c = 0;
      for (var l = 0; l + 1 < layers.length; l++) {
        var pairs = [];
        layers[l].forEach(function (v) { v.down.forEach(function (d) { pairs.push([v.pos, d.n.pos]); }); });
        pairs.sort(function (p, q) { return p[0] - q[0] || p[1] - q[1]; });
        c += inversions(pairs.map(function (p) { return p[1]; }));
      }
      return c;
    }
    function sweep(down) {
      if (!layers.length) { return; } // an empty container: nothing to order
      var from = down ? 1 : layers.length - 2, to = down ? layers.length : -1, step = down ? 1 : -1;
      for (var l = from; l !== to; l += step) {
        var ls = layers[l];
        ls.forEach(function (v) {
          var nb = down ? v.up : v.down;
          if (!nb.length) { v.bc = v.pos; return; }
          var s = 0, w = 0;
          nb.forEach(function (x) { s += x.n.pos * x.w; w += x.w; });
          v.bc = s / w;
        });
        ls.sort(function (a, b) { return a.bc - b.bc || a.pos - b.pos; });
        ls.forEach(function (v, i) { v.pos = i; });
      }
    }
    var total = 0;
    layers.forEach(function (ls) { total += ls.length; });
    var best = crossings(), bestOrder = layers.map(function (ls) { return ls.slice(); });
    var rounds = total > 3000 ? 3 : (total > 800 ? 6 : 12);
    for (var r = 0; r < rounds && best > 0; r++) {
      sweep(r % 2 === 0);
      var c = crossings();
      if (c < best) { best = c; bestOrder = layers.map(function (ls) { return ls.slice(); }); }
    }
    layers = bestOrder;
    index();

    var pad = opts.pad;
    var uPad0 = tb ? pad.top : pad.left, uPad1 = tb ? pad.bottom : pad.right;
    var vPad0 = tb ? pad.left : pad.top, vPad1 = tb ? pad.right : pad.bottom;

    // v: stack, then pull each node towards its neighbours (weighted
    // mean of their ends) keeping order and gaps (isotonic regression).
    var gap = opts.nodeGap;
    function spacing(a, b) { return a.dummy || b.dummy ? 6 : gap; }
    layers.forEach(function (ls) {
      var y = 0;
      ls.forEach(function (v, i) { if (i) { y += spacing(ls[i - 1], v); } v.v = y; y += v.dv; });
    });
    function anchor(v, off) { return off === null || off === undefined ? v.dv / 2 : off; }
    function relax(down) {
      if (!layers.length) { return; }
      var from = down ? 1 : layers.length - 2, to = down ? layers.length : -1, step = down ? 1 : -1;
      for (var l = from; l !== to; l += step) {
        var ls = layers[l];
        if (!ls.length) { continue; }
        var want = ls.map(function (v) {
          var nb = down ? v.up : v.down;
          if (!nb.length) { return v.v; }
          var s = 0, w = 0;
          nb.forEach(function (x) { s += (x.n.v + anchor(x.n, x.offOther) - anchor(v, x.off)) * x.w; w += x.w; });
          return s / w;
        });
        var items = ls.map(function (v) { return {v: v, h: v.dv}; });
        pack(items, want, function (a, b) { return spacing(a.v, b.v); });
        items.forEach(function (it) { it.v.v = it.y; });
      }
    }
    var passes = total > 3000 ? 4 : 8;
    for (var p = 0; p < passes; p++) { relax(p % 2 === 0); }
    relax(true);

    // Labels sit in the gap after the first end of their edge along u.
    // Left to right, labels are short across the layers: they are packed
    // across (v). Top down, they are long across: they keep their place
    // and overlapping ones take rows of their own along u.
    var labelsByGap = {};
    chains.forEach(function (ch) {
      var lab = ch.edge.label;
      if (!lab) { return; }
      var ns = ch.nodes, a, b;
      if (ch.rev) { a = ns[ns.length - 2]; b = ns[ns.length - 1]; } else { a = ns[0]; b = ns[1]; }
      ch.gap = a.layer;
      var va = a.v + (a === ns[0] ? anchor(a, ch.aOff) : a.dummy ? 0 : anchor(a, null));
      var vb = b.v + (b === ns[ns.length - 1] ? anchor(b, ch.bOff) : b.dummy ? 0 : anchor(b, null));
      ch.lab = {want: (va + vb) / 2, dv: tb ? lab.w : lab.h, du: tb ? lab.h : lab.w, row: 0};
      (labelsByGap[ch.gap] = labelsByGap[ch.gap] || []).push(ch.lab);
    });
    var gapDepth = [];
    for (var g = 0; g < nl; g++) { gapDepth.push(0); }
    Object.keys(labelsByGap).forEach(function (gi) {
      var ls = labelsByGap[gi].sort(function (a, b) { return a.want - b.want; });
      var depth = 0;
      ls.forEach(function (l) { depth = Math.max(depth, l.du); });
      if (!tb) {
        var items = ls.map(function (l) { return {y: 0, h: l.dv}; });
        pack(items, ls.map(function (l) { return l.want - l.dv / 2; }), function () { return 3; });
        ls.forEach(function (l, i) { l.v = items[i].y + l.dv / 2; });
        gapDepth[gi] = depth + 28;
        return;
      }
      var ends = [];
      ls.forEach(function (l) {
        var lo = l.want - l.dv / 2 - 6, r = 0;
        while (r < ends.length && ends[r] > lo) { r++; }
        ends[r] = l.want + l.dv / 2 + 6;
        l.row = r; l.v = l.want; l.rowDepth = depth + 3;
      });
      gapDepth[gi] = ends.length * (depth + 3) + 20;
    });

    // u: a band per layer, as deep as its deepest node, then its gap.
    var colU = [], colD = [], u = uPad0;
    for (var li = 0; li < nl; li++) {
      var cd = 0;
      layers[li].forEach(function (v) { cd = Math.max(cd, v.du); });
      colU.push(u); colD.push(cd);
      u += cd + Math.max(opts.minGap, gapDepth[li]);
    }
    var extentU = (nl ? colU[nl - 1] + colD[nl - 1] : 0) + uPad1;
    if (!tb) { extentU = Math.max(extentU, opts.minW || 0); }
    layers.forEach(function (ls, li) {
      ls.forEach(function (v) {
        v.u = colU[li] + (colD[li] - v.du) / 2;
        if (v.side === 'left') { v.u = 0; }
        if (v.side === 'right') { v.u = extentU; }
      });
    });

    // v extent: nodes and labels, shifted to start at the padding.
    var minV = Infinity, maxV = -Infinity;
    Object.keys(N).forEach(function (id) { var v = N[id]; if (!v.dummy || true) { minV = Math.min(minV, v.v); maxV = Math.max(maxV, v.v + v.dv); } });
    chains.forEach(function (ch) { if (ch.lab) { minV = Math.min(minV, ch.lab.v - ch.lab.dv / 2); maxV = Math.max(maxV, ch.lab.v + ch.lab.dv / 2); } });
    if (minV === Infinity) { minV = 0; maxV = 0; }
    var shift = vPad0 - minV;
    Object.keys(N).forEach(function (id) { N[id].v += shift; });
    chains.forEach(function (ch) { if (ch.lab) { ch.lab.v += shift; } });
    var extentV = maxV - minV + vPad0 + vPad1;
    if (tb) { extentV = Math.max(extentV, opts.minW || 0); }

    // Edges: through their dummies, with a straight run under the label.
    var edges = {};
    chains.forEach(function (ch) {
      var e = ch.edge, nsq = ch.nodes, pts = [];
      var first = nsq[0], last = nsq[nsq.length - 1];
      pts.push([first.u + first.du, first.v + anchor(first, ch.aOff)]);
      for (var k = 1; k + 1 < nsq.length; k++) {
        var d = nsq[k];
        pts.push([colU[d.layer], d.v]);
        pts.push([colU[d.layer] + colD[d.layer], d.v]);
      }
      pts.push([last.u, last.v + anchor(last, ch.bOff)]);
      var res = {points: pts, reversed: ch.rev, label: null};
      edges[e.id] = res;
      if (ch.lab) {
        var l = ch.lab, gi = ch.gap, idx = ch.rev ? pts.length - 2 : 0;
        var g0 = colU[gi] + colD[gi], g1 = colU[gi + 1];
        var cu = tb ? g0 + 10 + l.row * l.rowDepth + l.du / 2 : (g0 + g1) / 2;
        res.label = [cu, l.v];
        pts.splice(idx + 1, 0, [cu - l.du / 2 - 4, l.v], [cu + l.du / 2 + 4, l.v]);
      }
    });
    // Points run along u; a reversed edge is drawn from its source back
    // to its target. Then u, v become x, y.
    function xy(pt) { return tb ? [pt[1], pt[0]] : [pt[0], pt[1]]; }
    Object.keys(edges).forEach(function (id) {
      var r = edges[id];
      if (r.reversed) { r.points.reverse(); }
      r.points = r.points.map(xy);
      if (r.label) { r.label = xy(r.label); r.label = {x: r.label[0], y: r.label[1]}; }
    });
    var nodes = {};
    spec.nodes.forEach(function (n) { var v = N[n.id]; var q = xy([v.u, v.v]); nodes[n.id] = {x: q[0], y: q[1]}; });
    return {w: tb ? extentV : extentU, h: tb ? extentU : extentV, nodes: nodes, edges: edges, crossings: best, dir: tb ? 'TB' : 'LR'};
  }

  // scc numbers the strongly connected components of a graph (Tarjan,
  // without recursion).
  function scc(ids, adj) {
    var index = {}, low = {}, on = {}, comp = {}, stack = [], next = 0, nc = 0;
    ids.forEach(function (root) {
      if (has(index, root)) { return; }
      var work = [[root, 0]];
      index[root] = low[root] = next++; stack.push(root); on[root] = true;
      while (work.length) {
        var top = work[work.length - 1], v = top[0], list = adj[v];
        if (top[1] < list.length) {
          var w = list[top[1]++];
          if (!has(index, w)) {
            index[w] = low[w] = next++; stack.push(w); on[w] = true;
            work.push([w, 0]);
          } else if (on[w]) { low[v] = Math.min(low[v], index[w]); }
          continue;
        }
        work.pop();
        if (work.length) { var u = work[work.length - 1][0]; low[u] = Math.min(low[u], low[v]); }
        if (low[v] === index[v]) {
          var x;
          do { x = stack.pop(); on[x] = false; comp[x] = nc; } while (x !== v);
          nc++;
        }
      }
    });
    return comp;
  }
  function has(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }

  // pack sets items[i].y as near as it can to want[i], in order, with
  // gap(items[i-1], items[i]) between: pool-adjacent-violators on the
  // offsets from a tight stack.
  function pack(items, want, gap) {
    var n = items.length, c = new Array(n), t = new Array(n);
    var acc = 0;
    for (var i = 0; i < n; i++) {
      if (i) { acc += items[i - 1].h + gap(items[i - 1], items[i]); }
      c[i] = acc; t[i] = want[i] - acc;
    }
    var blocks = []; // [sum, count, start]
    for (var j = 0; j < n; j++) {
      blocks.push([t[j], 1, j]);
      while (blocks.length > 1) {
        var b = blocks[blocks.length - 1], a = blocks[blocks.length - 2];
        if (a[0] / a[1] <= b[0] / b[1]) { break; }
        a[0] += b[0]; a[1] += b[1];
        blocks.pop();
      }
    }
    blocks.forEach(function (b) {
      var z = b[0] / b[1];
      for (var k = b[2]; k < b[2] + b[1]; k++) { items[k].y = z + c[k]; }
    });
  }

  function inversions(a) {
    if (a.length < 2) { return 0; }
    var tmp = new Array(a.length), count = 0;
    (function sort(lo, hi) {
      if (hi - lo < 2) { return; }
      var mid = (lo + hi) >> 1;
      sort(lo, mid); sort(mid, hi);
      var i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        if (a[j] < a[i]) { count += mid - i; tmp[k++] = a[j++]; } else { tmp[k++] = a[i++]; }
      }
      while (i < mid) { tmp[k++] = a[i++]; }
      while (j < hi) { tmp[k++] = a[j++]; }
      for (var m = lo; m < hi; m++) { a[m] = tmp[m]; }
    }(0, a.length));
    return count;
  }

  // path is an SVG path through points, smooth, level along the layers
  // at every point (horizontal for 'LR', vertical for 'TB').
  function path(points, dir) {
    var tb = dir === 'TB';
    var d = 'M' + f(points[0][0]) + ',' + f(points[0][1]);
    for (var i = 1; i < points.length; i++) {
      var a = points[i - 1], b = points[i];
      if (tb ? a[0] === b[0] : a[1] === b[1]) { d += 'L' + f(b[0]) + ',' + f(b[1]); continue; }
      if (tb) {
        var dy = (b[1] - a[1]) / 2;
        d += 'C' + f(a[0]) + ',' + f(a[1] + dy) + ' ' + f(b[0]) + ',' + f(b[1] - dy) + ' ' + f(b[0]) + ',' + f(b[1]);
      } else {
        var dx = (b[0] - a[0]) / 2;
        d += 'C' + f(a[0] + dx) + ',' + f(a[1]) + ' ' + f(b[0] - dx) + ',' + f(b[1]) + ' ' + f(b[0]) + ',' + f(b[1]);
      }
    }
    return d;
  }
  function f(v) { return Math.round(v * 10) / 10; }

  window.bgLayout = {rank: rank, place: place, path: path, pack: pack};
}());
