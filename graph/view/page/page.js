// bootgraph page: selection with upstream/downstream, module filter,
// search and zoom over the inlined SVG. No dependencies, no network.
(function () {
  'use strict';
  var root = document.documentElement;
  var data = JSON.parse(document.getElementById('bg-data').textContent);
  var nodes = {}, needs = {}, neededBy = {}, parentOf = {};
  var view = document.getElementById('bg-graph-view');
  var details = document.getElementById('bg-details');
  var hint = details.innerHTML;

  // safeID is graph/ids.go's safeID: SVG ids are "node-" + safeID(id).
  function safeID(s) {
    if (/^[A-Za-z0-9]*$/.test(s)) { return s; }
    var out = '';
    for (var ch of s) {
      if (/^[A-Za-z0-9]$/.test(ch)) { out += ch; }
      else if (ch === '_') { out += '__'; }
      else { out += '_' + ch.codePointAt(0).toString(16) + '_'; }
    }
    return out;
  }
  function each(selector, fn) { Array.prototype.forEach.call(document.querySelectorAll(selector), fn); }
  function key(p) { return p.type + (p.group ? '[group=' + p.group + ']' : p.name ? '[name=' + p.name + ']' : ''); }
  function parent(m) {
    if (Object.prototype.hasOwnProperty.call(parentOf, m)) { return parentOf[m]; }
    var i = m.lastIndexOf('/');
    return i > 0 ? m.slice(0, i) : '';
  }

  data.modules.forEach(function (m) { parentOf[m.id] = m.parent; });
  data.nodes.forEach(function (n) {
    nodes[n.id] = n; needs[n.id] = []; neededBy[n.id] = [];
    var el = document.getElementById('node-' + safeID(n.id));
    if (el) { el.setAttribute('data-node', n.id); el.setAttribute('data-module', n.module); }
  });
  var edges = data.edges.map(function (e, i) {
    needs[e.to].push(e.from); neededBy[e.from].push(e.to);
    var el = document.getElementById('edge-' + i);
    if (el) { el.setAttribute('data-from', e.from); el.setAttribute('data-to', e.to); }
    return el;
  });

  // reach is every node reachable from start along adj, start excluded.
  function reach(start, adj) {
    var seen = {}, stack = [start];
    while (stack.length) {
      adj[stack.pop()].forEach(function (x) { if (!seen[x]) { seen[x] = true; stack.push(x); } });
    }
    delete seen[start];
    return seen;
  }

  // Selection.
  var MARKS = ['bg-selected', 'bg-upstream', 'bg-downstream'];
  function clearSelection() {
    each('.bg-selected, .bg-upstream, .bg-downstream', function (el) {
      MARKS.forEach(function (c) { el.classList.remove(c); });
    });
    root.classList.remove('bg-has-selection');
    details.innerHTML = hint;
  }
  function select(id) {
    if (!nodes[id]) { return; }
    clearSelection();
    var up = reach(id, needs), down = reach(id, neededBy);
    each('[data-node]', function (el) {
      var n = el.getAttribute('data-node');
      if (n === id) { el.classList.add('bg-selected'); return; }
      if (up[n]) { el.classList.add('bg-upstream'); }
      if (down[n]) { el.classList.add('bg-downstream'); }
    });
    data.edges.forEach(function (e, i) {
      var el = edges[i];
      if (!el) { return; }
      if ((e.to === id || up[e.to]) && up[e.from]) { el.classList.add('bg-upstream'); }
      if ((e.from === id || down[e.from]) && down[e.to]) { el.classList.add('bg-downstream'); }
    });
    root.classList.add('bg-has-selection');
    showDetails(nodes[id], Object.keys(up).length, Object.keys(down).length);
  }

  function add(parentEl, tag, text, cls) {
    var el = document.createElement(tag);
    if (text !== undefined) { el.textContent = text; }
    if (cls) { el.className = cls; }
    parentEl.appendChild(el);
    return el;
  }
  function ns(v) {
    if (v < 1e3) { return v + 'ns'; }
    if (v < 1e6) { return (v / 1e3).toPrecision(3) + 'µs'; }
    if (v < 1e9) { return (v / 1e6).toPrecision(3) + 'ms'; }
    return (v / 1e9).toPrecision(3) + 's';
  }
  function showDetails(n, nUp, nDown) {
    details.textContent = '';
    add(details, 'h2', n.name || n.func);
    var dl = add(details, 'dl');
    function row(term, value, cls) {
      if (value === undefined || value === '' || value === null) { return; }
      add(dl, 'dt', term);
      add(dl, 'dd', String(value), cls);
    }
    function ports(term, list) {
      if (!list || !list.length) { return; }
      add(dl, 'dt', term);
      var ul = add(add(dl, 'dd'), 'ul');
      list.forEach(function (p) {
        add(ul, 'li', key(p) + (p.optional ? ' (optional)' : '') + (p.soft ? ' (soft)' : '') + (p.flatten ? ' (flatten)' : ''));
      });
    }
    row('kind', n.kind + (n.private ? ' (private)' : ''));
    row('module', n.module || '(top level)');
    row('function', n.func);
    row('registered at', n.location);
    row('status', n.status, n.status === 'ok' ? '' : 'bg-error');
    row('build order', n.order >= 0 ? '#' + n.order : 'never runs');
    if (data.run) { row('ran', n.ran ? 'yes, ' + ns(n.runtimeNs || 0) : 'no'); }
    row('error', n.error, 'bg-error');
    ports('needs', n.inputs);
    ports('provides', n.outputs);
    var hooks = (data.hooks || []).filter(function (h) { return h.node === n.id; });
    if (hooks.length) {
      row('hooks', hooks.map(function (h) {
        return '#' + h.index + (data.run && h.startIndex >= 0 ? ' (started ' + h.startIndex + ', ' + ns(h.startNs || 0) + ')' : '') + (h.error ? ' error: ' + h.error : '');
      }).join('; '));
    }
    row('upstream', nUp + ' node(s) it needs, transitively');
    row('downstream', nDown + ' node(s) that need it, transitively');
  }

  document.addEventListener('click', function (ev) {
    var t = ev.target;
    var hit = t && t.closest ? t.closest('[data-node]') : null;
    if (hit && hit.getAttribute('data-node')) { ev.preventDefault(); select(hit.getAttribute('data-node')); return; }
    if (t && t.closest && t.closest('#bg-graph-view')) { clearSelection(); }
  });
  document.addEventListener('keydown', function (ev) { if (ev.key === 'Escape') { clearSelection(); } });

  // Module filter: a node is hidden when its module or an enclosing one
  // is unticked; so are its edges and timeline bars.
  function applyFilter() {
    var off = {};
    each('.bg-module-toggle', function (cb) { if (!cb.checked) { off[cb.value] = true; } });
    function hidden(m) {
      if (off[m]) { return true; }
      while (m !== '') { m = parent(m); if (m !== '' && off[m]) { return true; } }
      return false;
    }
    var gone = {};
    data.nodes.forEach(function (n) { if (hidden(n.module)) { gone[n.id] = true; } });
    each('g.bg-node[data-node], .bg-bar[data-node]', function (el) {
      el.classList.toggle('bg-hidden', !!gone[el.getAttribute('data-node')]);
    });
    data.edges.forEach(function (e, i) {
      if (edges[i]) { edges[i].classList.toggle('bg-hidden', !!(gone[e.from] || gone[e.to])); }
    });
    each('.bg-module-toggle', function (cb) {
      var el = document.getElementById('module-' + safeID(cb.value));
      if (el) { el.classList.toggle('bg-hidden', hidden(cb.value)); }
    });
  }
  each('.bg-module-toggle', function (cb) { cb.addEventListener('change', applyFilter); });
  function setAll(v) { each('.bg-module-toggle', function (cb) { cb.checked = v; }); applyFilter(); }
  document.getElementById('bg-modules-all').addEventListener('click', function () { setAll(true); });
  document.getElementById('bg-modules-none').addEventListener('click', function () { setAll(false); });

  // Search: names and the types (keys) that nodes take or provide.
  var search = document.getElementById('bg-search');
  var count = document.getElementById('bg-search-count');
  function matches(n, q) {
    var hay = [n.name, n.func];
    (n.inputs || []).concat(n.outputs || []).forEach(function (p) { hay.push(key(p)); });
    return hay.some(function (s) { return s && s.toLowerCase().indexOf(q) >= 0; });
  }
  function applySearch() {
    var q = search.value.trim().toLowerCase(), hits = {}, k = 0;
    if (q) { data.nodes.forEach(function (n) { if (matches(n, q)) { hits[n.id] = true; k++; } }); }
    each('[data-node]', function (el) { el.classList.toggle('bg-match', !!hits[el.getAttribute('data-node')]); });
    root.classList.toggle('bg-searching', q !== '');
    count.textContent = q ? k + (k === 1 ? ' match' : ' matches') : '';
  }
  search.addEventListener('input', applySearch);

  // Zoom: scale the SVG's own size (in pt).
  var svg = view.querySelector('svg');
  if (svg) {
    var w0 = parseFloat(svg.getAttribute('width')) || 0, h0 = parseFloat(svg.getAttribute('height')) || 0, scale = 1;
    var zoom = function (s) {
      scale = Math.max(0.05, Math.min(s, 8));
      svg.setAttribute('width', (w0 * scale) + 'pt');
      svg.setAttribute('height', (h0 * scale) + 'pt');
    };
    document.getElementById('bg-zoom-in').addEventListener('click', function () { zoom(scale * 1.25); });
    document.getElementById('bg-zoom-out').addEventListener('click', function () { zoom(scale / 1.25); });
    document.getElementById('bg-zoom-1').addEventListener('click', function () { zoom(1); });
    document.getElementById('bg-zoom-fit').addEventListener('click', function () {
      if (w0 > 0) { zoom((view.clientWidth - 4) / (w0 * 4 / 3)); }
    });
  }

  root.setAttribute('data-bg-ready', 'true');
}());
