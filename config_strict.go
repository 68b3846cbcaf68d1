package bootgraph

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// checkFields walks a decoded config document against the Config type and
// reports the first unknown field, or value that its type rejects, by its
// full path ("ca.trustDomian"), with the fields that are valid there.
// encoding/json names only the last path element, if any.
func checkFields(doc any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		raw, _ := json.Marshal(doc)
		if err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
	switch v := doc.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return nil // a type mismatch; encoding/json reports it
		}
		fields := jsonFields(t)
		for _, key := range sortedKeys(v) {
			ft, ok := fields[key]
			if !ok {
				return fmt.Errorf("unknown field %q (valid here: %s)", join(path, key), strings.Join(sortedKeys(fields), ", "))
			}
			if err := checkFields(v[key], ft, join(path, key)); err != nil {
				return err
			}
		}
	case []any:
		if t.Kind() == reflect.Slice {
			for i, e := range v {
				if err := checkFields(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// jsonFields maps the JSON names of t's fields, embedded structs' promoted
// fields included, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case f.Anonymous && name == "":
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
		case name == "":
			out[f.Name] = f.Type
		default:
			out[name] = f.Type
		}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
