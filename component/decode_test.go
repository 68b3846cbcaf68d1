package component_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/component"
)

// sample is an options struct with a field of every kind a part uses.
type sample struct {
	Name    string             `json:"name,omitempty"`
	On      bool               `json:"on,omitempty"`
	Maybe   *bool              `json:"maybe,omitempty"`
	Count   int                `json:"count,omitempty"`
	Small   uint8              `json:"small,omitempty"`
	Ratio   float64            `json:"ratio,omitempty"`
	Timeout component.Duration `json:"timeout,omitempty"`
	Names   []string           `json:"names,omitempty"`
	Labels  map[string]string  `json:"labels,omitempty"`
	Nested  nested             `json:"nested,omitempty"`
	Items   []item             `json:"items,omitempty"`
	Hidden  string             `json:"-"`
	NoTag   string
}

type nested struct {
	Inner string `json:"inner,omitempty"`
	Depth int    `json:"depth,omitempty"`
}

type item struct {
	ID string `json:"id"`
}

// doc decodes a JSON document as the config layer hands it to Decode.
func doc(t *testing.T, s string) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(s), &v))
	return v
}

// fieldErrors returns every *FieldError joined in err, failing on any
// other error.
func fieldErrors(t *testing.T, err error) []*component.FieldError {
	t.Helper()
	require.Error(t, err)
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []*component.FieldError
	for _, e := range errs {
		var fe *component.FieldError
		require.Truef(t, errors.As(e, &fe), "%v (%T) is not a *component.FieldError", e, e)
		out = append(out, fe)
	}
	return out
}

func TestDecodeValid(t *testing.T) {
	t.Parallel()
	var got sample
	require.NoError(t, component.Decode(doc(t, `{
		"name": "x", "on": true, "maybe": false, "count": 3, "small": 255, "ratio": 0.5,
		"timeout": "90s", "names": ["a", "b"], "labels": {"k": "v"},
		"nested": {"inner": "i", "depth": 2}, "items": [{"id": "one"}], "NoTag": "n"
	}`), &got))
	f := false
	assert.Equal(t, sample{
		Name: "x", On: true, Maybe: &f, Count: 3, Small: 255, Ratio: 0.5,
		Timeout: component.Duration(90 * time.Second), Names: []string{"a", "b"}, Labels: map[string]string{"k": "v"},
		Nested: nested{Inner: "i", Depth: 2}, Items: []item{{ID: "one"}}, NoTag: "n",
	}, got)

	// null is the zero value, i.e. the default.
	got = sample{}
	require.NoError(t, component.Decode(doc(t, `{"name": null, "maybe": null, "nested": null, "timeout": null}`), &got))
	assert.Equal(t, sample{}, got)
	require.NoError(t, component.Decode(nil, &got))
}

func TestDecodeUnknownField(t *testing.T) {
	t.Parallel()
	var got sample
	err := component.Decode(doc(t, `{"nom": "x"}`), &got)
	errs := fieldErrors(t, err)
	require.Len(t, errs, 1)
	assert.Equal(t, "nom", errs[0].Path)
	assert.Equal(t, []string{"NoTag", "count", "items", "labels", "maybe", "name", "names", "nested", "on", "ratio", "small", "timeout"},
		errs[0].Valid, "the fields valid at its level, sorted; json:\"-\" is not one")
	assert.EqualError(t, err, `unknown field "nom" (valid here: NoTag, count, items, labels, maybe, name, names, nested, on, ratio, small, timeout)`)

	// Deeper, the path is relative to the options and the valid list is
	// that level's.
	err = component.Decode(doc(t, `{"nested": {"inner": "i", "depht": 1}, "items": [{"id": "a"}, {"ID": "b"}]}`), &got)
	errs = fieldErrors(t, err)
	require.Len(t, errs, 2)
	// Fields are checked in name order, so errors read the same every run.
	assert.Equal(t, "items[1].ID", errs[0].Path)
	assert.Equal(t, []string{"id"}, errs[0].Valid)
	assert.Equal(t, "nested.depht", errs[1].Path)
	assert.Equal(t, []string{"depth", "inner"}, errs[1].Valid)

	// A field named "-" cannot be set from a document.
	errs = fieldErrors(t, component.Decode(doc(t, `{"Hidden": "x"}`), &got))
	require.Len(t, errs, 1)
	assert.Equal(t, "Hidden", errs[0].Path)
	assert.Empty(t, got.Hidden)
}

func TestDecodeWrongKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc, path, msg string
	}{
		{"string for bool", `{"on": "yes"}`, "on", `on: want true or false, got "yes"`},
		{"string for *bool", `{"maybe": "true"}`, "maybe", `maybe: want true or false, got "true"`},
		{"float for int", `{"count": 1.5}`, "count", "count: want a whole number that fits int, got 1.5"},
		{"string for int", `{"count": "3"}`, "count", `count: want a whole number that fits int, got "3"`},
		{"out of range", `{"small": 256}`, "small", "small: want a whole number that fits uint8, got 256"},
		{"negative unsigned", `{"small": -1}`, "small", "small: want a whole number that fits uint8, got -1"},
		{"list for string", `{"name": ["a"]}`, "name", "name: want a string, got a list"},
		{"mapping for string", `{"name": {"a": 1}}`, "name", "name: want a string, got a mapping"},
		{"number for string", `{"name": 3}`, "name", "name: want a string, got 3"},
		{"string for list", `{"names": "a,b"}`, "names", `names: want a list, got "a,b"`},
		{"element of a list", `{"names": ["a", 2]}`, "names[1]", "names[1]: want a string, got 2"},
		{"string for mapping", `{"labels": "k=v"}`, "labels", `labels: want a mapping, got "k=v"`},
		{"value of a mapping", `{"labels": {"k": true}}`, "labels.k", "labels.k: want a string, got true"},
		{"list for struct", `{"nested": []}`, "nested", "nested: want a mapping with fields depth, inner, got a list"},
		{"bad duration", `{"timeout": "5 parsecs"}`, "timeout", `timeout: invalid duration "5 parsecs"`},
		{"number for duration", `{"timeout": 5}`, "timeout", `timeout: duration must be a string such as "24h", got 5`},
		{"string for number", `{"ratio": "half"}`, "ratio", `ratio: want a number, got "half"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got sample
			err := component.Decode(doc(t, tt.doc), &got)
			errs := fieldErrors(t, err)
			require.Len(t, errs, 1)
			assert.Equal(t, tt.path, errs[0].Path)
			assert.Nil(t, errs[0].Valid)
			assert.Contains(t, err.Error(), tt.msg)
			assert.Equal(t, sample{}, got, "nothing is decoded from a document with errors")
		})
	}
}

// Every error of a document is reported at once, each a *FieldError.
func TestDecodeSeveralErrors(t *testing.T) {
	t.Parallel()
	var got sample
	err := component.Decode(doc(t, `{
		"on": "yes", "count": 1.5, "name": ["a"], "timeout": "soon", "bogus": 1,
		"nested": {"depth": "deep", "extra": true}
	}`), &got)
	errs := fieldErrors(t, err)
	var paths []string
	for _, fe := range errs {
		paths = append(paths, fe.Path)
	}
	assert.ElementsMatch(t, []string{"on", "count", "name", "timeout", "bogus", "nested.depth", "nested.extra"}, paths)
	assert.Nil(t, errors.Unwrap(err), "a join, not a chain")
}

func TestDecodeWantsPointer(t *testing.T) {
	t.Parallel()
	assert.ErrorContains(t, component.Decode(doc(t, `{}`), sample{}), "want a non-nil pointer")
	assert.ErrorContains(t, component.Decode(doc(t, `{}`), (*sample)(nil)), "want a non-nil pointer")
	var got sample
	errs := fieldErrors(t, component.Decode(doc(t, `["a"]`), &got))
	require.Len(t, errs, 1)
	assert.Empty(t, errs[0].Path)
	assert.Contains(t, errs[0].Error(), "want a mapping with fields NoTag, count")
}

func TestSetField(t *testing.T) {
	t.Parallel()
	var o sample
	require.NoError(t, component.SetField(&o, "name", "grpc"))
	assert.Equal(t, "grpc", o.Name)
	require.NoError(t, component.SetField(&o, "name", ""))
	assert.Empty(t, o.Name)

	require.NoError(t, component.SetField(&o, "on", "true"))
	assert.True(t, o.On)
	require.NoError(t, component.SetField(&o, "on", "0"))
	assert.False(t, o.On)

	require.NoError(t, component.SetField(&o, "timeout", "1m30s"))
	assert.Equal(t, component.Duration(90*time.Second), o.Timeout)

	require.NoError(t, component.SetField(&o, "names", "a, b,c"))
	assert.Equal(t, []string{"a", "b", "c"}, o.Names, "split at commas, spaces trimmed")
	require.NoError(t, component.SetField(&o, "names", ""))
	assert.Empty(t, o.Names)

	require.Nil(t, o.Maybe)
	require.NoError(t, component.SetField(&o, "maybe", "false"))
	require.NotNil(t, o.Maybe, "a *bool is set, not left nil")
	assert.False(t, *o.Maybe)
	require.NoError(t, component.SetField(&o, "maybe", "true"))
	assert.True(t, *o.Maybe)

	require.NoError(t, component.SetField(&o, "count", "-7"))
	assert.Equal(t, -7, o.Count)
	require.NoError(t, component.SetField(&o, "nested.inner", "deep"))
	assert.Equal(t, "deep", o.Nested.Inner)

	for _, tt := range []struct{ path, value, msg string }{
		{"on", "yes", `on: want true or false, got "yes"`},
		{"maybe", "maybe", `maybe: want true or false, got "maybe"`},
		{"timeout", "soon", `timeout: invalid duration "soon"`},
		{"count", "1.5", `count: want a whole number, got "1.5"`},
		{"small", "256", `small: want a whole number, got "256"`},
		{"nested.depth", "x", `nested.depth: want a whole number, got "x"`},
	} {
		err := component.SetField(&o, tt.path, tt.value)
		require.Error(t, err, tt.path)
		var fe *component.FieldError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, tt.path, fe.Path)
		assert.ErrorContains(t, err, tt.msg)
	}

	err := component.SetField(&o, "nested.nope", "x")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `has no field "nope"`)
}

func TestFieldValueAndNames(t *testing.T) {
	t.Parallel()
	o := sample{Nested: nested{Depth: 4}}
	v, err := component.FieldValue(&o, "nested.depth")
	require.NoError(t, err)
	assert.Equal(t, int64(4), v.Int())
	_, err = component.FieldValue(&o, "Hidden")
	assert.Error(t, err, "a field named \"-\" has no path")
	assert.Equal(t, []string{"depth", "inner"}, component.FieldNames(&nested{}))
}

func TestGoFieldPath(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[sample]()
	for path, want := range map[string]string{
		"name":           "Name",
		"nested.inner":   "Nested.Inner",
		"items[2].id":    "Items[2].ID",
		"names[0]":       "Names[0]",
		"NoTag":          "NoTag",
		"nested.nope.x":  "Nested.nope.x",
		"bogus":          "bogus",
		"labels.somekey": "Labels.somekey",
	} {
		assert.Equal(t, want, component.GoFieldPath(typ, path), path)
	}
	assert.Equal(t, "Inner", component.GoFieldPath(reflect.TypeFor[*nested](), "inner"), "through a pointer")
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		24 * time.Hour:   "24h",
		90 * time.Minute: "1h30m",
		90 * time.Second: "1m30s",
		time.Minute:      "1m",
		0:                "0s",
	} {
		assert.Equal(t, want, component.Duration(d).String())
		b, err := json.Marshal(component.Duration(d))
		require.NoError(t, err)
		var back component.Duration
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, component.Duration(d), back)
	}
	d := component.Duration(time.Hour)
	require.NoError(t, json.Unmarshal([]byte("null"), &d), "null (an empty YAML value) is the default")
	assert.Equal(t, component.Duration(time.Hour), d)
	assert.ErrorContains(t, json.Unmarshal([]byte(`"1 fortnight"`), &d), `invalid duration "1 fortnight"`)
	assert.ErrorContains(t, json.Unmarshal([]byte(`3600`), &d), `duration must be a string such as "24h", got 3600`)
}
