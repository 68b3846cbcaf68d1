package component_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/bootgraph/bootgraph/component"
)

// partOptions are a test part's options.
type partOptions struct {
	Addr    string `json:"addr,omitempty" doc:"listen address"`
	Size    int    `json:"size,omitempty" doc:"how many"`
	Verbose *bool  `json:"verbose,omitempty" doc:"talk more (default: when it helps)"`
	Inner   struct {
		Level string `json:"level,omitempty" doc:"quiet or loud"`
	} `json:"inner,omitempty"`
}

func (o *partOptions) SetDefaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Inner.Level == "" {
		o.Inner.Level = "quiet"
	}
}

func (o *partOptions) Validate() error {
	var errs []error
	errs = append(errs, component.ValidateAddr("addr", o.Addr))
	if o.Size < 0 {
		errs = append(errs, component.FieldErrorf("size", "%d must not be negative", o.Size))
	}
	if o.Inner.Level != "quiet" && o.Inner.Level != "loud" {
		errs = append(errs, component.FieldErrorf("inner.level", "%q is not quiet or loud", o.Inner.Level))
	}
	return errors.Join(errs...)
}

// partThing is what the test part provides, from its options.
type partThing struct{ opts partOptions }

func testDefinition(name string) component.Definition[partOptions] {
	return component.Definition[partOptions]{
		Name:     name,
		Doc:      "a part for tests",
		Provides: []reflect.Type{reflect.TypeFor[*partThing]()},
		Flags: []component.Flag[partOptions]{
			{Name: "test-addr", Path: "addr", Usage: "where"},
			{Name: "test-verbose", Path: "verbose", Usage: "talk"},
			{Name: "loud", Path: "size", Usage: "implies loud", Then: func(o *partOptions) { o.Inner.Level = "loud" }},
		},
		Env: []component.EnvVar{{Name: "TEST_LEVEL", Path: "inner.level"}},
		Build: func(partOptions) []fx.Option {
			// The module's constructors take the options, defaults set.
			return []fx.Option{fx.Provide(func(o partOptions) *partThing { return &partThing{opts: o} })}
		},
	}
}

var testPart = component.Define[partOptions](testDefinition("testPart"))

// panicText runs f and returns what it panicked with, as text.
func panicText(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		require.NotNil(t, r, "no panic")
		msg = fmt.Sprint(r)
	}()
	f()
	return ""
}

func TestDefinePanics(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "Ca", "serving-cert", "serving_cert", "9lives", "with space"} {
		msg := panicText(t, func() { component.Define[partOptions](testDefinition(name)) })
		assert.Contains(t, msg, fmt.Sprintf("part name %q: want lower camel case", name))
	}

	d := testDefinition("noBuild")
	d.Build = nil
	assert.Contains(t, panicText(t, func() { component.Define[partOptions](d) }), `component.Define("noBuild"): no Build`)

	d = testDefinition("badFlag")
	d.Flags = append(d.Flags, component.Flag[partOptions]{Name: "nowhere", Path: "nope"})
	msg := panicText(t, func() { component.Define[partOptions](d) })
	assert.Contains(t, msg, `component.Define("badFlag"): flag --nowhere:`)
	assert.Contains(t, msg, `has no field "nope"`)

	d = testDefinition("badNestedFlag")
	d.Flags = []component.Flag[partOptions]{{Name: "deep", Path: "inner.nope"}}
	msg = panicText(t, func() { component.Define[partOptions](d) })
	assert.Contains(t, msg, "flag --deep:")
	assert.Contains(t, msg, `has no field "nope" (path "inner.nope")`)

	d = testDefinition("badEnv")
	d.Env = []component.EnvVar{{Name: "NOWHERE", Path: "Addr"}}
	msg = panicText(t, func() { component.Define[partOptions](d) })
	assert.Contains(t, msg, `component.Define("badEnv"): variable NOWHERE:`, "paths are config names, not Go names")
}

func TestPartDescription(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "testPart", testPart.Name())
	assert.Equal(t, "a part for tests", testPart.Doc())
	assert.Empty(t, testPart.DefaultOnDoc())
	assert.Equal(t, []reflect.Type{reflect.TypeFor[*partThing]()}, testPart.Provides())
	assert.Equal(t, []component.FlagInfo{
		{Name: "test-addr", Path: "addr", Usage: "where", Kind: reflect.String},
		{Name: "test-verbose", Path: "verbose", Usage: "talk", Kind: reflect.Bool},
		{Name: "loud", Path: "size", Usage: "implies loud", Kind: reflect.Int},
	}, testPart.Flags(), "a *bool flag is a bool flag")
	call, pkg := testPart.GoModule()
	assert.Equal(t, "component_test.Module", call)
	assert.Equal(t, "github.com/bootgraph/bootgraph/component_test", pkg)

	docs := map[string]component.OptionDoc{}
	for _, d := range testPart.Options() {
		docs[d.Path] = d
	}
	require.Len(t, docs, 4)
	assert.JSONEq(t, `"127.0.0.1:0"`, string(docs["addr"].Default), "documented with its default")
	assert.Equal(t, "listen address", docs["addr"].Doc)
	assert.Equal(t, "integer", docs["size"].Type)
	assert.Nil(t, docs["size"].Default, "no default")
	assert.True(t, docs["verbose"].Optional)
	assert.Equal(t, "bool", docs["verbose"].Type)
	assert.JSONEq(t, `"quiet"`, string(docs["inner.level"].Default), "nested options are flattened")
}

