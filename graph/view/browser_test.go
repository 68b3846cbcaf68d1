package view

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/bootgraph/bootgraph/graph"
)

// The browser tests drive a real, headless Chromium (Debian's package)
// with chromedp. Locations, overridable by the environment:
//
//	BOOTGRAPH_CHROMIUM   the browser, default /usr/bin/chromium
//	BOOTGRAPH_MERMAID_JS mermaid's browser bundle, default
//	                     $HOME/.cache/bootgraph/npm/node_modules/mermaid/dist/mermaid.min.js
//
// When one is missing the test fails if $CI is set (CI installs them) and
// is skipped otherwise, naming the command that installs it.

const (
	installChromium = "scripts/install-test-tools.sh, or: apt-get update && apt-get install -y chromium"
	installMermaid  = "scripts/install-test-tools.sh, or: mkdir -p ~/.cache/bootgraph/npm && npm install --prefix ~/.cache/bootgraph/npm mermaid@12.3.0"
)

// needFile returns path, or stops the test when it is missing.
func needFile(t *testing.T, path, what, install string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found at %s (%v); CI must install it: %s", what, path, err, install)
		}
		t.Skipf("%s not found at %s; install it with: %s", what, path, install)
	}
	return path
}

func chromiumPath(t *testing.T) string {
	p := os.Getenv("BOOTGRAPH_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	return needFile(t, p, "Chromium", installChromium)
}

func mermaidBundle(t *testing.T) string {
	p := os.Getenv("BOOTGRAPH_MERMAID_JS")
	if p == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatalf("home directory: %v", err)
		}
		p = filepath.Join(home, ".cache", "bootgraph", "npm", "node_modules", "mermaid", "dist", "mermaid.min.js")
	}
	return needFile(t, p, "mermaid's browser bundle", installMermaid)
}

// browser is a headless Chromium tab for one test, with the page's
// uncaught exceptions and console errors collected.
type browser struct {
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exec := chromiumPath(t)
	profile := t.TempDir() // removed after the browser has stopped (cleanups run last-first)
	// The deadline bounds the whole test, browser included.
	root, stop := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(stop)
	alloc, cancelAlloc := chromedp.NewExecAllocator(root,
		chromedp.ExecPath(exec),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1400, 1000),
		chromedp.UserDataDir(profile),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	b := &browser{t: t, ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				msg = "console.error:"
				for _, a := range ev.Args {
					msg += " " + string(a.Value) + a.Description
				}
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errs = append(b.errs, msg)
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("start chromium %s: %v", exec, err)
	}
	return b
}

// open loads a file of the test's temp dir.
func (b *browser) open(name string, content []byte) {
	b.t.Helper()
	path := filepath.Join(b.t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		b.t.Fatal(err)
	}
	u := url.URL{Scheme: "file", Path: path}
	if err := chromedp.Do(b.ctx, chromedp.Navigate(u.String())); err != nil {
		b.t.Fatalf("open %s: %v", u.String(), err)
	}
}

// eval evaluates a JavaScript expression into a T, awaiting a promise.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// noErrors fails the test if the page threw or logged an error.
func (b *browser) noErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errs {
		b.t.Errorf("page error: %s", e)
	}
}

// openGraph renders g with HTML and loads the page, waiting for its script.
func openGraph(b *browser, g *graph.Graph) {
	b.t.Helper()
	var buf bytes.Buffer
	if err := HTML(context.Background(), g, &buf); err != nil {
		b.t.Fatal(err)
	}
	b.open("graph.html", buf.Bytes())
	if ready := eval[string](b, `document.documentElement.getAttribute('data-bg-ready') || ''`); ready != "true" {
		b.t.Fatal("the page's script did not finish (no data-bg-ready)")
	}
}

// marks are the classes of every SVG node and edge, by node ID and edge id.
type marks struct {
	Nodes map[string]string `json:"nodes"`
	Edges map[string]string `json:"edges"`
}

func readMarks(b *browser) marks {
	return eval[marks](b, `({
		nodes: Object.fromEntries([...document.querySelectorAll('g.bg-node')].map(e => [e.getAttribute('data-node'), e.getAttribute('class')])),
		edges: Object.fromEntries([...document.querySelectorAll('g.bg-edge')].map(e => [e.id, e.getAttribute('class')])),
	})`)
}

func hasClass(classes, c string) bool { return slices.Contains(strings.Fields(classes), c) }

// clickNode dispatches a click on the text inside node id's SVG group, as
// a user's click on its label would.
func clickNode(b *browser, id string) {
	b.t.Helper()
	ok := eval[bool](b, fmt.Sprintf(`(() => {
		const g = document.getElementById(%q);
		if (!g) return false;
		(g.querySelector('text') || g).dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true}));
		return true;
	})()`, graph.NodeElementID(id)))
	if !ok {
		b.t.Fatalf("no SVG element for node %s", id)
	}
}

