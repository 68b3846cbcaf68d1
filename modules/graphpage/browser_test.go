package graphpage_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/graph/view"
	"github.com/bootgraph/bootgraph/graph/view/viewtest"
	"github.com/bootgraph/bootgraph/modules/dns"
	"github.com/bootgraph/bootgraph/modules/graphpage"
	"github.com/bootgraph/bootgraph/modules/monitoring"
)

// The default plane (`bootgraph serve` with no config), in Chromium, as
// people open it first: the live page and the page `bootgraph graph
// --format html` writes. Screenshots and figures are written as
// artifacts (see viewtest.ArtifactDir: $BOOTGRAPH_ARTIFACTS, go test
// -artifacts, else $TMPDIR/bootgraph-artifacts).

// running is the default plane, started, with what the tests reach into.
type running struct {
	plane *bootgraph.Plane
	mon   *monitoring.Server
	dns   *dns.Server
	url   string // the live page
	plan  []byte // the page of the plan, as `bootgraph graph --format html` writes it
	parts int    // its top-level modules: the parts it has
}

func startDefault(t *testing.T) *running {
	t.Helper()
	cfg := newConfig(t)
	r := &running{}
	p, err := cfg.Build(fx.Populate(&r.mon, &r.dns))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	r.plane = p
	r.url = "http://" + r.mon.Addr() + graphpage.PathHTML
	g, err := cfg.Plan()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, view.HTML(context.Background(), g, &buf))
	r.plan = buf.Bytes()
	for _, m := range g.Modules {
		if m.Parent == "" {
			r.parts++
		}
	}
	return r
}

func eval[T any](b *viewtest.Browser, expr string) T { return viewtest.Eval[T](b, expr) }

// nodeID is the ID of the node called name in the page's graph.
func nodeID(b *viewtest.Browser, name string) string {
	b.T.Helper()
	id := eval[string](b, fmt.Sprintf(`(JSON.parse(document.getElementById('bg-data').textContent).nodes.find(n => n.name === %q) || {id: ''}).id`, name))
	if id == "" {
		b.T.Fatalf("no node %s in the page's graph", name)
	}
	return id
}

