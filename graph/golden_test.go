package graph

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the renderers' output")

// TestGolden compares DOT, Mermaid and JSON output with testdata/*.golden;
// `go test ./graph -update` rewrites them.
func TestGolden(t *testing.T) {
	renderers := []struct {
		ext    string
		render func(*Graph, io.Writer) error
	}{
		{"dot", DOT},
		{"mmd", Mermaid},
		{"json", JSON},
	}
	for _, tg := range testGraphs() {
		for _, r := range renderers {
			t.Run(tg.name+"."+r.ext, func(t *testing.T) {
				var buf bytes.Buffer
				if err := r.render(tg.g, &buf); err != nil {
					t.Fatalf("render: %v", err)
				}
				path := filepath.Join("testdata", tg.name+"."+r.ext+".golden")
				if *update {
					if err := os.MkdirAll("testdata", 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run `go test ./graph -update` to create it)", err)
				}
				if got := buf.String(); got != string(want) {
					t.Errorf("%s differs from the golden file (run `go test ./graph -update` and review the diff):\n%s", path, firstDiff(got, string(want)))
				}
			})
		}
	}
}

// firstDiff shows the first differing line of got and want.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + gl + "\nwant: " + wl
		}
	}
	return "(same lines)"
}

// TestDeterministic renders every graph twice and from a copy made by a
// JSON round trip: the text renderers must write the same bytes.
func TestDeterministic(t *testing.T) {
	for _, tg := range testGraphs() {
		var j bytes.Buffer
		if err := JSON(tg.g, &j); err != nil {
			t.Fatal(err)
		}
		back, err := ReadJSON(&j)
		if err != nil {
			t.Fatalf("%s: ReadJSON: %v", tg.name, err)
		}
		for _, r := range []func(*Graph, io.Writer) error{DOT, Mermaid, JSON} {
			var a, b, c bytes.Buffer
			if err := r(tg.g, &a); err != nil {
				t.Fatal(err)
			}
			if err := r(tg.g, &b); err != nil {
				t.Fatal(err)
			}
			if err := r(back, &c); err != nil {
				t.Fatal(err)
			}
			if a.String() != b.String() || a.String() != c.String() {
				t.Errorf("%s: output differs between runs or after a JSON round trip", tg.name)
			}
		}
	}
}

// TestJSONRoundTrip: ReadJSON(JSON(g)) equals g.
func TestJSONRoundTrip(t *testing.T) {
	for _, tg := range testGraphs() {
		var buf bytes.Buffer
		if err := JSON(tg.g, &buf); err != nil {
			t.Fatal(err)
		}
		back, err := ReadJSON(&buf)
		if err != nil {
			t.Fatalf("%s: %v", tg.name, err)
		}
		if !reflect.DeepEqual(normalized(tg.g), back) {
			t.Errorf("%s: round trip changed the graph:\n got %+v\nwant %+v", tg.name, back, tg.g)
		}
	}
}

// TestReadJSONSchema: another schema version, or none, is ErrSchema with
// both versions named; unknown fields within v1 are ignored.
func TestReadJSONSchema(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`{"schema":"bootgraph.dev/graph/v2","modules":[],"nodes":[],"edges":[]}`, `"bootgraph.dev/graph/v2"`},
		{`{"modules":[],"nodes":[],"edges":[]}`, `no "schema" field`},
		{`{"schema":"bootgraph.dev/graph/v2","nodes":"a different shape"}`, `"bootgraph.dev/graph/v2"`},
	} {
		_, err := ReadJSON(strings.NewReader(tc.doc))
		if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), Schema) {
			t.Errorf("ReadJSON(%s) = %v; want ErrSchema naming %s and %s", tc.doc, err, tc.want, Schema)
		}
	}
	g, err := ReadJSON(strings.NewReader(`{"schema":"` + Schema + `","modules":[],"nodes":[{"id":"n0","kind":"invoke","name":"x","func":"x","module":"","status":"ok","order":0,"futureField":1}],"edges":[],"future":true}`))
	if err != nil || len(g.Nodes) != 1 {
		t.Errorf("unknown fields: got %v, %v; want them ignored", g, err)
	}
	for _, doc := range []string{`[]`, `{"schema":"` + Schema + `"} trailing`, `{"schema":"` + Schema + `","nodes":[{"id":"n0"}],"edges":[{"from":"n0","to":"n9"}]}`} {
		if _, err := ReadJSON(strings.NewReader(doc)); err == nil {
			t.Errorf("ReadJSON(%s): no error", doc)
		}
	}
}

