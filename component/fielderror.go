package component

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// FieldError is an invalid option: which field, and what is wrong with it.
// Path is the field's place in the config file relative to the part's
// section ("keyType", "patch.validatingWebhooks[0]"), so a part's Validate
// speaks only of its own fields; the config layer prefixes the section
// ("ca.keyType") and a Go caller sees the Go names ("ca.Options.KeyType").
type FieldError struct {
	// Path of the field, with "." between names and "[i]" for elements.
	Path string
	// Err says what is wrong, e.g. `"dsa" is not one of ecdsa-p256, rsa-2048`.
	Err error
	// Valid, for an unknown field, lists the fields valid at its level.
	Valid []string
	// Aliases are other names of the field, e.g. "--tlsCertFile" or
	// "PILOT_CERT_PROVIDER", said after the path.
	Aliases []string
}

// FieldErrorf returns a *FieldError for path.
func FieldErrorf(path, format string, args ...any) error {
	return &FieldError{Path: path, Err: fmt.Errorf(format, args...)}
}

func (e *FieldError) Error() string {
	name := e.Path
	if len(e.Aliases) > 0 {
		name += " (" + strings.Join(e.Aliases, ", ") + ")"
	}
	if e.Valid != nil {
		return fmt.Sprintf("unknown field %q (valid here: %s)", e.Path, strings.Join(e.Valid, ", "))
	}
	if e.Path == "" {
		return e.Err.Error()
	}
	return name + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// MapFieldErrors returns err with f applied to a copy of every *FieldError
// in it, joined errors included; other errors are kept as they are.
func MapFieldErrors(err error, f func(*FieldError)) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, MapFieldErrors(e, f))
		}
		return errors.Join(out...)
	}
	// Only a FieldError itself is rewritten: one wrapped in another error
	// is part of that error's text.
	if fe, ok := err.(*FieldError); ok { //nolint:errorlint // see above
		c := *fe
		f(&c)
		return &c
	}
	return err
}

// WithinSection prefixes every field path in err with section, as the
// config layer reports a part's errors: "keyType" becomes "ca.keyType".
func WithinSection(section string, err error) error {
	return MapFieldErrors(err, func(fe *FieldError) { fe.Path = JoinPath(section, fe.Path) })
}

// GoFieldPath turns a config path relative to type t ("patch.labelSelector")
// into Go field names ("Patch.LabelSelector"). Elements that name no field
// are kept.
func GoFieldPath(t reflect.Type, path string) string {
	var out []string
	for _, elem := range strings.Split(path, ".") {
		name, index, _ := strings.Cut(elem, "[")
		if index != "" {
			index = "[" + index
		}
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice) {
			t = t.Elem()
		}
		f, ok := goField(t, name)
		if !ok {
			out = append(out, elem)
			t = nil
			continue
		}
		out = append(out, f.Name+index)
		t = f.Type
	}
	return strings.Join(out, ".")
}

func goField(t reflect.Type, jsonName string) (reflect.StructField, bool) {
	if t == nil || t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for _, f := range structFields(t) {
		if f.json == jsonName {
			return f.StructField, true
		}
	}
	return reflect.StructField{}, false
}

// JoinPath joins two field paths with ".", either of which may be empty.
func JoinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	case strings.HasPrefix(b, "["):
		return a + b
	}
	return a + "." + b
}
