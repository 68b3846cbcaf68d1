package view

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/graph/view/viewtest"
)

// The browser tests drive a real, headless Chromium (see package
// viewtest). The mermaid test also needs mermaid's browser bundle:
//
//	BOOTGRAPH_MERMAID_JS mermaid's browser bundle, default
//	                     $HOME/.cache/bootgraph/npm/node_modules/mermaid/dist/mermaid.min.js

const installMermaid = "scripts/install-test-tools.sh, or: mkdir -p ~/.cache/bootgraph/npm && npm install --prefix ~/.cache/bootgraph/npm mermaid@12.3.0"

func mermaidBundle(t *testing.T) string {
	p := os.Getenv("BOOTGRAPH_MERMAID_JS")
	if p == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatalf("home directory: %v", err)
		}
		p = filepath.Join(home, ".cache", "bootgraph", "npm", "node_modules", "mermaid", "dist", "mermaid.min.js")
	}
	return viewtest.NeedFile(t, p, "mermaid's browser bundle", installMermaid)
}

func eval[T any](b *viewtest.Browser, expr string) T { return viewtest.Eval[T](b, expr) }

// openGraph renders g with HTML and loads the page, waiting for its
// first drawing.
func openGraph(b *viewtest.Browser, g *graph.Graph) []byte {
	b.T.Helper()
	var buf bytes.Buffer
	if err := HTML(context.Background(), g, &buf); err != nil {
		b.T.Fatal(err)
	}
	b.OpenPage("graph.html", buf.Bytes())
	return buf.Bytes()
}

// drawn are the classes of what the drawing shows, by node ID (nodes),
// module ID (module boxes and clusters) and link id.
type drawn struct {
	Nodes   map[string]string `json:"nodes"`
	Modules map[string]string `json:"modules"`
	Links   map[string]string `json:"links"`
}

func readDrawn(b *viewtest.Browser) drawn {
	return eval[drawn](b, `({
		nodes: Object.fromEntries([...document.querySelectorAll('#bg-svg g.bg-node')].map(e => [e.getAttribute('data-node'), e.getAttribute('class')])),
		modules: Object.fromEntries([...document.querySelectorAll('#bg-svg g.bg-module, #bg-svg g.bg-cluster')].map(e => [e.getAttribute('data-module'), e.getAttribute('class')])),
		links: Object.fromEntries([...document.querySelectorAll('#bg-svg g.bg-link')].map(e => [e.id, e.getAttribute('class')])),
	})`)
}

func hasClass(classes, c string) bool { return slices.Contains(strings.Fields(classes), c) }

// click dispatches a click on the first text inside the element selector
// finds, as a user's click on its label would.
func click(b *viewtest.Browser, selector string) {
	b.T.Helper()
	ok := eval[bool](b, fmt.Sprintf(`(() => {
		const g = document.querySelector(%q);
		if (!g) return false;
		(g.querySelector('text') || g).dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true}));
		return true;
	})()`, selector))
	if !ok {
		b.T.Fatalf("nothing to click at %s", selector)
	}
}

func nodeSel(id string) string   { return "#" + graph.NodeElementID(id) }
func moduleSel(id string) string { return "#" + graph.ModuleElementID(id) }
func checkMark(t *testing.T, what, classes, want string) {
	t.Helper()
	for _, c := range []string{"bg-selected", "bg-upstream", "bg-downstream"} {
		if hasClass(classes, c) != (c == want) {
			t.Errorf("%s has classes %q, want mark %q", what, classes, want)
			return
		}
	}
}