// TestJSONWrongSchema: JSON refuses to write a graph that claims another
// schema, and fills in an empty one.
func TestJSONWrongSchema(t *testing.T) {
	g := cycleGraph()
	g.Schema = "bootgraph.dev/graph/v0"
	if err := JSON(g, io.Discard); err == nil {
		t.Error("JSON of a v0 graph: no error")
	}
	g.Schema = ""
	var buf bytes.Buffer
	if err := JSON(g, &buf); err != nil || !strings.Contains(buf.String(), `"schema": "`+Schema+`"`) {
		t.Errorf("JSON with empty schema: %v\n%s", err, buf.String())
	}
}

// TestValidate: the renderers reject dangling references.
func TestValidate(t *testing.T) {
	bad := []*Graph{
		nil,
		{Nodes: []Node{{ID: "n0"}, {ID: "n0"}}},
		{Nodes: []Node{{ID: ""}}},
		{Nodes: []Node{{ID: "n0"}}, Edges: []Edge{{From: "n0", To: "n1"}}},
		{Nodes: []Node{{ID: "n0"}}, Hooks: []Hook{{Node: "n7"}}},
		{Nodes: []Node{{ID: "n0"}}, Groups: []Group{{Name: "g", Members: []string{"n3"}}}},
		{Nodes: []Node{{ID: "n0"}}, Problems: []Problem{{Kind: ProblemCycle, Nodes: []string{"n0", "n5"}}}},
		{Modules: []Module{{ID: "a"}, {ID: "a"}}},
	}
	for i, g := range bad {
		for name, r := range map[string]func(*Graph, io.Writer) error{"dot": DOT, "mermaid": Mermaid, "json": JSON} {
			if err := r(g, io.Discard); err == nil {
				t.Errorf("graph %d: %s: no error", i, name)
			}
		}
	}
	for _, tg := range testGraphs() {
		if err := tg.g.Validate(); err != nil {
			t.Errorf("%s: %v", tg.name, err)
		}
	}
}

// TestSafeID: the encoding keeps letters and digits and is injective.
func TestSafeID(t *testing.T) {
	seen := map[string]string{}
	for _, s := range []string{"n0", "end", "a_b", "a__b", "a b", "a_20_b", "a/b", "a-b", "_", "__", "ü", "世界", "", "x_5f_"} {
		id := safeID(s)
		if !regexp.MustCompile(`^[A-Za-z0-9_]*$`).MatchString(id) {
			t.Errorf("safeID(%q) = %q: not [A-Za-z0-9_]", s, id)
		}
		if prev, ok := seen[id]; ok {
			t.Errorf("safeID(%q) = safeID(%q) = %q", s, prev, id)
		}
		seen[id] = s
	}
	if got := safeID("n12"); got != "n12" {
		t.Errorf("safeID(n12) = %q", got)
	}
}

// TestSVGStructure: the SVG parses as XML and has every node, edge and
// module cluster by its id, with its class; names and types show as
// written, escaping included.
// svgElements parses an SVG: the class of each element with an id, and
// all character data.
// TestHTMLStructure: the page embeds the graph's JSON (it reads back to
// the same graph), inlines the SVG and uses no external resource.
// TestSVGConcurrent: SVG may be called from many goroutines (layouts are
// serialised) and honours a cancelled context.
// TestDOTTiers: larger graphs get the cheaper layout settings.
// TestSVGLarge: a 1000-function graph lays out, every node in the SVG.
