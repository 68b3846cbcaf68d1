package fxopts

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
)

// A guard for fx upgrades: this package reads fx's unexported option fields
// (FxVersion). If fx changes them, this fails with the field that moved.
func TestReadsFxOptions(t *testing.T) {
	var out io.Writer
	type runner interface{ Run() }
	root, problems := Read([]fx.Option{
		fx.Options(fx.Supply(fx.Private, &strings.Builder{})),
		fx.Supply(fx.Annotate(&strings.Builder{}, fx.As(new(io.Writer)))),
		fx.Replace(fx.Annotate(&strings.Builder{}, fx.As(new(io.Writer)))),
		fx.Decorate(func(w io.Writer) io.Writer { return w }),
		fx.Module("m", fx.Provide(fx.Private, fx.Annotate(func() int { return 1 }, fx.ResultTags(`name:"one"`)))),
		fx.Provide(fx.Annotate(func(runner) string { return "" }, fx.From(new(*strings.Builder)), fx.OnStart(func() {}))),
		fx.Populate(&out),
		fx.StartTimeout(1), fx.StopTimeout(1), fx.RecoverFromPanics(), fx.ErrorHook(nil), fx.NopLogger,
	})
	require.Empty(t, problems)

	kinds := map[string]int{}
	var all []*Item
	var walk func(*Module)
	walk = func(m *Module) {
		for _, it := range m.Items {
			kinds[it.Kind]++
			all = append(all, it)
		}
		for _, c := range m.Children {
			walk(c)
		}
	}
	walk(root)
	assert.Equal(t, map[string]int{KindSupply: 2, KindReplace: 1, KindDecorate: 1, KindProvide: 2, KindInvoke: 1, KindLogger: 1}, kinds)

	require.Len(t, root.Children, 1)
	m := root.Children[0]
	assert.Equal(t, "m", m.ID)
	require.Len(t, m.Items, 1)
	it := m.Items[0]
	assert.True(t, it.Private)
	assert.Equal(t, []string{`name:"one"`}, it.Ann.ResultTags)
	assert.Contains(t, it.Location, "fxopts_test.go:")

	for _, it := range all {
		if it.Ann != nil && len(it.Ann.From) > 0 {
			assert.Equal(t, []reflect.Type{reflect.TypeFor[*strings.Builder]()}, it.Ann.From)
			assert.Equal(t, 1, it.Ann.Hooks)
		}
		if it.Kind == KindSupply && it.Ann == nil && it.ValType == reflect.TypeFor[*strings.Builder]() {
			assert.True(t, it.Private, "fx.Supply(fx.Private, ...)")
			assert.Equal(t, "stub(*strings.Builder)", it.EventKey)
		}
	}
}

// What the options carry as errors is reported, with the error itself.
func TestReadsCarriedErrors(t *testing.T) {
	boom := errors.New("boom")
	_, problems := Read([]fx.Option{
		fx.Error(boom),
		fx.Provide(fx.Annotate(func() int { return 0 }, fx.ResultTags(`a:"b"`), fx.ResultTags(`c:"d"`))),
	})
	require.Len(t, problems, 2)
	assert.Equal(t, ProblemError, problems[0].Kind)
	assert.ErrorIs(t, problems[0].Err, boom)
	assert.Equal(t, ProblemError, problems[1].Kind)
	assert.Contains(t, problems[1].Message, "tag key is invalid")
	assert.Contains(t, problems[1].Message, "fxopts_test.go:", "where it was registered")
}

// An option this package does not know is a problem, not silence.
func TestReportsUnknownOptions(t *testing.T) {
	r := &reader{}
	root := &Module{}
	r.read(root, reflect.ValueOf(struct{ X int }{1}), "someOption")
	require.Len(t, r.problems, 1)
	assert.Equal(t, ProblemUnknown, r.problems[0].Kind)
	assert.Contains(t, r.problems[0].Message, "does not understand someOption")

}

// The linked fx is the version this package was written for; an upgrade
// fails here until the reader is checked against the new layout.
func TestLinkedFxVersion(t *testing.T) {
	assert.Nil(t, checkVersion(), "fx was upgraded: check internal/fxopts against its options, then update FxVersion")
}