// TestBrowserHTML opens the plane graph's page in Chromium and uses it.
func TestBrowserHTML(t *testing.T) {
	b := newBrowser(t)
	g := planeGraph()
	openGraph(b, g)

	// Every module and node name is drawn.
	drawn := eval[string](b, `document.querySelector('#bg-graph-view svg').textContent`)
	filter := eval[string](b, `document.getElementById('bg-modules').textContent`)
	for _, n := range g.Nodes {
		if !strings.Contains(drawn, n.Name) {
			t.Errorf("node name %q not drawn", n.Name)
		}
	}
	for _, m := range g.Modules {
		if !strings.Contains(drawn, m.Name) || !strings.Contains(filter, m.Name) {
			t.Errorf("module %q not drawn or not in the filter", m.Name)
		}
	}

	// Selecting grpc.provideServer: all but n9 are upstream, n8 downstream.
	clickNode(b, "n7")
	m := readMarks(b)
	want := map[string]string{"n7": "bg-selected", "n8": "bg-downstream", "n9": ""}
	for _, id := range []string{"n0", "n1", "n2", "n3", "n4", "n5", "n6"} {
		want[id] = "bg-upstream"
	}
	checkMarks(t, "click n7", m, want)
	for edge, mark := range map[string]string{"edge-5": "bg-upstream", "edge-0": "bg-upstream", "edge-10": "bg-downstream", "edge-12": ""} {
		checkMark(t, "click n7: "+edge, m.Edges[edge], mark)
	}
	if c := eval[string](b, `document.querySelector('#bg-hooks .bg-bar[data-node="n7"]').className`); !hasClass(c, "bg-selected") {
		t.Errorf("click n7: its hook bar has class %q, want bg-selected", c)
	}
	if d := eval[string](b, `document.getElementById('bg-details').textContent`); !strings.Contains(d, "modules/grpc.provideServer") || !strings.Contains(d, "*dnscert.Bundle") {
		t.Errorf("click n7: details panel shows %q", d)
	}

	// Selecting ca.provideCA: config and logger upstream; what uses the CA downstream.
	clickNode(b, "n3")
	checkMarks(t, "click n3", readMarks(b), map[string]string{
		"n3": "bg-selected", "n1": "bg-upstream", "n2": "bg-upstream",
		"n4": "bg-downstream", "n5": "bg-downstream", "n7": "bg-downstream", "n8": "bg-downstream",
		"n0": "", "n6": "", "n9": "",
	})

	// A click on the background clears.
	eval[bool](b, `document.querySelector('#bg-graph-view svg > g > polygon').dispatchEvent(new MouseEvent('click', {bubbles: true}))`)
	if n := eval[int](b, `document.querySelectorAll('.bg-selected, .bg-upstream, .bg-downstream').length`); n != 0 {
		t.Errorf("after a background click, %d elements are still marked", n)
	}

	// The timeline: one bar per hook, in start order, the longest widest.
	type bar struct {
		Node  string  `json:"node"`
		Hook  string  `json:"hook"`
		Width float64 `json:"width"`
	}
	bars := eval[[]bar](b, `[...document.querySelectorAll('#bg-hooks .bg-bar')].map(e => ({node: e.dataset.node, hook: e.dataset.hook, width: e.querySelector('.bg-bar-fill').getBoundingClientRect().width}))`)
	if len(bars) != len(g.Hooks) {
		t.Fatalf("%d hook bars, want %d", len(bars), len(g.Hooks))
	}
	for i, h := range g.Hooks { // planeGraph's hooks are listed in start order
		if bars[i].Node != h.Node || bars[i].Hook != fmt.Sprint(h.Index) {
			t.Errorf("hook bar %d is node %s hook %s, want node %s hook %d", i, bars[i].Node, bars[i].Hook, h.Node, h.Index)
		}
	}
	if !(bars[1].Width > bars[0].Width && bars[0].Width > bars[2].Width) {
		t.Errorf("hook bar widths %v: want them in proportion to 5ms > 2ms > 1ms", bars)
	}
	if n := eval[int](b, `document.querySelectorAll('#bg-build .bg-bar').length`); n != 8 {
		t.Errorf("%d build bars, want 8 (the functions with an order)", n)
	}

	// The module filter: unticking ca hides its nodes, cluster and edges.
	eval[bool](b, `(document.querySelector('.bg-module-toggle[value="ca"]').click(), true)`)
	hidden := eval[map[string]bool](b, `Object.fromEntries([...document.querySelectorAll('g.bg-node, g.bg-edge, g.bg-module')].map(e => [e.getAttribute('data-node') || e.id, getComputedStyle(e).display === 'none']))`)
	for id, want := range map[string]bool{"n3": true, "n4": true, "n8": true, "module-ca": true, "edge-2": true, "n5": false, "n7": false, "module-grpc": false} {
		if hidden[id] != want {
			t.Errorf("after unticking ca: %s hidden = %v, want %v", id, hidden[id], want)
		}
	}
	if h := eval[bool](b, `[...document.querySelectorAll('.bg-bar[data-node="n3"], .bg-bar[data-node="n8"]')].every(e => getComputedStyle(e).display === 'none')`); !h {
		t.Error("after unticking ca: the timeline bars of its functions are visible")
	}
	// Unticking grpc hides its nested module health too.
	eval[bool](b, `(document.querySelector('.bg-module-toggle[value="grpc"]').click(), true)`)
	if h := eval[bool](b, `getComputedStyle(document.getElementById('node-n6')).display === 'none'`); !h {
		t.Error("after unticking grpc: health.provide (module grpc/health) is visible")
	}
	eval[bool](b, `(document.getElementById('bg-modules-all').click(), true)`)
	if n := eval[int](b, `document.querySelectorAll('.bg-hidden').length`); n != 0 {
		t.Errorf("after 'all', %d elements are still hidden", n)
	}

	// Search by type, typed as a user would.
	if err := chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.CSS("#bg-search"), "dnscert.Bundle")); err != nil {
		t.Fatal(err)
	}
	checkMatches(t, b, "dnscert.Bundle", []string{"n5", "n7"})
	eval[bool](b, `(() => { const s = document.getElementById('bg-search'); s.value = '[]PLANE.listener'; s.dispatchEvent(new Event('input')); return true; })()`)
	checkMatches(t, b, "[]PLANE.listener", []string{"n8"})
	if c := eval[string](b, `document.getElementById('bg-search-count').textContent`); c != "1 match" {
		t.Errorf("search count %q, want %q", c, "1 match")
	}
	b.noErrors()
}

