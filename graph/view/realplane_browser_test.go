package view

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/dns"
	"github.com/bootgraph/bootgraph/modules/grpc"
	"github.com/bootgraph/bootgraph/modules/monitoring"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// runRealPlane starts and stops the default plane (every listener on a
// free loopback port) and returns its graph, with that run's timings: what
// `bootgraph graph --run --format html` draws.
func runRealPlane(t *testing.T) *graph.Graph {
	t.Helper()
	free := "127.0.0.1:0"
	p, err := bootgraph.New(bootgraph.Options{Logger: zap.NewNop()},
		component.SupplyEnv(component.Env{DataDir: t.TempDir()}),
		ca.Module(ca.Options{}),
		servingcert.Module(servingcert.Options{}),
		grpc.Module(grpc.Options{Addr: free}),
		webhook.Module(webhook.Options{Addr: free}),
		dns.Module(dns.Options{Addr: free}),
		monitoring.Module(monitoring.Options{Addr: free}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	g, err := p.Graph()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// The page of the real plane, in a real browser: every module and
// constructor is on it, clicking a node highlights what it needs and what
// needs it, and the timeline shows each started hook with its time.
func TestBrowserRealPlane(t *testing.T) {
	g := runRealPlane(t)
	b := newBrowser(t)
	openGraph(b, g)
	b.noErrors()

	drawn := eval[string](b, `document.querySelector('#bg-graph-view svg').textContent`)
	ids := map[string]string{}
	for _, n := range g.Nodes {
		ids[n.Name] = n.ID
		if !strings.Contains(drawn, n.Name) {
			t.Errorf("node %q not on the page", n.Name)
		}
	}
	for _, m := range g.Modules {
		if !strings.Contains(drawn, m.Name) {
			t.Errorf("module %q not on the page", m.Name)
		}
	}

	bundle, ca, grpcServer := ids["servingcert.provideIstiod"], ids["ca.provideCA"], ids["grpc.provideServer"]
	if bundle == "" || ca == "" || grpcServer == "" {
		t.Fatalf("the plane's graph lacks expected nodes: %v", ids)
	}
	clickNode(b, bundle)
	m := readMarks(b)
	checkMark(t, "the bundle", m.Nodes[bundle], "bg-selected")
	checkMark(t, "the CA the bundle needs", m.Nodes[ca], "bg-upstream")
	checkMark(t, "the listener that needs the bundle", m.Nodes[grpcServer], "bg-downstream")

	type bar struct {
		Node string `json:"node"`
		Text string `json:"text"`
	}
	bars := eval[[]bar](b, `[...document.querySelectorAll('#bg-hooks .bg-bar')].map(e => ({node: e.dataset.node, text: e.textContent}))`)
	if len(bars) != len(g.Hooks) {
		t.Fatalf("%d hook bars, want %d", len(bars), len(g.Hooks))
	}
	for i, h := range g.Hooks {
		if bars[i].Node != h.Node {
			t.Errorf("bar %d is for %s, want %s", i, bars[i].Node, h.Node)
		}
		if want := graph.FormatDuration(h.StartNs); !strings.Contains(bars[i].Text, want) {
			t.Errorf("bar %d (%s): %q does not show its start time %s", i, h.Name, bars[i].Text, want)
		}
	}
}