// Module with valid options provides what Build does, the options with
// their defaults set, privately to the module.
func TestDefModule(t *testing.T) {
	t.Parallel()
	var thing *partThing
	app := fx.New(fx.NopLogger, testPart.Module(partOptions{Size: 3}), fx.Populate(&thing))
	require.NoError(t, app.Err())
	assert.Equal(t, 3, thing.opts.Size)
	assert.Equal(t, "127.0.0.1:0", thing.opts.Addr, "defaults are set")
	assert.Equal(t, "quiet", thing.opts.Inner.Level)

	err := fx.ValidateApp(testPart.Module(partOptions{}), fx.Invoke(func(partOptions) {}))
	require.Error(t, err, "the options are the module's own")
	assert.Contains(t, err.Error(), "missing type: component_test.partOptions")
}

// Module with invalid options fails the composition before anything runs,
// naming the Go fields.
func TestDefModuleInvalidOptions(t *testing.T) {
	t.Parallel()
	opts := partOptions{Addr: "nowhere", Size: -1}
	opts.Inner.Level = "deafening"
	ran := false
	option := testPart.Module(opts)
	for _, err := range []error{
		fx.ValidateApp(option),
		fx.New(fx.NopLogger, option, fx.Invoke(func(*partThing) { ran = true })).Err(),
	} {
		require.Error(t, err)
		assert.Contains(t, err.Error(), `testPart part: component_test.partOptions.Addr: "nowhere" is not host:port`)
		assert.Contains(t, err.Error(), "; component_test.partOptions.Size: -1 must not be negative")
		assert.Contains(t, err.Error(), `; component_test.partOptions.Inner.Level: "deafening" is not quiet or loud`)
		var optsErr *component.OptionsError
		require.ErrorAs(t, err, &optsErr)
		assert.Equal(t, "testPart", optsErr.Part)
		var fe *component.FieldError
		require.ErrorAs(t, optsErr, &fe)
		assert.Equal(t, "component_test.partOptions.Addr", fe.Path)
	}
	assert.False(t, ran)
}

// A section is the part's options as the config layer puts them together.
func TestSection(t *testing.T) {
	t.Parallel()
	sec := testPart.NewSection()
	assert.Same(t, testPart, sec.Part())
	opts := sec.Options().(*partOptions)
	assert.Equal(t, partOptions{}, *opts, "nothing set")
	assert.True(t, sec.DefaultOn(func(string) (string, bool) { return "", false }), "no rule: always on")

	require.NoError(t, sec.Decode(map[string]any{"size": 2.0, "inner": map[string]any{"level": "loud"}}))
	assert.Equal(t, 2, opts.Size)
	errs := fieldErrors(t, sec.Decode(map[string]any{"sise": 2.0}))
	assert.Equal(t, "sise", errs[0].Path, "relative to the section")

	require.NoError(t, sec.SetFlag("test-addr", "127.0.0.1:9"))
	assert.Equal(t, "127.0.0.1:9", opts.Addr)
	require.NoError(t, sec.SetFlag("test-verbose", "true"))
	require.NotNil(t, opts.Verbose)
	assert.True(t, *opts.Verbose)
	opts.Inner.Level = ""
	require.NoError(t, sec.SetFlag("loud", "5"))
	assert.Equal(t, "loud", opts.Inner.Level, "Then runs")
	err := sec.SetFlag("loud", "many")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `size (--loud): want a whole number, got "many"`)
	assert.ErrorContains(t, sec.SetFlag("nope", "x"), "part testPart has no flag --nope")
	require.NoError(t, sec.Set("inner.level", "quiet"))
	assert.Equal(t, "quiet", opts.Inner.Level)

	opts.Size = -4
	err = sec.Validate()
	require.Error(t, err)
	assert.Equal(t, "size: -4 must not be negative", err.Error(), "relative to the section")
	opts.Size = 0
	opts.Addr = ""
	require.NoError(t, sec.Validate(), "defaults are set before checking")
	assert.Empty(t, opts.Addr, "on a copy")

	var thing *partThing
	require.NoError(t, fx.New(fx.NopLogger, sec.Module(), fx.Populate(&thing)).Err())
	assert.Equal(t, "127.0.0.1:0", thing.opts.Addr)
}

func TestDefaultOn(t *testing.T) {
	t.Parallel()
	d := testDefinition("sometimes")
	d.DefaultOn = func(o *partOptions, lookupEnv func(string) (string, bool)) bool {
		_, set := lookupEnv("WANT_IT")
		return set || o.Size > 0
	}
	d.DefaultOnDoc = "when $WANT_IT is set or size > 0"
	p := component.Define[partOptions](d)
	assert.Equal(t, "when $WANT_IT is set or size > 0", p.DefaultOnDoc())
	sec := p.NewSection()
	none := func(string) (string, bool) { return "", false }
	assert.False(t, sec.DefaultOn(none))
	assert.True(t, sec.DefaultOn(func(k string) (string, bool) { return "1", k == "WANT_IT" }))
	sec.Options().(*partOptions).Size = 1
	assert.True(t, sec.DefaultOn(none))
}

// registered is defined once, as a part is, so that -count=N registers
// the same part again.
var registered = component.Define[partOptions](testDefinition("registryTest"))

func TestRegistry(t *testing.T) {
	t.Parallel()
	p := registered
	component.Register(p)
	component.Register(p) // the same part again is fine
	assert.Same(t, p, component.Lookup("registryTest"))
	assert.Nil(t, component.Lookup("noSuchPart"))
	n := 0
	for _, r := range component.Registered() {
		if r.Name() == "registryTest" {
			n++
		}
	}
	assert.Equal(t, 1, n)
	assert.NotNil(t, component.ProviderOf(reflect.TypeFor[*partThing]()))
	assert.Nil(t, component.ProviderOf(reflect.TypeFor[chan int]()))

	other := component.Define[partOptions](testDefinition("registryTest"))
	assert.Contains(t, panicText(t, func() { component.Register(other) }), `two parts named "registryTest"`)
}
