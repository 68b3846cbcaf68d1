// Package fxopts reads what an fx composition registers from its option
// values, without running any of it. It is the only code of bootgraph that
// reads fx's internals: fx keeps what an option registers in unexported
// fields (provideOption.Targets, moduleOption.options, annotated.ParamTags,
// ...), read here by reflection.
//
// It was written for one fx version, FxVersion. Read reports an option it
// does not understand, a field that moved, or another linked fx version as
// a Problem instead of failing or dropping it silently; TestReadsFxOptions
// fails with the field that moved when fx is upgraded.
package fxopts

import (
	"fmt"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"unsafe"

	"go.uber.org/fx"
)

// FxVersion is the fx release whose option layout this package reads.
const FxVersion = "v1.24.0"

// Kinds of registrations.
const (
	KindProvide  = "provide"
	KindSupply   = "supply"
	KindDecorate = "decorate"
	KindReplace  = "replace"
	KindInvoke   = "invoke"
	KindLogger   = "logger" // fx.WithLogger: built before any invoke, outside fx's events
)

// Item is one registration: a function (or a supplied value's stub).
type Item struct {
	Kind    string
	Module  *Module
	Private bool
	// Target is the function (for supply and replace, fx's stub).
	Target reflect.Value
	// FnType is Target's function type.
	FnType reflect.Type
	// ValType is the value's type, for supply and replace.
	ValType reflect.Type
	// Ann is what fx.Annotate recorded, if anything.
	Ann *Annotation
	// EventKey is fx's name for the function in its events and logs.
	EventKey string
	// Label is a short name for people: "ca.provideCA", "Supply(ca.Options)".
	Label string
	// FullName is the function's full name.
	FullName string
	// Location is where it was registered, "file:line".
	Location string
}

// Annotation is what fx.Annotate recorded.
type Annotation struct {
	ParamTags  []string
	ResultTags []string
	// As lists, per fx.As annotation, a type per result position.
	As [][]AsType
	// From lists a type per parameter position (fx.From).
	From []reflect.Type
	// Hooks counts fx.OnStart and fx.OnStop annotations.
	Hooks int
}

// AsType is one type of an fx.As annotation: a type, or fx.Self().
type AsType struct {
	Self bool
	Type reflect.Type
}

// Module is an fx.Module; the root has ID and Name "".
type Module struct {
	ID       string // names from the root joined with "/"
	Name     string
	Parent   *Module
	Children []*Module
	Items    []*Item // in registration order
}

// Problem kinds.
const (
	// ProblemError: the composition carries an error (fx.Error, a failed
	// fx.Annotate); fx would fail before running anything.
	ProblemError = "error"
	// ProblemUnknown: an option this package cannot read; what it
	// registers is not in the result.
	ProblemUnknown = "unknown-option"
)

// Problem is something Read could not take in.
type Problem struct {
	Kind    string
	Message string
	// Err is the composition's own error, for ProblemError.
	Err error
	// Module is the ID of the module the option is in.
	Module string
}

// Read collects the registrations of opts.
func Read(opts []fx.Option) (*Module, []Problem) {
	r := &reader{}
	root := &Module{}
	if p := checkVersion(); p != nil {
		r.problems = append(r.problems, *p)
	}
	for _, o := range opts {
		if o != nil {
			r.option(root, o)
		}
	}
	return root, r.problems
}

// checkVersion reports a linked fx other than FxVersion.
func checkVersion() *Problem {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	for _, dep := range info.Deps {
		if dep.Path == "go.uber.org/fx" {
			if dep.Replace != nil {
				dep = dep.Replace
			}
			if dep.Version != FxVersion && dep.Version != "(devel)" {
				return &Problem{Kind: ProblemUnknown, Message: fmt.Sprintf(
					"the planner reads fx %s's options; this program links fx %s: the graph may be incomplete", FxVersion, dep.Version)}
			}
		}
	}
	return nil
}

type reader struct{ problems []Problem }