// TestBrowserHTML opens the plane fixture's page in Chromium and uses it:
// the overview, expanding modules, selection, the timeline, the module
// filter and search.
func TestBrowserHTML(t *testing.T) {
	b := viewtest.New(t, viewtest.Options{})
	g := planeGraph()
	openGraph(b, g)

	// The overview: a box per top-level module, the top-level node that
	// is not infrastructure, nothing inside the modules, no infrastructure.
	d := readDrawn(b)
	for _, m := range []string{"ca", "dnscert", "grpc"} {
		if c, ok := d.Modules[m]; !ok || !hasClass(c, "bg-module") {
			t.Errorf("overview: module %s drawn as %q, want a bg-module box", m, c)
		}
	}
	if len(d.Nodes) != 1 || d.Nodes["n1"] == "" {
		t.Errorf("overview: nodes %v, want only n1 (the config; n0 and n2 are infrastructure)", d.Nodes)
	}
	text := eval[string](b, `document.getElementById('bg-svg').textContent`)
	for _, want := range []string{"*dnscert.Bundle", "*ca.CA", "grpc.Service", "hook #0"} {
		if !strings.Contains(text, want) {
			t.Errorf("overview: %q not drawn", want)
		}
	}
	for _, infra := range []string{"fx.Lifecycle", "zap.Logger"} {
		if strings.Contains(text, infra) {
			t.Errorf("overview: infrastructure %q drawn", infra)
		}
	}

	// Clicking a module expands it in place, with a crumb to collapse it.
	click(b, moduleSel("ca"))
	d = readDrawn(b)
	if !hasClass(d.Modules["ca"], "bg-cluster") {
		t.Errorf("after clicking ca: %q, want a cluster", d.Modules["ca"])
	}
	for _, id := range []string{"n3", "n4", "n8"} {
		if d.Nodes[id] == "" {
			t.Errorf("after clicking ca: node %s not drawn", id)
		}
	}
	if c := eval[string](b, `document.getElementById('bg-crumbs').textContent`); !strings.Contains(c, "ca ×") {
		t.Errorf("crumbs %q", c)
	}

	// Selecting grpc.provideServer (it expands grpc): what it needs is
	// upstream, boxes holding it too; ca.registerRun is downstream.
	click(b, moduleSel("grpc"))
	click(b, nodeSel("n7"))
	d = readDrawn(b)
	checkMark(t, "n7", d.Nodes["n7"], "bg-selected")
	checkMark(t, "n8", d.Nodes["n8"], "bg-downstream")
	for _, id := range []string{"n1", "n3", "n4"} {
		checkMark(t, id, d.Nodes[id], "bg-upstream")
	}
	checkMark(t, "module dnscert (holds n5)", d.Modules["dnscert"], "bg-upstream")
	checkMark(t, "module grpc/health (holds n6)", d.Modules["grpc/health"], "bg-upstream")
	var up, down int
	for _, c := range d.Links {
		if hasClass(c, "bg-upstream") {
			up++
		}
		if hasClass(c, "bg-downstream") {
			down++
		}
	}
	if up < 4 || down < 1 {
		t.Errorf("links marked: %d upstream, %d downstream: %v", up, down, d.Links)
	}
	if c := eval[string](b, `document.querySelector('#bg-hooks .bg-bar[data-node="n7"]').className`); !hasClass(c, "bg-selected") {
		t.Errorf("click n7: its hook bar has class %q, want bg-selected", c)
	}
	if det := eval[string](b, `document.getElementById('bg-details').textContent`); !strings.Contains(det, "modules/grpc.provideServer") || !strings.Contains(det, "*dnscert.Bundle") {
		t.Errorf("click n7: details panel shows %q", det)
	}

	// A click on the background clears.
	click(b, "#bg-svg > rect.bg-bg")
	if n := eval[int](b, `document.querySelectorAll('.bg-selected, .bg-upstream, .bg-downstream').length`); n != 0 {
		t.Errorf("after a background click, %d elements are still marked", n)
	}
	if !eval[bool](b, `document.getElementById('bg-details').hidden`) {
		t.Error("the details panel is still open")
	}

	// The timeline: one bar per hook, in start order, the longest widest;
	// the critical path said and marked; the invoke's wait drawn.
	type bar struct {
		Node  string  `json:"node"`
		Hook  string  `json:"hook"`
		Width float64 `json:"width"`
		Class string  `json:"class"`
	}
	bars := eval[[]bar](b, `[...document.querySelectorAll('#bg-hooks .bg-bar')].map(e => ({node: e.dataset.node, hook: e.dataset.hook, class: e.className, width: e.querySelector('.bg-bar-fill').getBoundingClientRect().width}))`)
	if len(bars) != len(g.Hooks) {
		t.Fatalf("%d hook bars, want %d", len(bars), len(g.Hooks))
	}
	for i, h := range g.Hooks { // planeGraph's hooks are listed in start order
		if bars[i].Node != h.Node || bars[i].Hook != fmt.Sprint(h.Index) || !hasClass(bars[i].Class, "bg-critical") {
			t.Errorf("hook bar %d is node %s hook %s (%s), want node %s hook %d on the critical path", i, bars[i].Node, bars[i].Hook, bars[i].Class, h.Node, h.Index)
		}
	}
	if !(bars[1].Width > bars[0].Width && bars[0].Width > bars[2].Width) {
		t.Errorf("hook bar widths %v: want them in proportion to 5ms > 2ms > 1ms", bars)
	}
	if n := eval[int](b, `document.querySelectorAll('#bg-build .bg-bar').length`); n != 8 {
		t.Errorf("%d build bars, want 8 (the functions with an order)", n)
	}
	if cp := eval[string](b, `document.getElementById('bg-critical-path').textContent`); !strings.Contains(cp, "bootgraph.Config → ca.provideCA → dnscert.provideIstiod → grpc.provideServer → ca.registerRun") {
		t.Errorf("critical path: %q", cp)
	}
	if !eval[bool](b, `!!document.querySelector('#bg-build .bg-bar[data-node="n8"] .bg-bar-wait')`) {
		t.Error("the invoke ca.registerRun does not show what it waited for")
	}
	// The critical path is marked in the drawing.
	if d = readDrawn(b); !hasClass(d.Nodes["n3"], "bg-critical") || hasClass(d.Nodes["n4"], "bg-critical") {
		t.Errorf("critical marks: n3 %q, n4 %q", d.Nodes["n3"], d.Nodes["n4"])
	}

	// Clicking a timeline bar selects its node.
	click(b, `#bg-build .bg-bar[data-node="n5"]`)
	if d = readDrawn(b); !hasClass(d.Nodes["n5"], "bg-selected") {
		t.Errorf("after clicking n5's bar, n5 is %q (module dnscert expanded: %q)", d.Nodes["n5"], d.Modules["dnscert"])
	}
	b.Key("\x1b") // Escape clears

	// The module filter: unticking ca takes it out, links included.
	b.Do(`document.querySelector('.bg-module-toggle[value="ca"]').click()`)
	if d = readDrawn(b); d.Modules["ca"] != "" || d.Nodes["n3"] != "" {
		t.Errorf("after unticking ca: module %q, n3 %q still drawn", d.Modules["ca"], d.Nodes["n3"])
	}
	if n := eval[int](b, `[...document.querySelectorAll('#bg-svg g.bg-link')].filter(e => e.textContent.includes('*ca.CA')).length`); n != 0 {
		t.Errorf("after unticking ca, %d links carry *ca.CA", n)
	}
	b.Do(`document.getElementById('bg-modules-all').click()`)
	if d = readDrawn(b); d.Modules["ca"] == "" {
		t.Error("after 'all', ca is not drawn")
	}

	// Search by type, typed as a user would: matches, and the boxes
	// holding them.
	b.Do(`bootgraph.overview()`)
	if err := chromedp.Do(b.Ctx, chromedp.SendKeys(chromedp.CSS("#bg-search"), "dnscert.Bundle")); err != nil {
		t.Fatal(err)
	}
	if c := eval[string](b, `document.getElementById('bg-search-count').textContent`); c != "2 matches" {
		t.Errorf("search count %q, want 2 matches", c)
	}
	d = readDrawn(b)
	if !hasClass(d.Modules["dnscert"], "bg-match") || !hasClass(d.Modules["grpc"], "bg-match") || hasClass(d.Modules["ca"], "bg-match") {
		t.Errorf("search marks: %v", d.Modules)
	}
	b.Key("\r") // Enter selects the first match, expanding its module
	if d = readDrawn(b); !hasClass(d.Nodes["n5"], "bg-selected") {
		t.Errorf("Enter in search: n5 is %q", d.Nodes["n5"])
	}

	// Back undoes the expansion; Overview collapses everything.
	click(b, "#bg-back")
	if d = readDrawn(b); !hasClass(d.Modules["dnscert"], "bg-module") {
		t.Errorf("after back, dnscert is %q", d.Modules["dnscert"])
	}
	b.Do(`bootgraph.expand('ca'); bootgraph.expand('grpc')`)
	click(b, `#bg-crumbs [data-crumb=""]`)
	if n := eval[int](b, `document.querySelectorAll('#bg-svg .bg-cluster').length`); n != 0 {
		t.Errorf("after Overview, %d clusters", n)
	}
	b.NoErrors()
}

