package component

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Decode reads doc, a document decoded from JSON (or YAML turned into
// JSON), into dst, a pointer to an options struct, strictly: every unknown
// field and every value of the wrong kind is a *FieldError naming its path
// relative to dst, with the fields valid at that level for an unknown one.
// Fields whose JSON name is "-" cannot be set from a document.
func Decode(doc any, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return fmt.Errorf("component.Decode: want a non-nil pointer, got %T", dst)
	}
	if errs := check(doc, v.Type().Elem(), ""); len(errs) > 0 {
		return errors.Join(errs...)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return &FieldError{Err: err} // check should have caught it
	}
	return nil
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// check walks doc against type t and reports what t would refuse.
func check(doc any, t reflect.Type, path string) []error {
	for t.Kind() == reflect.Pointer {
		if doc == nil {
			return nil
		}
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		raw, _ := json.Marshal(doc)
		if err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
			return []error{&FieldError{Path: path, Err: err}}
		}
		return nil
	}
	if doc == nil {
		return nil // null: the zero value, i.e. the default
	}
	bad := func(want string) []error {
		return []error{&FieldError{Path: path, Err: fmt.Errorf("want %s, got %s", want, describeValue(doc))}}
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := doc.(map[string]any)
		if !ok {
			return bad("a mapping with fields " + strings.Join(fieldNames(t), ", "))
		}
		return checkStruct(m, t, path)
	case reflect.Map:
		m, ok := doc.(map[string]any)
		if !ok {
			return bad("a mapping")
		}
		var errs []error
		for _, k := range sortedKeys(m) {
			errs = append(errs, check(m[k], t.Elem(), JoinPath(path, k))...)
		}
		return errs
	case reflect.Slice:
		list, ok := doc.([]any)
		if !ok {
			return bad("a list")
		}
		var errs []error
		for i, e := range list {
			errs = append(errs, check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return errs
	case reflect.String:
		if _, ok := doc.(string); !ok {
			return bad("a string")
		}
	case reflect.Bool:
		if _, ok := doc.(bool); !ok {
			return bad("true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if f, ok := doc.(float64); !ok || !fitsInt(f, t) {
			return bad("a whole number that fits " + t.Kind().String())
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := doc.(float64); !ok {
			return bad("a number")
		}
	}
	return nil
}

// fitsInt reports whether f is a whole number that an integer of type t holds.
func fitsInt(f float64, t reflect.Type) bool {
	if f != math.Trunc(f) || math.Abs(f) > 1<<63 {
		return false
	}
	if t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64 {
		return !reflect.Zero(t).OverflowInt(int64(f))
	}
	return f >= 0 && !reflect.Zero(t).OverflowUint(uint64(f))
}

func checkStruct(m map[string]any, t reflect.Type, path string) []error {
	fields := map[string]reflect.Type{}
	for _, f := range structFields(t) {
		fields[f.json] = f.Type
	}
	var errs []error
	for _, key := range sortedKeys(m) {
		ft, ok := fields[key]
		if !ok {
			errs = append(errs, &FieldError{Path: JoinPath(path, key), Valid: sortedKeys(fields)})
			continue
		}
		errs = append(errs, check(m[key], ft, JoinPath(path, key))...)
	}
	return errs
}

func describeValue(doc any) string {
	switch v := doc.(type) {
	case string:
		return strconv.Quote(v)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprint(doc)
}

// field is a struct field as a config file sees it.
type field struct {
	reflect.StructField
	json string
}

// structFields lists t's fields by JSON name, embedded structs' promoted
// fields included; fields named "-" and unexported ones are left out.
func structFields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported() && !f.Anonymous:
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			out = append(out, structFields(f.Type)...)
		case name == "":
			out = append(out, field{f, f.Name})
		default:
			out = append(out, field{f, name})
		}
	}
	return out
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for _, f := range structFields(t) {
		names = append(names, f.json)
	}
	sort.Strings(names)
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SetField sets the field at path (as in a config file) of the struct dst
// points to from a string, as a flag or an environment variable gives it:
// strings as they are; booleans, numbers and durations parsed; lists split
// at commas.
func SetField(dst any, path, value string) error {
	v, err := fieldByPath(reflect.ValueOf(dst).Elem(), path)
	if err != nil {
		return err
	}
	if err := setString(v, value); err != nil {
		return &FieldError{Path: path, Err: err}
	}
	return nil
}

// FieldValue returns the field at path of the struct dst points to.
func FieldValue(dst any, path string) (reflect.Value, error) {
	return fieldByPath(reflect.ValueOf(dst).Elem(), path)
}

func fieldByPath(v reflect.Value, path string) (reflect.Value, error) {
	for _, name := range strings.Split(path, ".") {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		f, ok := goField(v.Type(), name)
		if !ok {
			return reflect.Value{}, fmt.Errorf("%s has no field %q (path %q)", v.Type(), name, path)
		}
		v = v.FieldByIndex(f.Index)
	}
	return v, nil
}

func setString(v reflect.Value, s string) error {
	if v.Kind() == reflect.Pointer {
		p := reflect.New(v.Type().Elem())
		if err := setString(p.Elem(), s); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
	switch p := v.Addr().Interface().(type) {
	case json.Unmarshaler:
		raw, _ := json.Marshal(s)
		return p.UnmarshalJSON(raw)
	case encoding.TextUnmarshaler:
		return p.UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", s)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", s)
		}
		v.SetUint(n)
	case reflect.Slice:
		var parts []string
		if s != "" {
			parts = strings.Split(s, ",")
		}
		list := reflect.MakeSlice(v.Type(), len(parts), len(parts))
		for i, part := range parts {
			if err := setString(list.Index(i), strings.TrimSpace(part)); err != nil {
				return err
			}
		}
		v.Set(list)
	default:
		return fmt.Errorf("cannot set a %s from text", v.Type())
	}
	return nil
}

// FieldNames lists the config names of the fields of the struct v points
// to, sorted.
func FieldNames(v any) []string { return fieldNames(reflect.TypeOf(v).Elem()) }
