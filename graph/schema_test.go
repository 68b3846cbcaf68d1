package graph

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestSchemaDoc keeps SCHEMA.md honest: it names the schema version and
// every JSON field of the model, and its example reads back as missingGraph.
func TestSchemaDoc(t *testing.T) {
	doc, err := os.ReadFile("SCHEMA.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	if !strings.Contains(text, `"schema": "`+Schema+`"`) {
		t.Errorf("SCHEMA.md does not show the schema %q", Schema)
	}
	for _, v := range []any{Graph{}, Module{}, Node{}, Port{}, Edge{}, Group{}, Hook{}, Problem{}, Run{}} {
		typ := reflect.TypeOf(v)
		for i := 0; i < typ.NumField(); i++ {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if !strings.Contains(text, "| `"+name+"` |") {
				t.Errorf("SCHEMA.md has no row for %s.%s (json %q)", typ.Name(), typ.Field(i).Name, name)
			}
		}
	}
	for _, v := range []string{string(KindConstructor), string(KindDecorator), string(KindInvoke), string(KindSupply), string(KindReplace), string(KindMissing), string(KindBuiltin),
		string(StatusOK), string(StatusUnused), string(StatusMissing), string(StatusNeedsMissed), string(StatusCycle), string(StatusFailed)} {
		if !strings.Contains(text, "| `"+v+"` |") {
			t.Errorf("SCHEMA.md does not document the value %q", v)
		}
	}
	for _, schema := range []string{WhySchema, DiffSchema, "bootgraph.dev/status/v1"} {
		if !strings.Contains(text, "`\""+schema+"\"`") {
			t.Errorf("SCHEMA.md does not document %q", schema)
		}
	}
	m := regexp.MustCompile("(?s)```json\n(.*?)```").FindStringSubmatch(text)
	if m == nil {
		t.Fatal("SCHEMA.md has no JSON example")
	}
	g, err := ReadJSON(strings.NewReader(m[1]))
	if err != nil {
		t.Fatalf("SCHEMA.md example: %v", err)
	}
	if !reflect.DeepEqual(g, normalized(missingGraph())) {
		t.Errorf("SCHEMA.md example is not missingGraph:\n%+v", g)
	}
}