// TestBrowserHTMLAllGraphs: on every test graph each node can be shown
// and selected (its module expanded, infrastructure shown when it is
// some), with an element id Go's safeID gives, and the hooks are listed.
func TestBrowserHTMLAllGraphs(t *testing.T) {
	b := viewtest.New(t, viewtest.Options{})
	for _, tg := range testGraphs() {
		openGraph(b, tg.g)
		for _, n := range tg.g.Nodes {
			b.Do(fmt.Sprintf(`bootgraph.select(%q)`, n.ID))
			c := eval[string](b, fmt.Sprintf(`(document.getElementById(%q) || {getAttribute: () => 'not drawn'}).getAttribute('class')`, graph.NodeElementID(n.ID)))
			if !hasClass(c, "bg-selected") {
				t.Errorf("%s: selected %q, its classes are %q", tg.name, n.ID, c)
			}
		}
		if n := eval[int](b, `document.querySelectorAll('#bg-hooks .bg-bar').length`); n != len(tg.g.Hooks) {
			t.Errorf("%s: %d hook bars, want %d", tg.name, n, len(tg.g.Hooks))
		}
	}
	// missingGraph: the missing type is upstream of both nodes that need
	// it, and so is the collapsed module that provides the CA.
	openGraph(b, missingGraph())
	b.Do(`bootgraph.select('n3')`)
	d := readDrawn(b)
	checkMark(t, "missing: n2", d.Nodes["n2"], "bg-upstream")
	checkMark(t, "missing: n1", d.Nodes["n1"], "bg-upstream")
	checkMark(t, "missing: module ca", d.Modules["ca"], "bg-upstream")
	if !hasClass(d.Nodes["n1"], "bg-kind-missing") {
		t.Errorf("missing: n1 is %q", d.Nodes["n1"])
	}
	// cycleGraph: the other end of the cycle is up- and downstream.
	openGraph(b, cycleGraph())
	b.Do(`bootgraph.select('n0')`)
	if c := readDrawn(b).Modules["b"]; !hasClass(c, "bg-upstream") || !hasClass(c, "bg-downstream") {
		t.Errorf("cycle: select n0: module b has classes %q, want up- and downstream", c)
	}
	b.NoErrors()
}