// checkMatches: exactly the nodes in want have bg-match.
func checkMatches(t *testing.T, b *browser, q string, want []string) {
	t.Helper()
	var got []string
	for id, c := range readMarks(b).Nodes {
		if hasClass(c, "bg-match") {
			got = append(got, id)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("search %q matches %v, want %v", q, got, want)
	}
}

// checkMarks: each node has its wanted mark and none of the others ("" for
// no mark).
func checkMarks(t *testing.T, what string, m marks, want map[string]string) {
	t.Helper()
	for id, mark := range want {
		checkMark(t, what+": node "+id, m.Nodes[id], mark)
	}
}

func checkMark(t *testing.T, what, classes, want string) {
	t.Helper()
	for _, c := range []string{"bg-selected", "bg-upstream", "bg-downstream"} {
		if hasClass(classes, c) != (c == want) {
			t.Errorf("%s has classes %q, want mark %q", what, classes, want)
			return
		}
	}
}

// TestBrowserHTMLAllGraphs: on every test graph the page's script finds
// every node's SVG element (its safeID matches Go's) and selection works.
func TestBrowserHTMLAllGraphs(t *testing.T) {
	b := newBrowser(t)
	for _, tg := range testGraphs() {
		openGraph(b, tg.g)
		missing := eval[[]string](b, `JSON.parse(document.getElementById('bg-data').textContent).nodes.map(n => n.id).filter(id => !document.querySelector('g.bg-node[data-node="' + CSS.escape(id) + '"]'))`)
		if len(missing) > 0 {
			t.Errorf("%s: nodes without a tagged SVG element: %q", tg.name, missing)
		}
		for _, n := range tg.g.Nodes {
			clickNode(b, n.ID)
			if c := readMarks(b).Nodes[n.ID]; !hasClass(c, "bg-selected") {
				t.Errorf("%s: clicked %q, its classes are %q", tg.name, n.ID, c)
			}
		}
		if n := eval[int](b, `document.querySelectorAll('#bg-hooks .bg-bar').length`); n != len(tg.g.Hooks) {
			t.Errorf("%s: %d hook bars, want %d", tg.name, n, len(tg.g.Hooks))
		}
	}
	// missingGraph: the missing type is upstream of both nodes that need it.
	openGraph(b, missingGraph())
	clickNode(b, "n3")
	checkMarks(t, "missing: click n3", readMarks(b), map[string]string{"n3": "bg-selected", "n2": "bg-upstream", "n1": "bg-upstream", "n0": "bg-upstream"})
	// cycleGraph: both ends of the cycle are up- and downstream of each other.
	openGraph(b, cycleGraph())
	clickNode(b, "n0")
	m := readMarks(b)
	if c := m.Nodes["n1"]; !hasClass(c, "bg-upstream") || !hasClass(c, "bg-downstream") {
		t.Errorf("cycle: click n0: n1 has classes %q, want up- and downstream", c)
	}
	if c := m.Nodes["n0"]; !hasClass(c, "bg-selected") || hasClass(c, "bg-upstream") {
		t.Errorf("cycle: click n0: n0 has classes %q, want only selected", c)
	}
	b.noErrors()
}

// TestBrowserMermaid renders the graph.Mermaid text of every test graph with the
// real mermaid library: each gives an SVG with every node, edge and module,
// the labels read as written, and no error.
func TestBrowserMermaid(t *testing.T) {
	bundle, err := os.ReadFile(mermaidBundle(t))
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
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
	b.open("mermaid.html", page.Bytes())

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
	b.noErrors()
}