// option reads one option; a value it cannot read becomes a Problem.
func (r *reader) option(m *Module, o fx.Option) {
	r.read(m, reflect.ValueOf(o), describe(o))
}

// read reads the option value v, which desc describes.
func (r *reader) read(m *Module, v reflect.Value, desc string) {
	defer func() {
		if e := recover(); e != nil {
			r.problems = append(r.problems, Problem{Kind: ProblemUnknown, Module: m.ID,
				Message: fmt.Sprintf("cannot read %s in module %q: %v", desc, m.Name, e)})
		}
	}()
	v = clean(v)
	switch typeName := v.Type().String(); typeName {
	case "fx.optionGroup":
		for i := range v.Len() {
			r.option(m, v.Index(i).Interface().(fx.Option))
		}
	case "fx.moduleOption":
		name := field(v, "name").String()
		child := &Module{ID: joinID(m.ID, name), Name: name, Parent: m}
		m.Children = append(m.Children, child)
		opts := field(v, "options")
		for i := range opts.Len() {
			r.option(child, opts.Index(i).Interface().(fx.Option))
		}
	case "fx.provideOption":
		r.targets(m, v, KindProvide)
	case "fx.invokeOption":
		r.targets(m, v, KindInvoke)
	case "fx.decorateOption":
		r.targets(m, v, KindDecorate)
	case "fx.supplyOption":
		r.typed(m, v, KindSupply, field(v, "Private").Bool())
	case "fx.replaceOption":
		r.typed(m, v, KindReplace, false)
	case "fx.withLoggerOption":
		item, err := newItem(KindLogger, clean(field(v, "constructor").Elem()), nil)
		if err != nil {
			r.errorf(m, err, "fx.WithLogger in module %q: %w", m.Name, err)
			return
		}
		item.Module, item.Location = m, stackLocation(field(v, "Stack"))
		m.Items = append(m.Items, item)
	case "fx.errorOption":
		for i := range v.Len() {
			if err, ok := v.Index(i).Interface().(error); ok && err != nil {
				r.problems = append(r.problems, Problem{Kind: ProblemError, Message: err.Error(), Err: err, Module: m.ID})
			}
		}
	case "fx.startTimeoutOption", "fx.stopTimeoutOption", "fx.recoverFromPanicsOption",
		"fx.loggerOption", "fx.errorHookOption", "*fx.validateOption", "fx.validateOption":
		// Settings of the app: they register nothing.
	default:
		r.problems = append(r.problems, Problem{Kind: ProblemUnknown, Module: m.ID, Message: fmt.Sprintf(
			"the planner does not understand %s (%s) in module %q: what it registers is not drawn", desc, typeName, m.Name)})
	}
}

func (r *reader) errorf(m *Module, err error, format string, args ...any) {
	r.problems = append(r.problems, Problem{Kind: ProblemError, Message: fmt.Errorf(format, args...).Error(), Err: err, Module: m.ID})
}