// TestBrowserInfra: infrastructure is hidden until the switch is on, then
// drawn (its nodes and its links).
func TestBrowserInfra(t *testing.T) {
	b := viewtest.New(t, viewtest.Options{})
	openGraph(b, planeGraph())
	b.Do(`bootgraph.expand('ca')`)
	if n := eval[int](b, `document.querySelectorAll('#bg-svg .bg-infra, #bg-svg .bg-link-infra').length`); n != 0 {
		t.Errorf("%d infrastructure elements drawn before the switch", n)
	}
	click(b, "#bg-infra")
	d := readDrawn(b)
	for _, id := range []string{"n0", "n2"} {
		if !hasClass(d.Nodes[id], "bg-infra") {
			t.Errorf("after the switch: infrastructure node %s is %q", id, d.Nodes[id])
		}
	}
	if n := eval[int](b, `document.querySelectorAll('#bg-svg .bg-link-infra').length`); n == 0 {
		t.Error("after the switch: no infrastructure link")
	}
	click(b, "#bg-infra")
	if n := eval[int](b, `document.querySelectorAll('#bg-svg .bg-infra').length`); n != 0 {
		t.Errorf("switched off again: %d infrastructure nodes drawn", n)
	}
	b.NoErrors()
}

// TestBrowserExport: the current view downloads as SVG and PNG, drawn in
// the page; the page fetches nothing over the network.
func TestBrowserExport(t *testing.T) {
	b := viewtest.New(t, viewtest.Options{})
	page := openGraph(b, planeGraph())
	b.Do(`bootgraph.expand('ca')`)

	svg := eval[string](b, `bootgraph.exportSVG()`)
	if !strings.HasPrefix(svg, "<?xml") || !strings.Contains(svg, "<style") || !strings.Contains(svg, "ca.provideCA") {
		t.Errorf("exported SVG: %.300s", svg)
	}
	if bad := eval[int](b, fmt.Sprintf(`new DOMParser().parseFromString(%q, 'image/svg+xml').getElementsByTagName('parsererror').length`, svg)); bad != 0 {
		t.Error("the exported SVG is not well-formed XML")
	}
	_, _ = svgElements(t, []byte(svg)) // strict XML in Go too

	// Downloads land in a directory of the test's; each is announced.
	dir := t.TempDir()
	enabled := true
	if _, err := chromedp.Call(b.Ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &enabled,
	}); err != nil {
		t.Fatal(err)
	}
	for _, button := range []string{"#bg-export-svg", "#bg-export-png"} {
		progress := chromedp.Events(b.Ctx, browser.DownloadProgress)
		click(b, button)
		var guid string
		for ev, err := range progress {
			if err != nil {
				t.Fatalf("%s: no download: %v", button, err)
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				guid = ev.GUID
				break
			}
		}
		data, err := os.ReadFile(filepath.Join(dir, guid))
		if err != nil {
			t.Fatal(err)
		}
		switch button {
		case "#bg-export-png":
			if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) || len(data) < 2000 {
				t.Errorf("PNG download: %d bytes, starting %q", len(data), data[:min(8, len(data))])
			}
			viewtest.WriteArtifact(t, "plane-ca.png", data)
		default:
			if !bytes.Contains(data, []byte("ca.provideCA")) {
				t.Errorf("SVG download: %.200s", data)
			}
		}
	}
	for _, u := range b.Requests() {
		if !strings.HasPrefix(u, "file:") && !strings.HasPrefix(u, "blob:") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s", u)
		}
	}
	if strings.Contains(string(page), "fetch(") && !strings.Contains(string(page), "extra.statusURL") {
		t.Error("the page fetches something other than the live status")
	}
	b.NoErrors()
}

