// bootgraph page: the plane drawn in the browser from its graph JSON —
// an overview of its modules that expand in place, infrastructure behind
// a switch, selection with what a node needs and what needs it, search,
// the critical path, live status, differences, export. No dependencies,
// no network (but the live status URL the server names, if any).
(function () {
  'use strict';
  var SVGNS = 'http://www.w3.org/2000/svg';
  var FONT = 'Helvetica, Arial, sans-serif';
  var root = document.documentElement;
  var data = JSON.parse(document.getElementById('bg-data').textContent);
  var extra = JSON.parse(document.getElementById('bg-extra').textContent || '{}');
  var L = window.bgLayout;
  var view = document.getElementById('bg-graph-view');
  var details = document.getElementById('bg-details');
  var stats = {firstRenderMs: 0, lastRenderMs: 0, renders: 0, layoutMs: 0};

  // safeID is graph/ids.go's safeID: element ids are "node-" + safeID(id).
  function safeID(s) {
    if (/^[A-Za-z0-9]*$/.test(s)) { return s; }
    var out = '';
    for (var ch of s) {
      if (/^[A-Za-z0-9]$/.test(ch)) { out += ch; } else if (ch === '_') { out += '__'; } else { out += '_' + ch.codePointAt(0).toString(16) + '_'; }
    }
    return out;
  }
  function each(sel, fn, base) { Array.prototype.forEach.call((base || document).querySelectorAll(sel), fn); }
  function key(p) { return p.type + (p.group ? '[group=' + p.group + ']' : p.name ? '[name=' + p.name + ']' : ''); }
  function has(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }
  function ns(v) {
    v = v || 0;
    if (v < 1e3) { return v + 'ns'; }
    if (v < 1e6) { return (v / 1e3).toPrecision(3) + 'µs'; }
    if (v < 1e9) { return (v / 1e6).toPrecision(3) + 'ms'; }
    return (v / 1e9).toPrecision(3) + 's';
  }
  function plural(n, word) { return n + ' ' + word + (n === 1 ? '' : (/[sxh]$/.test(word) ? 'es' : 's')); }

  // ---- the model -------------------------------------------------------
  var nodes = {}, modules = {}, childMods = {'': []}, nodesOf = {'': []}, hooksOf = {};
  var needs = {}, neededBy = {};
  data.modules.forEach(function (m) { modules[m.id] = m; });
  function parentOf(m) {
    if (has(modules, m)) { return modules[m].parent; }
    var i = m.lastIndexOf('/');
    return i > 0 ? m.slice(0, i) : '';
  }
  function ensureModule(m) {
    if (m === '' || has(childMods, m)) { return; }
    if (!has(modules, m)) { modules[m] = {id: m, name: m.slice(m.lastIndexOf('/') + 1), parent: parentOf(m)}; }
    childMods[m] = []; nodesOf[m] = nodesOf[m] || [];
    var p = modules[m].parent;
    ensureModule(p);
    childMods[p].push(m);
  }
  data.modules.forEach(function (m) { ensureModule(m.id); });
  data.nodes.forEach(function (n, i) {
    n.index = i;
    nodes[n.id] = n; needs[n.id] = []; neededBy[n.id] = [];
    ensureModule(n.module);
    nodesOf[n.module].push(n);
  });
  data.edges.forEach(function (e, i) { e.index = i; needs[e.to].push(i); neededBy[e.from].push(i); });
  (data.hooks || []).forEach(function (h) { (hooksOf[h.node] = hooksOf[h.node] || []).push(h); });
  function modLabel(m) { return m === '' ? '(top level)' : (modules[m].name || m); }
  function ancestors(m) { var out = []; while (m !== '') { out.unshift(m); m = parentOf(m); } return out; }
  function within(m, anc) { return m === anc || m.indexOf(anc + '/') === 0 || anc === ''; }
  function lca(a, b) {
    var pa = ancestors(a), pb = ancestors(b), r = '';
    for (var i = 0; i < pa.length && i < pb.length && pa[i] === pb[i]; i++) { r = pa[i]; }
    return r;
  }
  // The build's hint of order: the first function of an entity that runs.
  function orderHint(list) {
    var best = Infinity, any = Infinity;
    list.forEach(function (n) {
      if (n.order < 0) { return; }
      any = Math.min(any, n.order);
      if (n.kind !== 'supply' && !n.infra) { best = Math.min(best, n.order); }
    });
    return best < Infinity ? best : (any < Infinity ? any + 0.5 : 1e6);
  }
  function deepNodes(m) {
    var out = nodesOf[m] ? nodesOf[m].slice() : [];
    (childMods[m] || []).forEach(function (c) { out = out.concat(deepNodes(c)); });
    return out;
  }

  // Derived: critical path, diff marks, timing.
  var critical = {}, criticalEdges = {};
  (extra.critical || []).forEach(function (id, i, list) {
    critical[id] = true;
    if (i > 0) { needs[id].forEach(function (ei) { if (data.edges[ei].from === list[i - 1]) { criticalEdges[ei] = true; } }); }
  });
  var diff = extra.diff || null;
  var timing = {};
  (extra.build || []).forEach(function (s) { timing[s.node] = s; });

  // ---- state -----------------------------------------------------------
  var state = {expanded: {}, infra: false, off: {}, selected: null, query: '', scale: 1, dir: 'auto'};
  var history = [];
  function readHash() {
    var h = decodeURIComponent((location.hash || '').replace(/^#/, ''));
    h.split('&').forEach(function (kv) {
      var i = kv.indexOf('='), k = i < 0 ? kv : kv.slice(0, i), v = i < 0 ? '' : kv.slice(i + 1);
      if (k === 'expand' && v) { v.split(',').forEach(function (m) { if (has(modules, m)) { state.expanded[m] = true; } }); }
      if (k === 'infra') { state.infra = v === '1'; }
    });
  }
  function writeHash() {
    var ex = Object.keys(state.expanded).filter(function (m) { return state.expanded[m]; }).sort();
    var h = [];
    if (ex.length) { h.push('expand=' + ex.join(',')); }
    if (state.infra) { h.push('infra=1'); }
    var s = h.length ? '#' + h.join('&') : ' ';
    try { window.history.replaceState(null, '', s === ' ' ? location.pathname + location.search : s); } catch (err) { /* a file: URL may refuse */ }
  }

  // ---- live status -----------------------------------------------------
  var status = extra.status || null;
  function day(s) { return s ? String(s).slice(0, 10) : '?'; }
  function daysLeft(until) {
    var now = status && status.time ? Date.parse(status.time) : Date.now(), t = Date.parse(until);
    if (isNaN(t)) { return ''; }
    var d = Math.floor((t - now) / 864e5);
    return d < 0 ? 'expired' : 'in ' + d + 'd';
  }
  function short(dn) { return dn || '(no subject)'; }
  // statusLines are the live facts shown on a node: its listeners, the
  // certificate they present, the CA's roots.
  function statusLines(id) {
    var out = [];
    if (!status) { return out; }
    (status.listeners || []).forEach(function (l) {
      if (l.node !== id) { return; }
      out.push({t: (l.ready ? '● ' : '✖ ') + l.name + ' ' + l.addr + (l.ready ? ' ready' : ' NOT READY'), c: l.ready ? 'bg-live-ok' : 'bg-live-bad', listener: l.name, ready: l.ready, title: l.error || ''});
      var c = status.certificate;
      if (l.tls && c) {
        out.push({t: 'cert until ' + day(c.notAfter) + ' (' + daysLeft(c.notAfter) + ') · ' + short(c.issuer), c: c.valid ? 'bg-live-cert' : 'bg-live-bad'});
      }
    });
    var cert = status.certificate;
    if (cert && cert.node === id) {
      out.push({t: 'cert until ' + day(cert.notAfter) + ' (' + daysLeft(cert.notAfter) + '), renews ' + day(cert.renewAt), c: cert.valid ? 'bg-live-cert' : 'bg-live-bad', title: cert.error || ''});
      out.push({t: 'issuer ' + short(cert.issuer), c: 'bg-live-cert'});
      if (cert.names && cert.names.length) { out.push({t: 'names ' + cert.names.join(', '), c: 'bg-live-cert'}); }
    }
    var ca = status.ca;
    if (ca && ca.node === id) {
      (ca.roots || []).forEach(function (r) { out.push({t: 'root ' + short(r.subject) + ' until ' + day(r.notAfter) + ' (' + daysLeft(r.notAfter) + ')', c: r.valid === false ? 'bg-live-bad' : 'bg-live-cert'}); });
      if (ca.signing && ca.signing.subject !== ((ca.roots || [])[0] || {}).subject) {
        out.push({t: 'signs as ' + short(ca.signing.subject) + ' until ' + day(ca.signing.notAfter), c: 'bg-live-cert'});
      }
    }
    return out;
  }
  function liveBad(id) { return (status && status.listeners || []).some(function (l) { return l.node === id && !l.ready; }); }
  function liveOK(id) { return (status && status.listeners || []).some(function (l) { return l.node === id && l.ready; }); }

  // ---- measuring -------------------------------------------------------
  var ctx = document.createElement('canvas').getContext('2d');
  var widthCache = {};
  function textW(t, size, bold) {
    var k = (bold ? 'b' : '') + size + '|' + t;
    if (has(widthCache, k)) { return widthCache[k]; }
    ctx.font = (bold ? 'bold ' : '') + size + 'px ' + FONT;
    return (widthCache[k] = ctx.measureText(t).width);
  }
  function clip(t, max) { return t.length > max ? t.slice(0, max - 1) + '…' : t; }
  function box(lines, minW) {
    var w = minW || 60, h = 10;
    lines.forEach(function (l) { l.s = l.s || 11; w = Math.max(w, textW(l.t, l.s, l.b) + 18); h += l.s + 4; });
    return {w: Math.ceil(w), h: Math.ceil(h)};
  }

  // ---- the view: entities in containers, links routed through ports ------
  function hiddenModule(m) {
    var a = ancestors(m);
    if (state.off[''] && m === '') { return true; }
    for (var i = 0; i < a.length; i++) { if (state.off[a[i]]) { return true; } }
    return false;
  }
  function nodeVisible(n) { return (state.infra || !n.infra) && !hiddenModule(n.module) && !(state.off[''] && n.module === ''); }
  function open(m) { // m's contents are drawn: it and all its ancestors are expanded
    if (m === '') { return true; }
    var a = ancestors(m);
    for (var i = 0; i < a.length; i++) { if (!state.expanded[a[i]]) { return false; } }
    return true;
  }
  function entityOfNode(n) {
    var a = ancestors(n.module);
    for (var i = 0; i < a.length; i++) { if (!state.expanded[a[i]]) { return 'm:' + a[i]; } }
    return 'n:' + n.id;
  }

  function buildView() {
    var V = {ents: {}, conts: {}, nseg: 0};
    function cont(id) { return V.conts[id] || (V.conts[id] = {id: id, ents: [], segs: {}, segList: [], ports: {}}); }
    cont('');
    function addEnt(e) { V.ents[e.id] = e; cont(e.cont).ents.push(e); return e; }
    // Modules.
    Object.keys(childMods).forEach(function (m) {
      if (m === '' || hiddenModule(m) || !open(parentOf(m))) { return; }
      var deep = deepNodes(m).filter(function (n) { return state.infra || !n.infra; });
      var e = addEnt({id: 'm:' + m, module: m, cont: parentOf(m), kind: state.expanded[m] ? 'cluster' : 'module', nodes: deep, hint: orderHint(deep)});
      if (e.kind === 'cluster') { cont(m); }
    });
    // Nodes of open modules. An absent node (an optional type nothing
    // provides) shows only beside a function that would take it, where
    // those functions meet.
    var entOf = {}, absent = [];
    data.nodes.forEach(function (n) {
      if (!nodeVisible(n)) { return; }
      if (n.kind === 'absent') { absent.push(n); return; }
      var id = entityOfNode(n);
      entOf[n.id] = id;
      if (id.charAt(0) === 'n') { addEnt({id: id, node: n, cont: n.module, kind: 'node', nodes: [n], hint: n.order >= 0 ? n.order : 1e6 + n.index}); }
    });
    absent.forEach(function (n) {
      var takers = neededBy[n.id].map(function (ei) { return data.edges[ei].to; }).filter(function (id) { return entOf[id] && entOf[id].charAt(0) === 'n'; });
      if (!takers.length) { return; }
      var home = takers.map(function (id) { return nodes[id].module; }).reduce(lca);
      entOf[n.id] = 'n:' + n.id;
      addEnt({id: 'n:' + n.id, node: n, cont: home, kind: 'node', nodes: [n], hint: 1e6 + n.index});
    });
    // Group junctions, where a group's consumers meet, when drawn there.
    var junction = {};
    (data.groups || []).forEach(function (g, gi) {
      var cons = g.consumers.filter(function (id) { return entOf[id]; }), mem = g.members.filter(function (id) { return entOf[id]; });
      if (!cons.length || (mem.length + cons.length < 3 && mem.length > 0)) { return; }
      if (cons.concat(mem).every(function (id) { return nodes[id].infra; }) && !state.infra) { return; }
      var home = cons.map(function (id) { return nodes[id].module; }).reduce(lca);
      if (!open(home) || hiddenModule(home)) { return; }
      var memberNodes = mem.map(function (id) { return nodes[id]; });
      // After its last member, before its first consumer: where fx
      // gathers the group.
      var last = -Infinity;
      memberNodes.forEach(function (n) { last = Math.max(last, n.order >= 0 ? n.order : 1e6 + n.index); });
      var hint = memberNodes.length ? last + 0.25 : orderHint(cons.map(function (id) { return nodes[id]; })) - 0.5;
      junction[g.name + '\u0000' + g.type] = addEnt({id: 'g:' + gi, group: g, cont: home, kind: 'group', nodes: memberNodes, hint: hint});
    });
    function contOf(id) { return V.ents[id].cont; }
    function entAt(id, c) { while (contOf(id) !== c) { id = 'm:' + contOf(id); } return id; }
    function chain(id) { var out = [], c = contOf(id); for (;;) { out.push(c); if (c === '') { return out; } c = parentOf(c); } }
    // seg adds edge e to the segment from→to of container c; u says what
    // it counts as (an edge, or a member of a group at its junction), k
    // the key it shows.
    function seg(c, from, fromPort, to, toPort, e, u, k) {
      var C = cont(c), id = from + '|' + (fromPort || '') + '|' + to + '|' + (toPort || '');
      var s = C.segs[id];
      if (!s) {
        s = C.segs[id] = {id: 's' + (V.nseg++), cont: c, from: from, fromPort: fromPort, to: to, toPort: toPort, keys: {}, units: {}, edges: [], seen: {}, infra: true, optional: true, group: true, cycle: false};
        C.segList.push(s);
      }
      if (!s.seen[e.index]) {
        s.seen[e.index] = true;
        s.edges.push(e.index);
        s.infra = s.infra && !!e.infra; s.optional = s.optional && !!e.optional; s.group = s.group && !!e.group; s.cycle = s.cycle || !!e.cycle;
      }
      if (!s.units[k + '\u0000' + u]) {
        s.units[k + '\u0000' + u] = true;
        s.keys[k] = (s.keys[k] || 0) + 1;
      }
    }
    function port(c, name) { var C = cont(c); if (!C.ports[name]) { C.ports[name] = {id: '@' + name, name: name}; } return '@' + name; }
    function link(a, b, e, u, k) {
      if (a === b) { return; }
      var ca = chain(a), cb = chain(b), Lc = '';
      for (var i = 0; i < ca.length; i++) { if (cb.indexOf(ca[i]) >= 0) { Lc = ca[i]; break; } }
      var A = entAt(a, Lc), B = entAt(b, Lc);
      if (A === B) { return; }
      seg(Lc, A, A !== a ? 'out:' + B : null, B, B !== b ? 'in:' + A : null, e, u, k);
      var x = a, c = contOf(a);
      while (c !== Lc) { seg(c, x, x !== a ? 'out:' + B : null, port(c, 'out:' + B), null, e, u, k); x = 'm:' + c; c = contOf(x); }
      x = b; c = contOf(b);
      while (c !== Lc) { seg(c, port(c, 'in:' + A), null, x, x !== b ? 'in:' + A : null, e, u, k); x = 'm:' + c; c = contOf(x); }
    }
    data.edges.forEach(function (e) {
      if (!state.infra && e.infra) { return; }
      var a = entOf[e.from], b = entOf[e.to];
      if (!a || !b) { return; }
      var j = null;
      if (e.group) {
        var m = /^(.*)\[group=(.*)\]$/.exec(e.key);
        if (m) { j = junction[m[2] + '\u0000' + m[1]]; }
      }
      // Around a junction a link counts the group's members and shows
      // the element type: the junction names the group.
      if (j) { link(a, j.id, e, e.from, j.group.type); link(j.id, b, e, e.from, j.group.type); } else { link(a, b, e, e.index, e.key); }
    });
    return V;
  }

  // ---- entity text -------------------------------------------------------
  function kindCounts(list) {
    var c = Object.create(null);
    list.forEach(function (n) { c[n.kind] = (c[n.kind] || 0) + 1; });
    var out = [];
    [['constructor', 'constructor'], ['invoke', 'invoke'], ['decorator', 'decorator'], ['supply', 'supply'], ['replace', 'replace'], ['builtin', 'builtin'], ['missing', 'missing'], ['absent', 'absent']].forEach(function (k) {
      if (c[k[0]]) { out.push(c[k[0]] + ' ' + (c[k[0]] === 1 ? k[1] : (k[1] === 'supply' ? 'supplies' : k[1] + 's'))); }
    });
    return out.join(' · ');
  }
  function hookText(list) {
    var hs = [];
    list.forEach(function (n) { (hooksOf[n.id] || []).forEach(function (h) { hs.push(h); }); });
    if (!hs.length) { return ''; }
    hs.sort(function (a, b) { return a.index - b.index; });
    var t = (hs.length === 1 ? 'hook ' : 'hooks ') + hs.map(function (h) { return '#' + h.index; }).join(', ');
    if (data.run) {
      var s = 0;
      hs.forEach(function (h) { s += h.startNs || 0; });
      t += ' · started in ' + ns(s);
    }
    return t;
  }
  function problemText(list) {
    var miss = list.filter(function (n) { return n.kind === 'missing'; }), bad = list.filter(function (n) { return n.status === 'needs-missing'; });
    var failed = list.filter(function (n) { return n.status === 'failed'; }), cyc = list.filter(function (n) { return n.status === 'cycle'; });
    var out = [];
    if (miss.length) { out.push('missing ' + miss.map(function (n) { return n.name; }).join(', ')); }
    if (bad.length && !miss.length) { out.push(plural(bad.length, 'function') + ' need what is missing'); }
    if (failed.length) { out.push(plural(failed.length, 'function') + ' failed'); }
    if (cyc.length) { out.push('in a cycle'); }
    return out.join('; ');
  }
  function diffBadge(list, moduleId) {
    if (!diff) { return ''; }
    var c = {added: 0, removed: 0, moved: 0, changed: 0};
    list.forEach(function (n) { var m = diff.marks.nodes[n.id]; if (m) { c[m]++; } });
    var parts = [];
    if (c.added) { parts.push('+' + c.added); }
    if (c.removed) { parts.push('−' + c.removed); }
    if (c.moved) { parts.push('~' + c.moved); }
    if (c.changed) { parts.push('!' + c.changed); }
    var own = diff.marks.modules[moduleId];
    return (own ? 'part ' + own : '') + (own && parts.length ? ' · ' : '') + (parts.length ? parts.join(' ') + ' functions' : '');
  }
  function nodeLines(n) {
    var lines = [{t: n.kind + (n.private ? ' (private)' : '') + (n.infra ? ' · infrastructure' : ''), s: 10, c: 'bg-t-kind'}];
    var name = n.name || n.func;
    if (n.kind === 'missing') { name = 'missing ' + name; } else if (n.order >= 0) { name = '#' + n.order + ' ' + name; }
    lines.push({t: clip(name, 60), s: 12, b: true, c: 'bg-t-name'});
    var hk = hookText([n]);
    if (hk) { lines.push({t: hk, s: 10, c: 'bg-t-hook'}); }
    if (data.run) {
      var tm = timing[n.id];
      if (n.error) { lines.push({t: 'failed: ' + clip(n.error, 50), s: 10, c: 'bg-t-bad'}); } else if (n.ran) {
        lines.push({t: tm && tm.waits ? 'waited ' + ns(tm.waitNs) + ' for ' + plural(tm.waits.length, 'function') + ', own ' + ns(tm.ownNs) : 'built in ' + ns(n.runtimeNs), s: 10, c: 'bg-t-run'});
      } else if (n.kind !== 'missing' && n.kind !== 'builtin' && n.kind !== 'absent') { lines.push({t: 'did not run', s: 10, c: 'bg-t-muted'}); }
    } else if (n.status !== 'ok') { lines.push({t: n.status, s: 10, c: n.status === 'unused' || n.status === 'absent' ? 'bg-t-muted' : 'bg-t-bad'}); }
    statusLines(n.id).forEach(function (l) { l.s = 10; lines.push(l); });
    if (diff && diff.marks.nodes[n.id]) { lines.push({t: diff.marks.nodes[n.id], s: 10, c: 'bg-t-diff'}); }
    return lines;
  }
  function moduleLines(e) {
    var m = e.module, list = e.nodes;
    var lines = [{t: '▸ ' + modLabel(m), s: 13, b: true, c: 'bg-t-title'}];
    var kc = kindCounts(list);
    lines.push({t: kc || 'empty', s: 10, c: 'bg-t-kind'});
    var hk = hookText(list);
    if (hk) { lines.push({t: hk, s: 10, c: 'bg-t-hook'}); }
    if (data.run) {
      var b = 0;
      list.forEach(function (n) { var tm = timing[n.id]; b += tm ? tm.ownNs || 0 : 0; });
      lines.push({t: 'built in ' + ns(b), s: 10, c: 'bg-t-run'});
    }
    var pt = problemText(list);
    if (pt) { lines.push({t: '⚠ ' + pt, s: 10, c: 'bg-t-bad'}); }
    list.forEach(function (n) { statusLines(n.id).forEach(function (l) { l.s = 10; lines.push(l); }); });
    var db = diffBadge(list, m);
    if (db) { lines.push({t: db, s: 10, c: 'bg-t-diff'}); }
    return lines;
  }
  function groupLines(g) {
    var cons = g.consumers.length;
    return [{t: '⟨' + g.name + '⟩', s: 11, b: true, c: 'bg-t-name'}, {t: g.type + ' · ' + (g.members.length ? plural(g.members.length, 'member') : 'empty') + ' → ' + cons, s: 10, c: 'bg-t-kind'}];
  }
  function keyText(k) {
    var m = /^(.*)\[group=(.*)\]$/.exec(k);
    return m ? m[1] + ' ⟨' + m[2] + '⟩' : k;
  }
  function segLabel(s) {
    var ks = Object.keys(s.keys).sort();
    var lines = ks.slice(0, ks.length > 3 ? 2 : 3).map(function (k) { return clip(keyText(k), 44) + (s.keys[k] > 1 ? ' ×' + s.keys[k] : ''); });
    if (ks.length > 3) { lines.push('+' + (ks.length - 2) + ' more types (' + s.edges.length + ' edges)'); }
    var w = 0;
    lines.forEach(function (t) { w = Math.max(w, textW(t, 10, false)); });
    return {lines: lines, w: Math.ceil(w) + 6, h: lines.length * 12 + 2, title: ks.map(function (k) { return k + (s.keys[k] > 1 ? ' ×' + s.keys[k] : ''); }).join('\n')};
  }

  // ---- layout: ranks top-down (port sides follow the parent), places
  // bottom-up (a box's size follows its contents) ------------------------
  function specOf(V, c) {
    var C = V.conts[c], spec = {nodes: [], edges: []};
    C.ents.forEach(function (e) { spec.nodes.push({id: e.id, hint: e.hint}); });
    Object.keys(C.ports).forEach(function (p) {
      var P = C.ports[p], peer = P.name.slice(P.name.indexOf(':') + 1);
      spec.nodes.push({id: P.id, hint: V.ents[peer] ? V.ents[peer].hint : 1e6, side: P.side || (P.name.indexOf('in:') === 0 ? 'left' : 'right')});
    });
    C.segList.forEach(function (s) { spec.edges.push({id: s.id, from: s.from, to: s.to}); });
    return spec;
  }
  function rankAll(V, c) {
    var C = V.conts[c];
    C.spec = specOf(V, c);
    C.ranks = L.rank(C.spec);
    C.segList.forEach(function (s) {
      var rev = !!C.ranks.reversed[s.id];
      if (s.fromPort) { V.conts[s.from.slice(2)].ports[s.fromPort].side = rev ? 'left' : 'right'; }
      if (s.toPort) { V.conts[s.to.slice(2)].ports[s.toPort].side = rev ? 'right' : 'left'; }
    });
    C.ents.forEach(function (e) { if (e.kind === 'cluster') { rankAll(V, e.module); } });
  }
  function placeAll(V, c, dir) {
    var C = V.conts[c];
    C.ents.forEach(function (e) {
      if (e.kind === 'cluster') {
        e.titleLines = [{t: '▾ ' + modLabel(e.module), s: 13, b: true}, {t: kindCounts(e.nodes), s: 10}];
        V.conts[e.module].minW = textW(e.titleLines[0].t, 13, true) + textW(e.titleLines[1].t, 10, false) + 40;
        placeAll(V, e.module, dir);
        var sub = V.conts[e.module].layoutBy[dir];
        e.sizeBy = e.sizeBy || {};
        e.sizeBy[dir] = {w: sub.w, h: sub.h, sub: sub};
        return;
      }
      if (!e.lines) {
        e.lines = e.kind === 'node' ? nodeLines(e.node) : e.kind === 'module' ? moduleLines(e) : groupLines(e.group);
        var b = box(e.lines, e.kind === 'group' ? 40 : 90);
        e.w = b.w; e.h = b.h;
      }
    });
    if (!C.sized) {
      C.spec = specOf(V, c); // ports have their sides now
      C.segList.forEach(function (s) { s.label = segLabel(s); });
      C.sized = true;
    }
    var byId = {};
    C.ents.forEach(function (e) { byId[e.id] = e; });
    C.spec.nodes.forEach(function (n) {
      var e = byId[n.id];
      var sz = e && e.kind === 'cluster' ? e.sizeBy[dir] : e;
      n.w = sz ? sz.w : 0; n.h = sz ? sz.h : 0;
    });
    C.spec.edges.forEach(function (se, i) {
      var s = C.segList[i];
      se.label = {w: s.label.w, h: s.label.h};
      se.fromOff = se.toOff = null;
      var at = function (ent, port) { var q = byId[ent].sizeBy[dir].sub.nodes['@' + port]; return dir === 'TB' ? q.x : q.y; };
      if (s.fromPort) { se.fromOff = at(s.from, s.fromPort); }
      if (s.toPort) { se.toOff = at(s.to, s.toPort); }
    });
    var isRoot = c === '';
    var pad = isRoot ? {left: 12, right: 12, top: 12, bottom: 12} : {left: 16, right: 16, top: 40, bottom: 14};
    C.layoutBy = C.layoutBy || {};
    C.layoutBy[dir] = L.place(C.spec, C.ranks, {pad: pad, minGap: dir === 'TB' ? 36 : 44, nodeGap: dir === 'TB' ? 24 : 16, dir: dir, minW: C.minW || 0});
  }
  // choose makes dir's layout the one drawn.
  function choose(V, dir) {
    Object.keys(V.conts).forEach(function (c) { V.conts[c].layout = V.conts[c].layoutBy[dir]; });
    Object.keys(V.ents).forEach(function (id) {
      var e = V.ents[id];
      if (e.kind === 'cluster') { var sz = e.sizeBy[dir]; e.w = sz.w; e.h = sz.h; e.sub = sz.sub; }
    });
    V.dir = dir;
  }
  function fitScale(lay) {
    var w = view.clientWidth - 4, h = view.clientHeight - 4;
    return Math.min(w / Math.max(lay.w, 1), h / Math.max(lay.h, 1));
  }

  // ---- drawing -------------------------------------------------------------
  function el(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    if (attrs) { Object.keys(attrs).forEach(function (k) { if (attrs[k] !== null && attrs[k] !== undefined) { e.setAttribute(k, attrs[k]); } }); }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function tip(g, text) { el('title', null, g).textContent = text; }
  function drawLines(g, lines, w, x0) {
    var y = 5;
    lines.forEach(function (l) {
      y += l.s + 4;
      var t = el('text', {x: x0 === undefined ? w / 2 : x0, y: y - 4, 'font-size': l.s, 'font-weight': l.b ? 'bold' : null, 'text-anchor': x0 === undefined ? 'middle' : 'start', class: l.c || null}, g);
      t.textContent = l.t;
      if (l.listener) { t.setAttribute('data-listener', l.listener); t.setAttribute('data-ready', l.ready ? 'true' : 'false'); }
      if (l.title) { tip(t, l.title); }
    });
  }
  function nodeTitle(n) {
    var s = (n.func || n.name) + (n.location ? '\n' + n.location : '') + '\nmodule ' + (n.module || '(top level)') + '\nstatus ' + n.status;
    (n.inputs || []).forEach(function (p) { s += '\nneeds ' + key(p) + (p.optional ? ' (optional)' : ''); });
    (n.outputs || []).forEach(function (p) { s += '\nprovides ' + key(p); });
    if (n.error) { s += '\nerror: ' + n.error; }
    return s;
  }
  function drawEntity(e, pos, parent) {
    var g;
    if (e.kind === 'cluster') {
      g = el('g', {id: 'module-' + safeID(e.module), class: 'bg-cluster', 'data-module': e.module, transform: 'translate(' + pos.x + ',' + pos.y + ')'}, parent);
      el('rect', {class: 'bg-shape', x: 0, y: 0, width: e.w, height: e.h, rx: 8}, g);
      drawContainer(e.module, g, pos.abs);
      var head = el('g', {class: 'bg-cluster-head', 'data-collapse': e.module, tabindex: 0, role: 'button', 'aria-label': 'module ' + modLabel(e.module) + ', expanded: collapse'}, g);
      el('rect', {class: 'bg-head', x: 0, y: 0, width: e.w, height: 28, rx: 8}, head);
      var t = el('text', {x: 12, y: 19, 'font-size': 13, 'font-weight': 'bold', class: 'bg-t-title'}, head);
      t.textContent = e.titleLines[0].t;
      var k = el('tspan', {'font-size': 10, 'font-weight': 'normal', class: 'bg-t-kind', dx: 10}, t);
      k.textContent = e.titleLines[1].t;
      tip(head, 'module ' + e.module + ': click to collapse');
      var info = el('g', {class: 'bg-info', 'data-module-info': e.module, tabindex: 0, role: 'button', 'aria-label': 'details of module ' + modLabel(e.module), transform: 'translate(' + (e.w - 24) + ',4)'}, g);
      el('rect', {x: 0, y: 0, width: 20, height: 20, rx: 10}, info);
      el('text', {x: 10, y: 15, 'font-size': 13, 'text-anchor': 'middle', 'font-weight': 'bold'}, info).textContent = 'i';
      tip(info, 'details of module ' + e.module);
      return g;
    }
    var attrs = {transform: 'translate(' + pos.x + ',' + pos.y + ')', tabindex: 0, role: 'button'};
    if (e.kind === 'node') {
      var n = e.node;
      attrs.id = 'node-' + safeID(n.id);
      attrs.class = 'bg-node bg-kind-' + safeID(n.kind) + ' bg-status-' + safeID(n.status) + (n.infra ? ' bg-infra' : '');
      attrs['data-node'] = n.id; attrs['data-module'] = n.module;
      attrs['aria-label'] = n.kind + ' ' + n.name;
    } else if (e.kind === 'module') {
      attrs.id = 'module-' + safeID(e.module);
      attrs.class = 'bg-module';
      attrs['data-module'] = e.module;
      attrs['aria-label'] = 'module ' + modLabel(e.module) + ': expand';
    } else {
      attrs.id = 'group-' + safeID(e.group.name);
      attrs.class = 'bg-group';
      attrs['data-group'] = e.id.slice(2);
      attrs['aria-label'] = 'value group ' + e.group.name;
    }
    g = el('g', attrs, parent);
    e.el = g;
    el('rect', {class: 'bg-shape', x: 0, y: 0, width: e.w, height: e.h, rx: e.kind === 'group' ? e.h / 2 : (e.kind === 'module' ? 6 : 4)}, g);
    if (e.kind === 'module') { el('rect', {class: 'bg-shape-inner', x: 3, y: 3, width: e.w - 6, height: e.h - 6, rx: 4}, g); }
    drawLines(g, e.lines, e.w);
    tip(g, e.kind === 'node' ? nodeTitle(e.node) : e.kind === 'module' ? 'module ' + e.module + ' (' + plural(e.nodes.length, 'function') + '): click to expand' : 'value group ' + e.group.name + ' of ' + e.group.type);
    return g;
  }
  function drawContainer(c, parent, origin) {
    var C = currentView.conts[c], lay = C.layout;
    var eg = el('g', {class: 'bg-links'}, parent);
    C.segList.forEach(function (s) {
      var r = lay.edges[s.id];
      if (!r) { return; }
      var cls = 'bg-link' + (s.infra ? ' bg-link-infra' : '') + (s.optional ? ' bg-link-optional' : '') + (s.group ? ' bg-link-group' : '') + (s.cycle ? ' bg-link-cycle' : '');
      var g = el('g', {id: 'link-' + s.id, class: cls, 'data-edges': s.edges.join(' ')}, eg);
      s.el = g;
      el('path', {d: L.path(r.points, lay.dir), class: 'bg-line'}, g);
      if (s.to.charAt(0) !== '@') {
        var p = r.points[r.points.length - 1], q = r.points[r.points.length - 2] || p;
        var arrow = lay.dir === 'TB' ?
          'M' + p[0] + ',' + p[1] + 'l-4,' + (p[1] >= q[1] ? -8 : 8) + 'l8,0z' :
          'M' + p[0] + ',' + p[1] + 'l' + (p[0] >= q[0] ? -8 : 8) + ',-4l0,8z';
        el('path', {d: arrow, class: 'bg-arrow'}, g);
      }
      if (r.label) {
        var lg = el('g', {class: 'bg-label', transform: 'translate(' + r.label.x + ',' + (r.label.y - s.label.h / 2) + ')'}, g);
        el('rect', {x: -s.label.w / 2, y: 0, width: s.label.w, height: s.label.h, rx: 3}, lg);
        s.label.lines.forEach(function (t, i) {
          var tx = el('text', {x: 0, y: 11 + i * 12, 'font-size': 10, 'text-anchor': 'middle'}, lg);
          tx.textContent = t;
        });
      }
      tip(g, s.label.title);
    });
    // Drawn (and so tabbed through) left to right, top to bottom.
    C.ents.slice().sort(function (a, b) { var p = lay.nodes[a.id], q = lay.nodes[b.id]; return p.x - q.x || p.y - q.y; }).forEach(function (e) {
      var p = lay.nodes[e.id];
      drawEntity(e, {x: p.x, y: p.y, abs: {x: origin.x + p.x, y: origin.y + p.y}}, parent);
    });
  }

  var currentView = null, svg = null;
  function render(opts) {
    opts = opts || {};
    var t0 = performance.now();
    var focusedID = document.activeElement && document.activeElement.id;
    var V = buildView();
    currentView = V;
    rankAll(V, '');
    var dirs = state.dir === 'auto' ? ['LR', 'TB'] : [state.dir];
    var size = 0;
    Object.keys(V.conts).forEach(function (c) { size += V.conts[c].ents.length + V.conts[c].segList.length; });
    if (dirs.length > 1 && size > 300) {
      // Too big to lay out twice: guess from the layers of the biggest
      // container which direction fits the window better.
      var big = V.conts[''];
      Object.keys(V.conts).forEach(function (c) { if (V.conts[c].spec.nodes.length > big.spec.nodes.length) { big = V.conts[c]; } });
      var R = big.ranks, per = [], most = 1;
      big.spec.nodes.forEach(function (n) { var l = R.layer[n.id]; per[l] = (per[l] || 0) + 1; most = Math.max(most, per[l]); });
      var w = view.clientWidth, h = view.clientHeight;
      dirs = [Math.min(w / (R.layers * 260), h / (most * 70)) >= Math.min(w / (most * 220), h / (R.layers * 110)) ? 'LR' : 'TB'];
    }
    dirs.forEach(function (d) { placeAll(V, '', d); });
    var dir = dirs[0];
    if (dirs.length > 1 && fitScale(V.conts[''].layoutBy.TB) > fitScale(V.conts[''].layoutBy.LR) * 1.05) { dir = 'TB'; }
    choose(V, dir);
    var t1 = performance.now();
    var lay = V.conts[''].layout;
    var s = el('svg', {xmlns: SVGNS, id: 'bg-svg', class: 'bg-svg', viewBox: '0 0 ' + Math.ceil(lay.w) + ' ' + Math.ceil(lay.h), 'font-family': FONT, role: 'group', 'aria-label': 'the plane\'s dependency graph'});
    el('rect', {class: 'bg-bg', x: 0, y: 0, width: Math.ceil(lay.w), height: Math.ceil(lay.h)}, s);
    var rootG = el('g', {id: 'bg-root'}, s);
    drawContainer('', rootG, {x: 0, y: 0});
    if (svg) { view.replaceChild(s, svg); } else { view.appendChild(s); }
    svg = s;
    svg.__w = lay.w; svg.__h = lay.h;
    applyMarks();
    if (opts.fit !== false) { fit(); } else { zoom(state.scale); }
    if (focusedID) { var f = document.getElementById(focusedID); if (f && f.focus) { f.focus({preventScroll: true}); } }
    var t2 = performance.now();
    stats.renders++;
    stats.layoutMs = t1 - t0;
    stats.lastRenderMs = t2 - t0;
    stats.entities = Object.keys(V.ents).length;
    stats.crossings = lay.crossings;
    renderCrumbs();
    writeHash();
    root.setAttribute('data-bg-renders', String(stats.renders));
  }

  // ---- zoom and fit ------------------------------------------------------
  function sizeView() {
    var top = view.getBoundingClientRect().top + window.scrollY;
    var h = Math.max(280, window.innerHeight - top - 10);
    view.style.height = h + 'px';
  }
  function zoom(s) {
    state.scale = Math.max(0.05, Math.min(s, 8));
    svg.setAttribute('width', Math.ceil(svg.__w * state.scale));
    svg.setAttribute('height', Math.ceil(svg.__h * state.scale));
  }
  function fit() {
    var w = view.clientWidth - 4, h = view.clientHeight - 4;
    if (svg.__w <= 0 || w <= 0) { zoom(1); return; }
    var s = Math.min(w / svg.__w, h / svg.__h, 1.6);
    zoom(Math.max(s, Object.keys(state.expanded).length ? 0.45 : 0.05));
  }

  // ---- marks: selection, search, critical path, diff, live -------------------
  function reach(start, adj, end) {
    var seen = {}, stack = [start];
    while (stack.length) {
      adj[stack.pop()].forEach(function (ei) {
        var e = data.edges[ei];
        if (e.infra && !state.infra) { return; }
        var x = e[end];
        if (!seen[x]) { seen[x] = true; stack.push(x); }
      });
    }
    delete seen[start];
    return seen;
  }
  var MARKS = ['bg-selected', 'bg-upstream', 'bg-downstream', 'bg-match', 'bg-critical', 'bg-diff-added', 'bg-diff-removed', 'bg-diff-moved', 'bg-diff-changed', 'bg-diff-partial', 'bg-diff-inside', 'bg-live-bad', 'bg-live-ok'];
  function applyMarks() {
    var V = currentView;
    var sel = state.selected, up = {}, down = {};
    if (sel && nodes[sel]) { up = reach(sel, needs, 'from'); down = reach(sel, neededBy, 'to'); }
    var q = state.query.trim().toLowerCase(), hits = {}, nhits = 0;
    if (q) { data.nodes.forEach(function (n) { if (nodeVisible(n) && matches(n, q)) { hits[n.id] = true; nhits++; } }); }
    Object.keys(V.ents).forEach(function (id) {
      var e = V.ents[id], g = e.kind === 'cluster' ? document.getElementById('module-' + safeID(e.module)) : e.el;
      if (!g) { return; }
      MARKS.forEach(function (c) { g.classList.remove(c); });
      var list = e.nodes;
      var own = e.kind === 'node' ? [e.node] : (e.kind === 'module' ? list : []);
      if (e.kind === 'cluster') { return; }
      if (e.kind === 'node' && sel === e.node.id) { g.classList.add('bg-selected'); }
      if (e.kind === 'module' && state.selectedModule === e.module) { g.classList.add('bg-selected'); }
      if (own.some(function (n) { return up[n.id]; })) { g.classList.add('bg-upstream'); }
      if (own.some(function (n) { return down[n.id]; })) { g.classList.add('bg-downstream'); }
      if (own.some(function (n) { return hits[n.id]; })) { g.classList.add('bg-match'); }
      if (own.some(function (n) { return critical[n.id]; })) { g.classList.add('bg-critical'); }
      if (own.some(function (n) { return liveBad(n.id); })) { g.classList.add('bg-live-bad'); } else if (own.some(function (n) { return liveOK(n.id); })) { g.classList.add('bg-live-ok'); }
      if (diff) {
        var mk = e.kind === 'node' ? diff.marks.nodes[e.node.id] : (e.kind === 'module' ? diff.marks.modules[e.module] : null);
        if (mk) { g.classList.add('bg-diff-' + mk); } else if (own.some(function (n) { return diff.marks.nodes[n.id]; })) { g.classList.add('bg-diff-inside'); }
      }
    });
    each('[data-module].bg-cluster', function (g) {
      MARKS.forEach(function (c) { g.classList.remove(c); });
      if (diff && diff.marks.modules[g.getAttribute('data-module')]) { g.classList.add('bg-diff-' + diff.marks.modules[g.getAttribute('data-module')]); }
    }, svg);
    Object.keys(V.conts).forEach(function (c) {
      V.conts[c].segList.forEach(function (s) {
        var g = s.el;
        if (!g) { return; }
        MARKS.forEach(function (c) { g.classList.remove(c); });
        var isUp = false, isDown = false, crit = false, dm = {};
        s.edges.forEach(function (ei) {
          var e = data.edges[ei];
          if ((e.to === sel || up[e.to]) && up[e.from]) { isUp = true; }
          if ((e.from === sel || down[e.from]) && down[e.to]) { isDown = true; }
          if (criticalEdges[ei]) { crit = true; }
          if (diff) { dm[diff.marks.edges[ei] || 'same'] = true; }
        });
        if (isUp) { g.classList.add('bg-upstream'); }
        if (isDown) { g.classList.add('bg-downstream'); }
        if (crit) { g.classList.add('bg-critical'); }
        if (diff) {
          var kinds = Object.keys(dm);
          if (kinds.length === 1 && kinds[0] !== 'same') { g.classList.add('bg-diff-' + kinds[0]); } else if (kinds.length > 1) { g.classList.add('bg-diff-partial'); }
        }
      });
    });
    each('.bg-bar[data-node]', function (b) {
      var id = b.getAttribute('data-node');
      ['bg-selected', 'bg-upstream', 'bg-downstream', 'bg-match'].forEach(function (c) { b.classList.remove(c); });
      if (id === sel) { b.classList.add('bg-selected'); }
      if (up[id]) { b.classList.add('bg-upstream'); }
      if (down[id]) { b.classList.add('bg-downstream'); }
      if (hits[id]) { b.classList.add('bg-match'); }
    });
    root.classList.toggle('bg-has-selection', !!sel);
    root.classList.toggle('bg-searching', q !== '');
    var count = document.getElementById('bg-search-count');
    count.textContent = q ? nhits + (nhits === 1 ? ' match' : ' matches') : '';
  }
  function matches(n, q) {
    var hay = [n.name, n.func];
    (n.inputs || []).concat(n.outputs || []).forEach(function (p) { hay.push(key(p)); });
    return hay.some(function (s) { return s && s.toLowerCase().indexOf(q) >= 0; });
  }

  // ---- selection and details ------------------------------------------------
  function add(parentEl, tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (cls) { e.className = cls; }
    parentEl.appendChild(e);
    return e;
  }
  function showDetails(build) {
    details.textContent = '';
    details.hidden = false;
    var close = add(details, 'button', '×', 'bg-close');
    close.type = 'button';
    close.title = 'close (Escape)';
    close.addEventListener('click', clearSelection);
    build();
  }
  function dl() {
    var d = add(details, 'dl');
    return {
      row: function (term, value, cls) {
        if (value === undefined || value === '' || value === null) { return; }
        add(d, 'dt', term); add(d, 'dd', String(value), cls);
      },
      list: function (term, items) {
        if (!items || !items.length) { return; }
        add(d, 'dt', term);
        var ul = add(add(d, 'dd'), 'ul');
        var more = items.length > 12 ? items.length - 10 : 0;
        if (more) { items = items.slice(0, 10); }
        items.forEach(function (it) {
          var li = add(ul, 'li');
          if (typeof it === 'string') { li.textContent = it; return; }
          var b = add(li, 'button', it.text, 'bg-ref');
          b.type = 'button';
          b.setAttribute('data-node', it.node);
        });
        if (more) { add(ul, 'li', '… and ' + more + ' more', 'bg-more'); }
      },
    };
  }
  function nodeRef(id) { var n = nodes[id]; return {text: (n.name || n.func) + (n.module ? ' (' + n.module + ')' : ''), node: id}; }
  function select(id, keepView) {
    if (!nodes[id]) { return; }
    state.selected = id; state.selectedModule = null;
    var n = nodes[id];
    // An absent node is drawn beside what would take it: open that.
    var at = n.kind === 'absent' && neededBy[id].length ? nodes[data.edges[neededBy[id][0]].to].module : n.module;
    var needOpen = ancestors(at).filter(function (m) { return !state.expanded[m]; });
    var needInfra = n.infra && !state.infra;
    if (needOpen.length || needInfra) {
      needOpen.forEach(function (m) { state.expanded[m] = true; });
      if (needInfra) { state.infra = true; document.getElementById('bg-infra').checked = true; }
      history.push({expand: needOpen, infra: needInfra});
      render({fit: !keepView});
    } else {
      applyMarks();
    }
    var up = reach(id, needs, 'from'), down = reach(id, neededBy, 'to');
    showDetails(function () {
      add(details, 'h2', n.name || n.func);
      var d = dl();
      d.row('kind', n.kind + (n.private ? ' (private)' : '') + (n.infra ? ', infrastructure' : ''));
      d.row('module', n.module || '(top level)');
      d.row('function', n.func);
      d.row('registered at', n.location);
      d.row('status', n.status, n.status === 'ok' ? '' : 'bg-error');
      d.row('build order', n.order >= 0 ? '#' + n.order : 'never runs');
      if (data.run) {
        var tm = timing[n.id];
        d.row('ran', n.ran ? 'yes, ' + ns(n.runtimeNs || 0) : 'no');
        if (tm && tm.waits) { d.row('waited', ns(tm.waitNs) + ' while fx built what it needs, then ran ' + ns(tm.ownNs)); }
      }
      if (critical[n.id]) { d.row('critical path', 'yes: the start cannot be shorter than the chain through it'); }
      d.row('error', n.error, 'bg-error');
      d.list('needs', (n.inputs || []).map(function (p) { return key(p) + (p.optional ? ' (optional)' : '') + (p.soft ? ' (soft)' : ''); }));
      d.list('provides', (n.outputs || []).map(function (p) { return key(p) + (p.flatten ? ' (flatten)' : ''); }));
      var hooks = hooksOf[n.id] || [];
      d.list('hooks', hooks.map(function (h) {
        return '#' + h.index + (data.run && h.startIndex >= 0 ? ', started ' + h.startIndex + ' in ' + ns(h.startNs || 0) : '') + (h.error ? ', error: ' + h.error : '');
      }));
      d.list('live', statusLines(n.id).map(function (l) { return l.t + (l.title ? ' (' + l.title + ')' : ''); }));
      d.list('needs directly', uniqIDs(needs[id].map(function (ei) { return data.edges[ei].from; })).map(nodeRef));
      d.list('needed directly by', uniqIDs(neededBy[id].map(function (ei) { return data.edges[ei].to; })).map(nodeRef));
      d.row('upstream', Object.keys(up).length + ' node(s) it needs, transitively');
      d.row('downstream', Object.keys(down).length + ' node(s) that need it, transitively');
    });
  }
  function uniqIDs(list) { var seen = {}; return list.filter(function (x) { if (seen[x]) { return false; } seen[x] = true; return true; }); }
  function showModule(m) {
    var list = deepNodes(m);
    var from = {}, to = {};
    list.forEach(function (n) {
      needs[n.id].forEach(function (ei) { var e = data.edges[ei], o = nodes[e.from]; if (!within(o.module, m) && (state.infra || !e.infra)) { var k = modLabel(o.module); (from[k] = from[k] || {})[e.key] = true; } });
      neededBy[n.id].forEach(function (ei) { var e = data.edges[ei], o = nodes[e.to]; if (!within(o.module, m) && (state.infra || !e.infra)) { var k = modLabel(o.module); (to[k] = to[k] || {})[e.key] = true; } });
    });
    showDetails(function () {
      add(details, 'h2', 'module ' + modLabel(m));
      var d = dl();
      d.row('id', m);
      d.row('functions', kindCounts(list));
      d.row('hooks', hookText(list));
      d.row('problems', problemText(list), 'bg-error');
      function keys(set) { var ks = Object.keys(set).sort(); return ks.length > 6 ? ks.slice(0, 5).join(', ') + ' and ' + (ks.length - 5) + ' more' : ks.join(', '); }
      d.list('needs from', Object.keys(from).sort().map(function (k) { return k + ': ' + keys(from[k]); }));
      d.list('provides to', Object.keys(to).sort().map(function (k) { return k + ': ' + keys(to[k]); }));
      var live = [];
      list.forEach(function (n) { statusLines(n.id).forEach(function (l) { live.push(l.t); }); });
      d.list('live', live);
      d.list('functions', list.filter(function (n) { return state.infra || !n.infra; }).map(function (n) { return nodeRef(n.id); }));
    });
  }
  function showGroup(gi) {
    var g = data.groups[gi];
    showDetails(function () {
      add(details, 'h2', 'value group ' + g.name);
      var d = dl();
      d.row('element type', g.type);
      d.list('members', g.members.map(nodeRef));
      d.list('consumers', g.consumers.map(nodeRef));
    });
  }
  function clearSelection() {
    state.selected = null; state.selectedModule = null;
    details.hidden = true;
    details.textContent = '';
    applyMarks();
  }

  // ---- expanding and collapsing ------------------------------------------------
  function expand(m) {
    if (state.expanded[m]) { return; }
    state.expanded[m] = true;
    history.push({expand: [m]});
    state.selectedModule = null;
    render();
    var head = document.querySelector('[data-collapse="' + CSS.escape(m) + '"]');
    if (head) { head.focus({preventScroll: true}); scrollTo(head); }
  }
  function collapse(m) {
    var changed = false;
    Object.keys(state.expanded).forEach(function (x) { if (within(x, m) && state.expanded[x]) { state.expanded[x] = false; changed = true; } });
    if (!changed) { return; }
    history.push({collapse: m});
    render();
    var box = document.getElementById('module-' + safeID(m));
    if (box) { box.focus({preventScroll: true}); }
  }
  function overview() {
    state.expanded = {};
    history = [];
    clearSelection();
    render();
  }
  function back() {
    var h = history.pop();
    if (!h) { return; }
    if (h.expand) { h.expand.forEach(function (m) { state.expanded[m] = false; }); }
    if (h.collapse) { state.expanded[h.collapse] = true; }
    if (h.infra) { state.infra = false; document.getElementById('bg-infra').checked = false; }
    render();
  }
  function scrollTo(elm) {
    var r = elm.getBoundingClientRect(), v = view.getBoundingClientRect();
    if (r.left < v.left || r.right > v.right) { view.scrollLeft += r.left - v.left - 20; }
    if (r.top < v.top || r.bottom > v.bottom) { view.scrollTop += r.top - v.top - 20; }
  }
  function renderCrumbs() {
    var c = document.getElementById('bg-crumbs');
    c.textContent = '';
    var b = add(c, 'button', '← back', 'bg-back');
    b.type = 'button'; b.id = 'bg-back'; b.disabled = history.length === 0;
    b.addEventListener('click', back);
    var o = add(c, 'button', 'Overview', 'bg-crumb');
    o.type = 'button'; o.setAttribute('data-crumb', '');
    o.addEventListener('click', overview);
    Object.keys(state.expanded).filter(function (m) { return state.expanded[m]; }).sort().forEach(function (m) {
      add(c, 'span', '›', 'bg-crumb-sep');
      var x = add(c, 'button', modLabel(m) + ' ×', 'bg-crumb');
      x.type = 'button'; x.setAttribute('data-crumb', m); x.title = 'collapse ' + m;
      x.addEventListener('click', function () { collapse(m); });
    });
  }

  // ---- events ----------------------------------------------------------
  function activate(t, ev) {
    var hit = t.closest ? t.closest('[data-module-info], [data-collapse], [data-node], [data-module], [data-group], [data-crumb]') : null;
    if (!hit) { return false; }
    if (hit.closest('#bg-crumbs')) { return false; }
    if (ev) { ev.preventDefault(); }
    if (hit.hasAttribute('data-module-info')) { state.selectedModule = hit.getAttribute('data-module-info'); showModule(state.selectedModule); return true; }
    if (hit.hasAttribute('data-collapse')) { collapse(hit.getAttribute('data-collapse')); return true; }
    if (hit.hasAttribute('data-node')) { select(hit.getAttribute('data-node')); return true; }
    if (hit.hasAttribute('data-group')) { showGroup(+hit.getAttribute('data-group')); return true; }
    if (hit.classList.contains('bg-module') || hit.classList.contains('bg-module-name')) { expand(hit.getAttribute('data-module')); return true; }
    return false;
  }
  document.addEventListener('click', function (ev) {
    var t = ev.target;
    if (!t || !t.closest) { return; }
    if (t.closest('#bg-details') && !t.closest('[data-node]')) { return; }
    if (activate(t, ev)) { return; }
    if (t.closest('#bg-graph-view')) { clearSelection(); }
  });
  document.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape') { clearSelection(); return; }
    var t = ev.target;
    if ((ev.key === 'Enter' || ev.key === ' ') && t && t.closest && (t.closest('#bg-graph-view') || t.classList.contains('bg-bar'))) { activate(t, ev); }
    if (ev.key === 'Backspace' && t && t.closest && t.closest('#bg-graph-view')) { ev.preventDefault(); back(); }
  });

  document.getElementById('bg-infra').addEventListener('change', function (ev) { state.infra = ev.target.checked; render(); });
  document.getElementById('bg-dir').addEventListener('change', function (ev) { state.dir = ev.target.value; render(); });
  document.getElementById('bg-critical').addEventListener('change', function (ev) { root.classList.toggle('bg-show-critical', ev.target.checked); });
  root.classList.toggle('bg-show-critical', document.getElementById('bg-critical').checked);
  var search = document.getElementById('bg-search');
  search.addEventListener('input', function () { state.query = search.value; applyMarks(); });
  search.addEventListener('keydown', function (ev) {
    if (ev.key !== 'Enter') { return; }
    var q = search.value.trim().toLowerCase();
    var first = data.nodes.filter(function (n) { return nodeVisible(n) && q && matches(n, q); })[0];
    if (first) { select(first.id); }
  });
  each('.bg-module-toggle', function (cb) {
    cb.addEventListener('change', function () { state.off[cb.value] = !cb.checked; render({fit: true}); });
  });
  function setAll(v) { each('.bg-module-toggle', function (cb) { cb.checked = v; state.off[cb.value] = !v; }); render(); }
  document.getElementById('bg-modules-all').addEventListener('click', function () { setAll(true); });
  document.getElementById('bg-modules-none').addEventListener('click', function () { setAll(false); });
  document.getElementById('bg-zoom-in').addEventListener('click', function () { zoom(state.scale * 1.25); });
  document.getElementById('bg-zoom-out').addEventListener('click', function () { zoom(state.scale / 1.25); });
  document.getElementById('bg-zoom-1').addEventListener('click', function () { zoom(1); });
  document.getElementById('bg-zoom-fit').addEventListener('click', fit);
  window.addEventListener('resize', function () { sizeView(); fit(); });

  // ---- export ----------------------------------------------------------
  // exportSVG is the current view as a standalone SVG document: the drawn
  // graph, its styles inlined, at 1:1.
  function exportSVG() {
    var c = svg.cloneNode(true);
    var out = document.createElementNS(SVGNS, 'svg');
    out.setAttribute('xmlns', SVGNS);
    out.setAttribute('width', Math.ceil(svg.__w));
    out.setAttribute('height', Math.ceil(svg.__h));
    out.setAttribute('viewBox', c.getAttribute('viewBox'));
    out.setAttribute('font-family', FONT);
    var st = document.createElementNS(SVGNS, 'style');
    st.textContent = document.getElementById('bg-graph-style').textContent;
    out.appendChild(st);
    // The page's state classes sit on <html>; here on groups around the drawing.
    var state = document.createElementNS(SVGNS, 'g');
    state.setAttribute('class', ['bg-show-critical', 'bg-has-selection', 'bg-searching'].filter(function (k) { return root.classList.contains(k); }).join(' '));
    var inner = document.createElementNS(SVGNS, 'g');
    inner.setAttribute('class', 'bg-svg');
    while (c.firstChild) { inner.appendChild(c.firstChild); }
    state.appendChild(inner);
    out.appendChild(state);
    each('[tabindex]', function (e) { e.removeAttribute('tabindex'); e.removeAttribute('role'); }, out);
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(out);
  }
  // exportPNG draws exportSVG on a canvas, twice the size: a PNG blob.
  function exportPNG(scale) {
    scale = scale || 2;
    return new Promise(function (resolve, reject) {
      var img = new Image();
      var url = URL.createObjectURL(new Blob([exportSVG()], {type: 'image/svg+xml'}));
      img.onload = function () {
        var cv = document.createElement('canvas');
        cv.width = Math.ceil(svg.__w * scale); cv.height = Math.ceil(svg.__h * scale);
        var c2 = cv.getContext('2d');
        c2.fillStyle = '#ffffff';
        c2.fillRect(0, 0, cv.width, cv.height);
        c2.scale(scale, scale);
        c2.drawImage(img, 0, 0);
        URL.revokeObjectURL(url);
        cv.toBlob(function (b) { if (b) { resolve(b); } else { reject(new Error('canvas gave no PNG')); } }, 'image/png');
      };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new Error('the SVG did not load as an image')); };
      img.src = url;
    });
  }
  function download(blob, name) {
    var a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 0);
  }
  function fileName(ext) {
    var ex = Object.keys(state.expanded).filter(function (m) { return state.expanded[m]; }).sort();
    return 'bootgraph' + (ex.length ? '-' + ex.join('-').replace(/[^A-Za-z0-9-]/g, '_') : '-overview') + '.' + ext;
  }
  document.getElementById('bg-export-svg').addEventListener('click', function () { download(new Blob([exportSVG()], {type: 'image/svg+xml'}), fileName('svg')); });
  document.getElementById('bg-export-png').addEventListener('click', function () {
    exportPNG().then(function (b) { download(b, fileName('png')); }, function (err) { console.warn('PNG export:', err); });
  });

  // ---- live status polling ------------------------------------------------
  var live = document.getElementById('bg-live');
  function showLive(text, ok) {
    live.hidden = false;
    live.textContent = text;
    live.setAttribute('data-ready', ok ? 'true' : 'false');
    live.className = ok ? 'bg-live-ok' : 'bg-live-bad';
  }
  function liveSummary() {
    if (!status) { return; }
    var down = (status.listeners || []).filter(function (l) { return !l.ready; }).map(function (l) { return l.name; });
    showLive(down.length ? 'live: not ready: ' + down.join(', ') : 'live: ready, ' + plural((status.listeners || []).length, 'listener'), !down.length);
  }
  if (status) { liveSummary(); }
  if (extra.statusURL) {
    var last = JSON.stringify(status);
    var poll = function () {
      fetch(extra.statusURL, {cache: 'no-store'}).then(function (r) {
        if (!r.ok) { throw new Error('HTTP ' + r.status); }
        return r.json();
      }).then(function (s) {
        var txt = JSON.stringify(s.listeners) + JSON.stringify(s.certificate) + JSON.stringify(s.ca);
        status = s;
        liveSummary();
        if (txt !== last) { last = txt; render({fit: false}); }
      }).catch(function (err) {
        showLive('live status unavailable (' + err.message + ')', false);
      }).then(function () { setTimeout(poll, extra.pollMs || 2000); });
    };
    setTimeout(poll, extra.pollMs || 2000);
  }

  // ---- timeline --------------------------------------------------------
  each('.bg-bar[data-node]', function (b) { b.setAttribute('tabindex', '0'); });

  // ---- start -----------------------------------------------------------
  readHash();
  document.getElementById('bg-infra').checked = state.infra;
  sizeView();
  render();
  stats.firstRenderMs = performance.now();
  window.bootgraph = {
    stats: stats, state: state, render: render, expand: expand, collapse: collapse, overview: overview, back: back,
    select: select, clear: clearSelection, fit: fit, exportSVG: exportSVG, exportPNG: exportPNG,
    setInfra: function (v) { state.infra = !!v; document.getElementById('bg-infra').checked = !!v; render(); },
  };
  root.setAttribute('data-bg-ready', 'true');
}());
