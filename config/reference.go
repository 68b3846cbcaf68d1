package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/bootgraph/bootgraph/component"
)

// WriteReference writes the config reference of parts (Builtin() when none
// are given): a YAML file with every field at its default and a comment
// saying what it is for. It is what `bootgraph modules --format yaml`
// prints and what the README's config reference is.
func WriteReference(w io.Writer, parts ...component.Part) error {
	if len(parts) == 0 {
		parts = Builtin()
	}
	var b strings.Builder
	var settings Settings
	settings.SetDefaults()
	writeOptions(&b, component.DescribeOptions(&settings), "")
	for _, p := range parts {
		fmt.Fprintf(&b, "\n# %s: %s\n%s:\n", p.Name(), p.Doc(), p.Name())
		enabled := []component.OptionDoc{{Path: "enabled", Default: json.RawMessage("true"), Doc: "include this part"}}
		if rule := p.DefaultOnDoc(); rule != "" {
			enabled[0].Default, enabled[0].Doc = json.RawMessage("null"), "default: on "+rule
		}
		writeOptions(&b, append(enabled, p.Options()...), "  ")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// commentColumn is where the comments of the reference start.
const commentColumn = 32

// writeOptions writes opts as YAML, nested paths as nested mappings.
func writeOptions(b *strings.Builder, opts []component.OptionDoc, indent string) {
	var open []string // the mapping path written so far
	for _, o := range opts {
		parents := strings.Split(o.Path, ".")
		name := parents[len(parents)-1]
		parents = parents[:len(parents)-1]
		common := 0
		for common < len(open) && common < len(parents) && open[common] == parents[common] {
			common++
		}
		for i := common; i < len(parents); i++ {
			fmt.Fprintf(b, "%s%s%s:\n", indent, strings.Repeat("  ", i), parents[i])
		}
		open = parents
		line := fmt.Sprintf("%s%s%s: %s", indent, strings.Repeat("  ", len(parents)), name, yamlValue(o))
		if o.Doc != "" {
			pad := commentColumn - len(line)
			if pad < 1 {
				pad = 1
			}
			line += strings.Repeat(" ", pad) + "# " + o.Doc
		}
		b.WriteString(line + "\n")
	}
}

// yamlValue writes a default as YAML: flow style for lists, "" for an
// empty string, null for no default.
func yamlValue(o component.OptionDoc) string {
	if len(o.Default) == 0 {
		switch {
		case o.Optional:
			return "null"
		case o.Type == "string":
			return `""`
		case strings.HasPrefix(o.Type, "list of"):
			return "[]"
		case o.Type == "bool":
			return "false"
		}
		return "null"
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(o.Default))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return string(o.Default)
	}
	switch x := v.(type) {
	case []any:
		items := make([]string, len(x))
		for i, e := range x {
			items[i] = scalar(e)
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return scalar(v)
}

func scalar(v any) string {
	if v == nil {
		return "null"
	}
	s, ok := v.(string)
	if !ok {
		return fmt.Sprint(v)
	}
	if s == "" || strings.ContainsAny(s, ":#{}[],&*!|>'\"%@`") || s != strings.TrimSpace(s) {
		return fmt.Sprintf("%q", s)
	}
	return s
}
