package view

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/bootgraph/bootgraph/graph"
)

// The SVG is strict XML and has an element, with its id and class, for
// every node, edge and module. (TestSVGGolden holds the exact bytes; this
// holds what callers may rely on.)
func TestSVGStructure(t *testing.T) {
	for _, tg := range testGraphs() {
		t.Run(tg.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := SVG(context.Background(), tg.g, &buf); err != nil {
				t.Fatal(err)
			}
			ids, text := svgElements(t, buf.Bytes())
			for _, n := range tg.g.Nodes {
				if class, ok := ids[graph.NodeElementID(n.ID)]; !ok || !strings.Contains(class, "bg-node") {
					t.Errorf("node %s: no element %q with class bg-node (class %q)", n.ID, graph.NodeElementID(n.ID), class)
				}
				if !strings.Contains(text, n.Name) {
					t.Errorf("node %s: name %q not in the SVG text", n.ID, n.Name)
				}
			}
			for i, e := range tg.g.Edges {
				if class, ok := ids[graph.EdgeElementID(i)]; !ok || !strings.Contains(class, "bg-edge") {
					t.Errorf("edge %d: no element %q with class bg-edge (class %q)", i, graph.EdgeElementID(i), class)
				}
				if !strings.Contains(text, e.Key) {
					t.Errorf("edge %d: key %q not in the SVG text", i, e.Key)
				}
			}
			for _, m := range tg.g.Modules {
				if class, ok := ids[graph.ModuleElementID(m.ID)]; !ok || !strings.Contains(class, "bg-module") {
					t.Errorf("module %s: no element %q with class bg-module (class %q)", m.ID, graph.ModuleElementID(m.ID), class)
				}
				if !strings.Contains(text, m.Name) {
					t.Errorf("module %s: name %q not in the SVG text", m.ID, m.Name)
				}
			}
		})
	}
}

func svgElements(t *testing.T, svg []byte) (map[string]string, string) {
	t.Helper()
	ids := map[string]string{}
	var text strings.Builder
	d := xml.NewDecoder(bytes.NewReader(svg))
	d.Strict = true
	sawSVG := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			sawSVG = sawSVG || tok.Name.Local == "svg"
			var id, class string
			for _, a := range tok.Attr {
				switch a.Name.Local {
				case "id":
					id = a.Value
				case "class":
					class = a.Value
				}
			}
			if id != "" {
				if _, dup := ids[id]; dup {
					t.Errorf("duplicate SVG id %q", id)
				}
				ids[id] = class
			}
		case xml.CharData:
			text.Write(tok)
		}
	}
	if !sawSVG {
		t.Fatal("no <svg> element")
	}
	return ids, text.String()
}

var scriptExtra = regexp.MustCompile(`(?s)<script type="application/json" id="bg-extra">\{.*?\}</script>`)

func TestHTMLStructure(t *testing.T) {
	scriptJSON := regexp.MustCompile(`(?s)<script type="application/json" id="bg-data">(.*?)</script>`)
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s"'<>)]*`)
	for _, tg := range testGraphs() {
		t.Run(tg.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := HTML(context.Background(), tg.g, &buf); err != nil {
				t.Fatal(err)
			}
			page := buf.String()
			m := scriptJSON.FindStringSubmatch(page)
			if m == nil {
				t.Fatal("no <script type=application/json id=bg-data>")
			}
			back, err := graph.ReadJSON(strings.NewReader(m[1]))
			if err != nil {
				t.Fatalf("embedded JSON: %v", err)
			}
			if !reflect.DeepEqual(back, tg.g) {
				t.Error("embedded JSON is not the graph (both read from the same fixture JSON)")
			}
			// The page draws the graph itself: no SVG is sent.
			markup := regexp.MustCompile(`(?s)<script.*?</script>`).ReplaceAllString(page, "")
			if strings.Contains(markup, "<svg") || strings.Contains(markup, "<?xml") {
				t.Error("the page carries an SVG: it should draw one")
			}
			if !scriptExtra.MatchString(page) {
				t.Error("no <script type=application/json id=bg-extra>")
			}
			for _, u := range external.FindAllString(page, -1) {
				switch strings.TrimPrefix(strings.TrimPrefix(u, "http:"), "https:") {
				case "//www.w3.org/2000/svg", "//www.w3.org/1999/xlink":
					continue // namespace names, never fetched
				}
				t.Errorf("external reference %q", u)
			}
			for _, tag := range []string{"<link", "<img", "<iframe", " src=", "@import", "url("} {
				if strings.Contains(page, tag) {
					t.Errorf("page contains %q", tag)
				}
			}
			if got := strings.Count(page, `class="bg-bar bg-bar-hook`); got != len(tg.g.Hooks) {
				t.Errorf("%d hook bars, want %d", got, len(tg.g.Hooks))
			}
		})
	}
}

func TestSVGConcurrent(t *testing.T) {
	errs := make(chan error, 6)
	for i := 0; i < cap(errs); i++ {
		go func() {
			var buf bytes.Buffer
			errs <- SVG(context.Background(), testGraphs()[i%4].g, &buf)
		}()
	}
	for i := 0; i < cap(errs); i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := SVG(ctx, planeGraph(), io.Discard); !errors.Is(err, context.Canceled) {
		t.Errorf("SVG with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestDOTTiers(t *testing.T) {
	for _, tc := range []struct {
		n            int
		xlabel, line bool
	}{{100, false, false}, {300, true, false}, {1000, true, true}} {
		var buf bytes.Buffer
		if err := graph.DOT(syntheticGraph(tc.n), &buf); err != nil {
			t.Fatal(err)
		}
		dot := buf.String()
		if got := strings.Contains(dot, " xlabel="); got != tc.xlabel {
			t.Errorf("%d nodes: xlabel %v, want %v", tc.n, got, tc.xlabel)
		}
		if got := strings.Contains(dot, "nslimit="); got != tc.xlabel {
			t.Errorf("%d nodes: nslimit %v, want %v", tc.n, got, tc.xlabel)
		}
		if got := strings.Contains(dot, "splines=line"); got != tc.line {
			t.Errorf("%d nodes: splines=line %v, want %v", tc.n, got, tc.line)
		}
	}
}

func TestSVGLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("lays out 1000 nodes")
	}
	g := syntheticGraph(1000)
	var buf bytes.Buffer
	if err := SVG(context.Background(), g, &buf); err != nil {
		t.Fatal(err)
	}
	ids, _ := svgElements(t, buf.Bytes())
	for _, n := range g.Nodes {
		if _, ok := ids[graph.NodeElementID(n.ID)]; !ok {
			t.Fatalf("node %s missing from the SVG", n.ID)
		}
	}
}
