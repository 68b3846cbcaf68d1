package component

import (
	"encoding/json"
	"reflect"
	"strings"
)

// OptionDoc describes one option of a part, as the config reference and
// `bootgraph modules` show it.
type OptionDoc struct {
	// Path in the part's section, e.g. "patch.labelSelector".
	Path string
	// Type in words: string, bool, integer, duration, list of string, ...
	Type string
	// Default is the default value as JSON ("" for none).
	Default json.RawMessage
	// Doc is the field's `doc` tag: one line on what it is for.
	Doc string
	// Optional: the field is a pointer, and nil leaves the choice to the
	// part at run time (see Doc).
	Optional bool
}

// DescribeOptions lists the options of the struct opts (usually with its
// defaults set), nested structs flattened into dotted paths.
func DescribeOptions(opts any) []OptionDoc {
	v := reflect.ValueOf(opts)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	return describe(v, "")
}

var durationType = reflect.TypeFor[Duration]()

func describe(v reflect.Value, prefix string) []OptionDoc {
	var out []OptionDoc
	for _, f := range structFields(v.Type()) {
		fv := v.FieldByIndex(f.Index)
		path := JoinPath(prefix, f.json)
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(jsonUnmarshaler) {
			out = append(out, describe(fv, path)...)
			continue
		}
		def, _ := json.Marshal(fv.Interface())
		if fv.IsZero() {
			def = nil
		}
		out = append(out, OptionDoc{Path: path, Type: typeWords(f.Type), Default: def, Doc: f.Tag.Get("doc"),
			Optional: f.Type.Kind() == reflect.Pointer})
	}
	return out
}

// typeWords names t as a config file sees it.
func typeWords(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.Pointer:
		return typeWords(t.Elem())
	case t.Kind() == reflect.Slice:
		return "list of " + typeWords(t.Elem())
	case t.Kind() == reflect.Map:
		return "map of " + typeWords(t.Elem())
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "number"
	}
	return strings.ToLower(t.Kind().String())
}