func describe(o fx.Option) string {
	s := o.String()
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

func joinID(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "/" + name
}

// targets reads a Provide/Invoke/Decorate option's targets.
func (r *reader) targets(m *Module, v reflect.Value, kind string) {
	targets := field(v, "Targets")
	loc := stackLocation(field(v, "Stack"))
	private := false
	for i := range targets.Len() {
		if clean(targets.Index(i).Elem()).Type().String() == "fx.privateOption" {
			private = true
		}
	}
	for i := range targets.Len() {
		t := clean(targets.Index(i).Elem())
		if t.Type().String() == "fx.privateOption" {
			continue
		}
		item, err := newItem(kind, t, nil)
		if err != nil {
			r.errorf(m, err, "fx.%s in module %q at %s: %w", title(kind), m.Name, loc, err)
			continue
		}
		item.Module, item.Private, item.Location = m, private, loc
		m.Items = append(m.Items, item)
	}
}

// typed reads a Supply/Replace option: each target is a stub function fx
// made from a value, with the value's type alongside.
func (r *reader) typed(m *Module, v reflect.Value, kind string, private bool) {
	targets, types := field(v, "Targets"), field(v, "Types")
	loc := stackLocation(field(v, "Stack"))
	for i := range targets.Len() {
		typ := types.Index(i).Interface().(reflect.Type)
		item, err := newItem(kind, clean(targets.Index(i).Elem()), typ)
		if err != nil {
			r.errorf(m, err, "fx.%s in module %q at %s: %w", title(kind), m.Name, loc, err)
			continue
		}
		item.Module, item.Private, item.Location = m, private, loc
		item.EventKey = "stub(" + typ.String() + ")"
		item.Label = title(kind) + "(" + typ.String() + ")"
		item.FullName = item.Label
		m.Items = append(m.Items, item)
	}
}

func title(kind string) string { return strings.ToUpper(kind[:1]) + kind[1:] }

// newItem describes one target: a function, or fx.Annotate of one.
func newItem(kind string, t reflect.Value, valType reflect.Type) (*Item, error) {
	item := &Item{Kind: kind, ValType: valType}
	switch t.Type().String() {
	case "fx.annotated":
		item.Ann = readAnnotation(t)
		item.EventKey = fmt.Sprint(t.Interface())
		t = clean(field(t, "Target").Elem())
	case "fx.annotationError":
		return nil, t.Addr().Interface().(error) // Error is on the pointer
	}
	if t.Kind() != reflect.Func {
		return nil, fmt.Errorf("%s is not a function", t.Type())
	}
	item.Target, item.FnType = t, t.Type()
	item.FullName = runtime.FuncForPC(t.Pointer()).Name()
	item.Label = ShortFuncName(item.FullName)
	if item.EventKey == "" {
		item.EventKey = item.FullName + "()"
	}
	if strings.HasPrefix(item.FullName, "reflect.") && kind == KindInvoke {
		item.Label = "fx.Populate"
	}
	return item, nil
}

func readAnnotation(v reflect.Value) *Annotation {
	a := &Annotation{}
	for _, f := range []struct {
		name string
		dst  *[]string
	}{{"ParamTags", &a.ParamTags}, {"ResultTags", &a.ResultTags}} {
		tags := field(v, f.name)
		for i := range tags.Len() {
			*f.dst = append(*f.dst, tags.Index(i).String())
		}
	}
	as := field(v, "As")
	for i := range as.Len() {
		var list []AsType
		for j := range as.Index(i).Len() {
			e := as.Index(i).Index(j)
			at := AsType{Self: field(e, "self").Bool()}
			if typ := field(e, "typ"); !typ.IsNil() {
				at.Type = typ.Interface().(reflect.Type)
			}
			list = append(list, at)
		}
		a.As = append(a.As, list)
	}
	from := field(v, "From")
	for i := range from.Len() {
		a.From = append(a.From, from.Index(i).Interface().(reflect.Type))
	}
	a.Hooks = field(v, "Hooks").Len()
	return a
}

// stackLocation is "file:line" of the first frame of an fxreflect.Stack.
func stackLocation(stack reflect.Value) string {
	if stack.Len() == 0 {
		return ""
	}
	f := stack.Index(0)
	return fmt.Sprintf("%s:%d", field(f, "File").String(), field(f, "Line").Int())
}

// ShortFuncName turns a full function name into "pkg.Func", keeping
// receiver and closure suffixes.
func ShortFuncName(full string) string {
	full = strings.TrimSuffix(full, "()")
	if i := strings.LastIndex(full, "/"); i >= 0 {
		full = full[i+1:]
	}
	return full
}

// clean returns an addressable copy of v, so that its fields, exported or
// not, can be read through field.
func clean(v reflect.Value) reflect.Value {
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	return c
}

// field reads a struct field of an addressable value, exported or not. It
// panics if fx moved the field; Read turns that into a Problem.
func field(v reflect.Value, name string) reflect.Value {
	f := v.FieldByName(name)
	if !f.IsValid() {
		panic(fmt.Sprintf("%s has no field %s (fx changed; see internal/fxopts)", v.Type(), name))
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}