// visible is whether the element selector finds is drawn with a size.
func visible(b *viewtest.Browser, selector string) bool {
	return eval[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(e).display !== 'none'; })()`, selector))
}

const drawing = "#bg-svg .bg-module, #bg-svg .bg-cluster, #bg-svg .bg-node, #bg-svg .bg-group, #bg-svg .bg-link"

// At 1280×800 and 1920×1080 the overview of the default plane lies inside
// the window when it opens, live and planned; no infrastructure shows
// until the switch is on; expanding the ca module shows its constructors;
// keyboard focus reaches every node.
func TestBrowserDefaultPlane(t *testing.T) {
	r := startDefault(t)
	for _, size := range []struct{ w, h int }{{1280, 800}, {1920, 1080}} {
		t.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(t *testing.T) {
			b := viewtest.New(t, viewtest.Options{Width: size.w, Height: size.h})
			for _, pg := range []struct{ name string }{{"planned"}, {"live"}} {
				if pg.name == "live" {
					b.Navigate(r.url)
					b.WaitReady()
				} else {
					b.OpenPage("plane.html", r.plan)
				}
				rects := viewtest.Rects(b, drawing)
				modules := 0
				for _, rc := range rects {
					if !rc.Inside(float64(size.w), float64(size.h)) {
						t.Errorf("%s: %s lies outside the %dx%d window", pg.name, rc, size.w, size.h)
					}
					if strings.HasPrefix(rc.ID, "module-") {
						modules++
					}
				}
				if modules != r.parts || modules < 7 {
					t.Errorf("%s: %d module boxes, want one per part (%d: ca, servingCert, grpc, webhook, dns, monitoring, graphpage, ...)", pg.name, modules, r.parts)
				}
				if n := eval[int](b, `document.querySelectorAll('#bg-svg .bg-infra, #bg-svg .bg-link-infra').length`); n != 0 {
					t.Errorf("%s: %d infrastructure elements drawn before the switch", pg.name, n)
				}
				text := eval[string](b, `document.getElementById('bg-svg').textContent`)
				for _, infra := range []string{"zap.Logger", "prometheus", "hookTracker", "fx.Lifecycle", "graph.Source"} {
					if strings.Contains(text, infra) {
						t.Errorf("%s: %q drawn before the switch", pg.name, infra)
					}
				}
				b.Screenshot(fmt.Sprintf("default-plane-%s-%dx%d.png", pg.name, size.w, size.h))
				b.NoErrors()
			}

			// The switch shows the infrastructure.
			logger := "#" + graph.NodeElementID(nodeID(b, "Supply(*zap.Logger)"))
			if visible(b, logger) {
				t.Error("the logger's supply is drawn before the switch")
			}
			b.Do(`document.getElementById('bg-infra').click()`)
			for _, name := range []string{"Supply(*zap.Logger)", "Supply(*prometheus.Registry)", "bootgraph.(*hookTracker).decorate-fm", "fx.Lifecycle"} {
				if sel := "#" + graph.NodeElementID(nodeID(b, name)); !visible(b, sel) {
					t.Errorf("after the switch, %s is not drawn", name)
				}
			}
			b.Screenshot(fmt.Sprintf("default-plane-infra-%dx%d.png", size.w, size.h))
			b.Do(`document.getElementById('bg-infra').click()`)

			// Keyboard focus reaches every box; Enter on ca expands it.
			checkTabs(t, b)
			viewtest.FocusByTab(b, "#module-ca", 200)
			b.Key("\r")
			for _, name := range []string{"ca.provideCA", "ca.provideService", "ca.provideMetrics", "ca.provideLocalTokens", "ca.registerRun"} {
				if sel := "#" + graph.NodeElementID(nodeID(b, name)); !visible(b, sel) {
					t.Errorf("ca expanded: %s is not drawn", name)
				}
			}
			if !eval[bool](b, `document.getElementById('module-ca').classList.contains('bg-cluster')`) {
				t.Error("ca is not drawn expanded")
			}
			checkTabs(t, b)
			b.Screenshot(fmt.Sprintf("default-plane-ca-%dx%d.png", size.w, size.h))
			b.NoErrors()
		})
	}
}

func checkTabs(t *testing.T, b *viewtest.Browser) {
	t.Helper()
	stops := viewtest.TabStops(b, 300)
	want := viewtest.Focusable(b)
	if len(want) < 7 {
		t.Fatalf("only %d elements of the drawing take focus: %v", len(want), want)
	}
	for _, id := range want {
		if !stops[id] {
			t.Errorf("Tab never reaches %s", id)
		}
	}
}

// The live page follows the plane: a listener that stops is marked not
// ready, with no reload.
func TestBrowserLiveStatus(t *testing.T) {
	r := startDefault(t)
	b := viewtest.New(t, viewtest.Options{Width: 1280, Height: 800})
	b.Navigate(r.url + "?poll=100ms")
	b.WaitReady()
	const dnsLine = `document.querySelector('[data-listener="dns-over-tls"]')`
	if ready := eval[string](b, dnsLine+`.getAttribute('data-ready')`); ready != "true" {
		t.Fatalf("dns-over-tls: data-ready %q before the stop", ready)
	}
	text := eval[string](b, `document.getElementById('module-grpc').textContent`)
	for _, want := range []string{"secure-grpc 127.0.0.1:", " ready", "cert until ", "O=cluster.local"} {
		if !strings.Contains(text, want) {
			t.Errorf("the grpc box shows %q, want %q in it", text, want)
		}
	}
	if ca := eval[string](b, `document.getElementById('module-ca').textContent`); !strings.Contains(ca, "root O=cluster.local until ") {
		t.Errorf("the ca box shows %q, want its root and expiry", ca)
	}
	renders := eval[int](b, `bootgraph.stats.renders`)

	require.NoError(t, r.dns.Stop(context.Background()))
	b.Wait(dnsLine+`.getAttribute('data-ready') === 'false'`, time.Minute)
	if !eval[bool](b, `document.getElementById('module-dns').classList.contains('bg-live-bad')`) {
		t.Error("the dns box is not marked")
	}
	if live := eval[string](b, `document.getElementById('bg-live').textContent`); !strings.Contains(live, "not ready: dns-over-tls") {
		t.Errorf("the live summary says %q", live)
	}
	if n := eval[int](b, `bootgraph.stats.renders`); n <= renders {
		t.Error("the drawing did not change")
	}
	if eval[string](b, `performance.getEntriesByType('navigation').length + ':' + location.search`) != "1:?poll=100ms" {
		t.Error("the page was reloaded")
	}
	b.Screenshot("live-dns-stopped.png")
	b.NoErrors()
}

// TestBrowserFigures: the default plane's page, planned and live: its
// bytes and its first drawing in Chromium, in a browser that has just
// started (cold) and in one that has drawn a page before (warm).
func TestBrowserFigures(t *testing.T) {
	r := startDefault(t)
	b := viewtest.New(t, viewtest.Options{Width: 1280, Height: 800})
	type stats struct {
		FirstRenderMs float64 `json:"firstRenderMs"`
		LastRenderMs  float64 `json:"lastRenderMs"`
		LayoutMs      float64 `json:"layoutMs"`
		Entities      int     `json:"entities"`
	}
	line := func(what string, s stats) string {
		return fmt.Sprintf("%s: first drawing %.0f ms after navigation start (layout %.0f ms; layout and drawing %.0f ms; %d boxes and nodes)\n",
			what, s.FirstRenderMs, s.LayoutMs, s.LastRenderMs, s.Entities)
	}
	b.OpenPage("plane.html", r.plan)
	cold := eval[stats](b, `bootgraph.stats`)
	b.OpenPage("plane-again.html", r.plan)
	warm := eval[stats](b, `bootgraph.stats`)
	b.Navigate(r.url)
	b.WaitReady()
	live := eval[stats](b, `bootgraph.stats`)
	resp, err := http.Get(r.url)
	require.NoError(t, err)
	livePage, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, err)
	figures := fmt.Sprintf("default plane (config.New(): every part of `bootgraph serve`), Chromium at 1280x800\n"+
		"planned page (bootgraph graph --format html): %d bytes\nlive page (/debug/graph): %d bytes\n", len(r.plan), len(livePage)) +
		line("planned, cold browser", cold) + line("planned, warm browser", warm) + line("live, warm browser", live)
	t.Log("\n" + figures)
	viewtest.WriteArtifact(t, "figures.txt", []byte(figures))
	b.NoErrors()
}