// TestBrowserKeyboard: Tab reaches every node of the view, and Enter on a
// module box expands it.
func TestBrowserKeyboard(t *testing.T) {
	b := viewtest.New(t, viewtest.Options{})
	openGraph(b, planeGraph())
	checkTabReachesAll(t, b)
	focusByTab(t, b, moduleSel("grpc"))
	b.Key("\r")
	if c := readDrawn(b).Modules["grpc"]; !hasClass(c, "bg-cluster") {
		t.Fatalf("Enter on grpc: %q", c)
	}
	checkTabReachesAll(t, b)
	focusByTab(t, b, nodeSel("n7"))
	b.Key("\r")
	if c := readDrawn(b).Nodes["n7"]; !hasClass(c, "bg-selected") {
		t.Errorf("Enter on n7: %q", c)
	}
	b.NoErrors()
}

func checkTabReachesAll(t *testing.T, b *viewtest.Browser) {
	t.Helper()
	stops := viewtest.TabStops(b, 400)
	want := viewtest.Focusable(b)
	if len(want) == 0 {
		t.Fatal("nothing in the drawing takes focus")
	}
	for _, id := range want {
		if !stops[id] {
			t.Errorf("Tab never reaches %s (stops: %v)", id, stops)
		}
	}
}

func focusByTab(t *testing.T, b *viewtest.Browser, selector string) {
	t.Helper()
	viewtest.FocusByTab(b, selector, 400)
}

// TestBrowserDiff: the diff page highlights what was added, removed and
// moved, in the overview and inside an expanded module.
func TestBrowserDiff(t *testing.T) {
	d, err := graph.Compare(planeGraph(), planeGraphV2(), "plane.json", "plane-v2.json")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := DiffHTML(context.Background(), d, &buf); err != nil {
		t.Fatal(err)
	}
	b := viewtest.New(t, viewtest.Options{})
	b.OpenPage("diff.html", buf.Bytes())
	dr := readDrawn(b)
	if !hasClass(dr.Modules["dns"], "bg-diff-added") || !hasClass(dr.Modules["grpc"], "bg-diff-inside") || !hasClass(dr.Modules["dnscert"], "bg-diff-inside") {
		t.Errorf("overview marks: %v", dr.Modules)
	}
	b.Do(`bootgraph.expand('grpc'); bootgraph.expand('dnscert')`)
	dr = readDrawn(b)
	if !hasClass(dr.Modules["grpc/health"], "bg-diff-removed") || !hasClass(dr.Nodes["n5"], "bg-diff-moved") {
		t.Errorf("expanded: grpc/health %q, n5 %q", dr.Modules["grpc/health"], dr.Nodes["n5"])
	}
	b.Do(`bootgraph.expand('grpc/health')`)
	if c := readDrawn(b).Nodes["x:n6"]; !hasClass(c, "bg-diff-removed") {
		t.Errorf("removed node x:n6: %q", c)
	}
	var added, removed int
	for _, c := range readDrawn(b).Links {
		if hasClass(c, "bg-diff-added") {
			added++
		}
		if hasClass(c, "bg-diff-removed") {
			removed++
		}
	}
	if added == 0 || removed == 0 {
		t.Errorf("%d added and %d removed links highlighted", added, removed)
	}
	if txt := eval[string](b, `document.getElementById('bg-diff-text').textContent`); !strings.Contains(txt, "+ dns.provideServer") || !strings.Contains(txt, "~ dnscert.provideIstiod") {
		t.Errorf("diff text: %q", txt)
	}
	b.Screenshot("diff.png")
	b.NoErrors()
}

// TestBrowserMermaid renders the graph.Mermaid text of every test graph with the
// real mermaid library: each gives an SVG with every node, edge and module,
// the labels read as written, and no error.
func TestBrowserMermaid(t *testing.T) {
	bundle, err := os.ReadFile(mermaidBundle(t))
	if err != nil {
		t.Fatal(err)
	}
	b := viewtest.New(t, viewtest.Options{})
	diagrams := map[string]string{}
	for _, tg := range testGraphs() {
		var buf bytes.Buffer
		if err := graph.Mermaid(tg.g, &buf); err != nil {
			t.Fatal(err)
		}
		diagrams[tg.name] = buf.String()
	}
	text, err := json.Marshal(diagrams)
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	page.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mermaid</title></head><body><div id=\"out\"></div>\n")
	if s := string(bundle); strings.Contains(s, "</script") || strings.Contains(s, "<!--") && strings.Contains(s, "<script") {
		// Could end the inline script early: inline it as a data URL instead.
		page.WriteString(`<script src="data:text/javascript;base64,` + base64.StdEncoding.EncodeToString(bundle) + `"></script>`)
	} else {
		page.WriteString("<script>\n")
		page.Write(bundle)
		page.WriteString("\n</script>")
	}
	page.WriteString("\n<script type=\"application/json\" id=\"diagrams\">")
	page.WriteString(strings.ReplaceAll(string(text), "</", `<\/`))
	page.WriteString("</script>\n</body></html>\n")
	b.Open("mermaid.html", page.Bytes())

	type result struct {
		SVG      string `json:"svg"`
		Error    string `json:"error"`
		Text     string `json:"text"`
		Nodes    int    `json:"nodes"`
		Edges    int    `json:"edges"`
		Clusters int    `json:"clusters"`
	}
	results := eval[map[string]result](b, `(async () => {
		mermaid.initialize({startOnLoad: false, securityLevel: 'strict'});
		const diagrams = JSON.parse(document.getElementById('diagrams').textContent);
		const out = {};
		for (const [name, text] of Object.entries(diagrams)) {
			try {
				await mermaid.parse(text);
				const {svg} = await mermaid.render('d_' + name, text);
				const box = document.getElementById('out');
				box.innerHTML = svg;
				out[name] = {
					svg, error: '', text: box.textContent,
					nodes: box.querySelectorAll('g.node').length,
					edges: box.querySelectorAll('path.flowchart-link').length,
					clusters: box.querySelectorAll('g.cluster').length,
				};
			} catch (e) {
				out[name] = {svg: '', error: String((e && e.message) || e)};
			}
		}
		return out;
	})()`)
	for _, tg := range testGraphs() {
		r, ok := results[tg.name]
		switch {
		case !ok:
			t.Errorf("%s: no result", tg.name)
			continue
		case r.Error != "":
			t.Errorf("%s: mermaid failed: %s\n%s", tg.name, r.Error, diagrams[tg.name])
			continue
		case !strings.HasPrefix(r.SVG, "<svg"):
			t.Errorf("%s: mermaid.render gave no <svg>: %.200s", tg.name, r.SVG)
			continue
		}
		for _, bad := range []string{"Syntax error", "Parse error", `class="error-icon"`, `class="error-text"`} {
			if strings.Contains(r.SVG, bad) {
				t.Errorf("%s: the SVG contains %q", tg.name, bad)
			}
		}
		l := tg.g.ModuleTree()
		if r.Nodes != len(tg.g.Nodes) || r.Edges != len(tg.g.Edges) || r.Clusters != len(l.Modules) {
			t.Errorf("%s: mermaid drew %d nodes, %d edges, %d subgraphs; want %d, %d, %d",
				tg.name, r.Nodes, r.Edges, r.Clusters, len(tg.g.Nodes), len(tg.g.Edges), len(l.Modules))
		}
		for _, n := range tg.g.Nodes {
			if !strings.Contains(r.Text, n.Name) {
				t.Errorf("%s: node label %q not shown as written", tg.name, n.Name)
			}
		}
		for _, m := range l.Modules {
			if !strings.Contains(r.Text, m.Label()) {
				t.Errorf("%s: module label %q not shown as written", tg.name, m.Label())
			}
		}
		for _, e := range tg.g.Edges {
			if !strings.Contains(r.Text, e.Key) {
				t.Errorf("%s: edge label %q not shown as written", tg.name, e.Key)
			}
		}
	}
	b.NoErrors()
}
